//! The tokenizer and parser of the `labelSelector` text syntax, a port of upstream's
//! `labels.Parser` so that syntax errors read the same as kube-apiserver's.

use super::SelectorError;
use super::label_selector::{LabelOperator, LabelRequirement};
use super::validation::label_key_problem;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Token {
    Identifier(String),
    In,
    NotIn,
    Equals,
    DoubleEquals,
    NotEquals,
    /// `!`, which negates a bare key.
    Bang,
    OpenParen,
    CloseParen,
    Comma,
    GreaterThan,
    LessThan,
    End,
}

impl Token {
    /// The text shown in "found '...'" errors; the end of input shows as empty.
    fn literal(&self) -> &str {
        match self {
            Token::Identifier(text) => text,
            Token::In => "in",
            Token::NotIn => "notin",
            Token::Equals => "=",
            Token::DoubleEquals => "==",
            Token::NotEquals => "!=",
            Token::Bang => "!",
            Token::OpenParen => "(",
            Token::CloseParen => ")",
            Token::Comma => ",",
            Token::GreaterThan => ">",
            Token::LessThan => "<",
            Token::End => "",
        }
    }
}

/// Where the parser is: `in` and `notin` are operators only after a key, so a label
/// may be named or valued `in`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParseContext {
    KeyAndOperator,
    Values,
}

fn is_label_whitespace(character: char) -> bool {
    matches!(character, ' ' | '\t' | '\r' | '\n')
}

fn is_special_symbol(character: char) -> bool {
    matches!(character, '=' | '!' | '(' | ')' | ',' | '>' | '<')
}

pub(super) fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut characters = text.char_indices().peekable();
    while let Some((start, character)) = characters.next() {
        if is_label_whitespace(character) {
            continue;
        }
        if is_special_symbol(character) {
            // `!=` and `==` are the only two-character symbols.
            let followed_by_equals = matches!(character, '!' | '=')
                && characters.next_if(|&(_, next)| next == '=').is_some();
            tokens.push(symbol_token(character, followed_by_equals));
            continue;
        }
        let mut end = text.len();
        while let Some(&(index, next)) = characters.peek() {
            if is_label_whitespace(next) || is_special_symbol(next) {
                end = index;
                break;
            }
            characters.next();
        }
        tokens.push(word_token(&text[start..end]));
    }
    tokens.push(Token::End);
    tokens
}

fn symbol_token(symbol: char, followed_by_equals: bool) -> Token {
    match (symbol, followed_by_equals) {
        ('!', true) => Token::NotEquals,
        ('=', true) => Token::DoubleEquals,
        ('!', false) => Token::Bang,
        ('=', false) => Token::Equals,
        ('(', _) => Token::OpenParen,
        (')', _) => Token::CloseParen,
        (',', _) => Token::Comma,
        ('>', _) => Token::GreaterThan,
        _ => Token::LessThan,
    }
}

fn word_token(word: &str) -> Token {
    match word {
        "in" => Token::In,
        "notin" => Token::NotIn,
        _ => Token::Identifier(word.to_owned()),
    }
}

pub(super) struct LabelParser {
    pub(super) tokens: Vec<Token>,
    pub(super) position: usize,
}

impl LabelParser {
    fn lookahead(&self, context: ParseContext) -> Token {
        let token = self
            .tokens
            .get(self.position)
            .cloned()
            .unwrap_or(Token::End);
        match (context, token) {
            (ParseContext::Values, Token::In) => Token::Identifier("in".to_owned()),
            (ParseContext::Values, Token::NotIn) => Token::Identifier("notin".to_owned()),
            (_, token) => token,
        }
    }

    fn consume(&mut self, context: ParseContext) -> Token {
        let token = self.lookahead(context);
        self.position += 1;
        token
    }

    pub(super) fn parse(mut self) -> Result<Vec<LabelRequirement>, SelectorError> {
        let mut requirements = Vec::new();
        loop {
            match self.lookahead(ParseContext::Values) {
                Token::Identifier(_) | Token::Bang => {}
                Token::End => return Ok(requirements),
                other => {
                    return Err(SelectorError::LabelSyntax(format!(
                        "found '{}', expected: !, identifier, or 'end of string'",
                        other.literal()
                    )));
                }
            }
            requirements.push(
                self.parse_requirement()
                    .map_err(SelectorError::InvalidRequirement)?,
            );
            match self.consume(ParseContext::Values) {
                Token::End => return Ok(requirements),
                Token::Comma => {
                    let next = self.lookahead(ParseContext::Values);
                    if !matches!(next, Token::Identifier(_) | Token::Bang) {
                        return Err(SelectorError::LabelSyntax(format!(
                            "found '{}', expected: identifier after ','",
                            next.literal()
                        )));
                    }
                }
                other => {
                    return Err(SelectorError::LabelSyntax(format!(
                        "found '{}', expected: ',' or 'end of string'",
                        other.literal()
                    )));
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<LabelRequirement, String> {
        let (key, unary_operator) = self.parse_key_and_unary_operator()?;
        if let Some(operator) = unary_operator {
            return LabelRequirement::new(key, operator, Vec::new());
        }
        let operator = self.parse_operator()?;
        let values = match operator {
            LabelOperator::In | LabelOperator::NotIn => self.parse_value_set()?,
            _ => self.parse_exact_value()?,
        };
        LabelRequirement::new(key, operator, values)
    }

    /// Reads `key` or `!key`. A key followed by `,` or the end is an existence test.
    fn parse_key_and_unary_operator(&mut self) -> Result<(String, Option<LabelOperator>), String> {
        let mut operator = None;
        let mut token = self.consume(ParseContext::Values);
        if token == Token::Bang {
            operator = Some(LabelOperator::DoesNotExist);
            token = self.consume(ParseContext::Values);
        }
        let Token::Identifier(key) = token else {
            return Err(format!("found '{}', expected: identifier", token.literal()));
        };
        if let Some(problem) = label_key_problem(&key, "key") {
            return Err(problem);
        }
        let at_requirement_end = matches!(
            self.lookahead(ParseContext::Values),
            Token::End | Token::Comma
        );
        if operator.is_none() && at_requirement_end {
            operator = Some(LabelOperator::Exists);
        }
        Ok((key, operator))
    }

    fn parse_operator(&mut self) -> Result<LabelOperator, String> {
        match self.consume(ParseContext::KeyAndOperator) {
            Token::In => Ok(LabelOperator::In),
            Token::NotIn => Ok(LabelOperator::NotIn),
            Token::Equals | Token::DoubleEquals => Ok(LabelOperator::Equals),
            Token::NotEquals => Ok(LabelOperator::NotEquals),
            Token::GreaterThan => Ok(LabelOperator::GreaterThan),
            Token::LessThan => Ok(LabelOperator::LessThan),
            other => Err(format!(
                "found '{}', expected: in, notin, =, ==, !=, gt, lt",
                other.literal()
            )),
        }
    }

    /// Reads `(a,b,...)`. As upstream, empty members such as `()` or `(a,)` stand for
    /// the empty value.
    fn parse_value_set(&mut self) -> Result<Vec<String>, String> {
        let token = self.consume(ParseContext::Values);
        if token != Token::OpenParen {
            return Err(format!("found '{}', expected: '('", token.literal()));
        }
        match self.lookahead(ParseContext::Values) {
            Token::Identifier(_) | Token::Comma => {
                let values = self.parse_value_list()?;
                let token = self.consume(ParseContext::Values);
                if token != Token::CloseParen {
                    return Err(format!("found '{}', expected: ')'", token.literal()));
                }
                Ok(values)
            }
            Token::CloseParen => {
                self.consume(ParseContext::Values);
                Ok(vec![String::new()])
            }
            other => Err(format!(
                "found '{}', expected: ',', ')' or identifier",
                other.literal()
            )),
        }
    }

    fn parse_value_list(&mut self) -> Result<Vec<String>, String> {
        let mut values = Vec::new();
        loop {
            match self.consume(ParseContext::Values) {
                Token::Identifier(value) => {
                    insert_unique(&mut values, value);
                    match self.lookahead(ParseContext::Values) {
                        Token::Comma => {}
                        Token::CloseParen => return Ok(values),
                        other => {
                            return Err(format!(
                                "found '{}', expected: ',' or ')'",
                                other.literal()
                            ));
                        }
                    }
                }
                Token::Comma => {
                    if values.is_empty() {
                        insert_unique(&mut values, String::new());
                    }
                    match self.lookahead(ParseContext::Values) {
                        Token::CloseParen => {
                            insert_unique(&mut values, String::new());
                            return Ok(values);
                        }
                        Token::Comma => {
                            self.consume(ParseContext::Values);
                            insert_unique(&mut values, String::new());
                        }
                        _ => {}
                    }
                }
                other => {
                    return Err(format!(
                        "found '{}', expected: ',', or identifier",
                        other.literal()
                    ));
                }
            }
        }
    }

    /// Reads the value after `=`, `!=`, `>` or `<`; nothing at all means the empty value.
    fn parse_exact_value(&mut self) -> Result<Vec<String>, String> {
        if matches!(
            self.lookahead(ParseContext::Values),
            Token::End | Token::Comma
        ) {
            return Ok(vec![String::new()]);
        }
        match self.consume(ParseContext::Values) {
            Token::Identifier(value) => Ok(vec![value]),
            other => Err(format!("found '{}', expected: identifier", other.literal())),
        }
    }
}

fn insert_unique(values: &mut Vec<String>, value: String) {
    if !values.contains(&value) {
        values.push(value);
    }
}
