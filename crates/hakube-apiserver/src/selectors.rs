//! Kubernetes label selectors and field selectors, as used by the `labelSelector` and
//! `fieldSelector` list/watch query parameters and by `metav1.LabelSelector` objects.
//!
//! This module owns parsing, validation and matching. The grammar, the validation rules
//! and the error wording follow k8s.io/apimachinery (`pkg/labels`, `pkg/fields`,
//! `pkg/util/validation`) so clients see familiar messages. Which fields a resource
//! supports in a field selector is the caller's decision: [`FieldSelector::fields`]
//! lists the ones a selector uses.

use std::borrow::Cow;

use serde_json::{Map, Value};

/// Why a selector could not be parsed. Messages are worded like upstream's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// A label selector requirement is malformed or has an invalid key or value.
    #[error("unable to parse requirement: {0}")]
    InvalidRequirement(String),
    /// The label selector text breaks the grammar between requirements.
    #[error("{0}")]
    LabelSyntax(String),
    /// A `metav1.LabelSelector` object is malformed or has invalid keys or values.
    #[error("{0}")]
    InvalidLabelSelector(String),
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    InvalidFieldTerm { selector: String, term: String },
    #[error("invalid field selector: invalid escape sequence: {sequence}")]
    InvalidEscapeSequence { sequence: String },
    #[error("invalid field selector: unescaped character in value: {character:?}")]
    UnescapedCharacter { character: char },
}

// ---------------------------------------------------------------------------------
// Label selectors
// ---------------------------------------------------------------------------------

/// A parsed label selector: every requirement must hold (comma means AND). The empty
/// selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<LabelRequirement>,
}

impl LabelSelector {
    /// Parses the text form, e.g. `app=web,tier in (front,back),!canary`.
    ///
    /// # Errors
    ///
    /// When the text breaks the grammar or a key or value is not a valid label key or
    /// value.
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let parser = LabelParser {
            tokens: tokenize(text),
            position: 0,
        };
        Ok(Self {
            requirements: parser.parse()?,
        })
    }

    /// Converts a `metav1.LabelSelector` (`matchLabels` and `matchExpressions`). An
    /// absent (`null`) or empty selector matches everything.
    ///
    /// # Errors
    ///
    /// When the object is malformed, an operator is unknown, or a key or value is
    /// invalid.
    pub fn from_label_selector_object(selector: &Value) -> Result<Self, SelectorError> {
        let fields = match selector {
            Value::Null => return Ok(Self::default()),
            Value::Object(fields) => fields,
            _ => {
                return Err(invalid_selector_object(
                    "a label selector must be a JSON object",
                ));
            }
        };
        let mut requirements = requirements_from_match_labels(fields.get("matchLabels"))?;
        requirements.extend(requirements_from_match_expressions(
            fields.get("matchExpressions"),
        )?);
        Ok(Self { requirements })
    }

    /// Whether an object with these labels is selected. Pass an empty map for an object
    /// without labels.
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        self.requirements
            .iter()
            .all(|requirement| requirement.matches(labels))
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Strings every selected object has among its labels (keys that must exist, values that
    /// must be equal): lets a server skip stored objects that lack one without decoding them.
    pub fn required_strings(&self) -> Vec<&str> {
        let mut strings = Vec::new();
        for requirement in &self.requirements {
            match (requirement.operator, requirement.values.as_slice()) {
                (LabelOperator::Equals | LabelOperator::In, [value]) => {
                    strings.push(requirement.key.as_str());
                    strings.push(value.as_str());
                }
                (
                    LabelOperator::Exists
                    | LabelOperator::In
                    | LabelOperator::GreaterThan
                    | LabelOperator::LessThan,
                    _,
                ) => strings.push(requirement.key.as_str()),
                _ => {}
            }
        }
        strings.retain(|s| !s.is_empty());
        strings
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LabelOperator {
    Equals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct LabelRequirement {
    key: String,
    operator: LabelOperator,
    values: Vec<String>,
}

impl LabelRequirement {
    /// Validates like upstream `labels.NewRequirement`; the error is its message.
    fn new(key: String, operator: LabelOperator, values: Vec<String>) -> Result<Self, String> {
        let mut problems: Vec<String> = label_key_problem(&key, "key").into_iter().collect();
        problems.extend(value_count_problem(operator, &values));
        if matches!(
            operator,
            LabelOperator::GreaterThan | LabelOperator::LessThan
        ) {
            problems.extend(
                values
                    .iter()
                    .enumerate()
                    .filter(|(_, value)| value.parse::<i64>().is_err())
                    .map(|(index, value)| {
                        invalid_value(
                            &format!("values[{index}]"),
                            &format!("{value:?}"),
                            "for 'Gt', 'Lt' operators, the value must be an integer",
                        )
                    }),
            );
        }
        for (index, value) in values.iter().enumerate() {
            let value_problems = label_value_problems(value);
            if !value_problems.is_empty() {
                problems.push(invalid_value(
                    &format!("values[{index}][{key}]"),
                    &format!("{value:?}"),
                    &value_problems.join("; "),
                ));
            }
        }
        if problems.is_empty() {
            Ok(Self {
                key,
                operator,
                values,
            })
        } else {
            Err(aggregate(&problems))
        }
    }

    /// Upstream `Requirement.Matches`: `!=` and `notin` also match a missing label.
    fn matches(&self, labels: &Map<String, Value>) -> bool {
        let label = labels.get(&self.key).map(json_text);
        let has_listed_value =
            |label: &Cow<'_, str>| self.values.iter().any(|value| value == label);
        match self.operator {
            LabelOperator::Equals | LabelOperator::In => {
                label.is_some_and(|label| has_listed_value(&label))
            }
            LabelOperator::NotEquals | LabelOperator::NotIn => {
                label.is_none_or(|label| !has_listed_value(&label))
            }
            LabelOperator::Exists => label.is_some(),
            LabelOperator::DoesNotExist => label.is_none(),
            LabelOperator::GreaterThan | LabelOperator::LessThan => {
                label.is_some_and(|label| self.compares(&label))
            }
        }
    }

    /// `gt`/`lt` compare integers; a label that is not an integer never matches.
    fn compares(&self, label: &str) -> bool {
        let (Ok(label), [bound]) = (label.parse::<i64>(), self.values.as_slice()) else {
            return false;
        };
        match (self.operator, bound.parse::<i64>()) {
            (LabelOperator::GreaterThan, Ok(bound)) => label > bound,
            (LabelOperator::LessThan, Ok(bound)) => label < bound,
            _ => false,
        }
    }
}

fn value_count_problem(operator: LabelOperator, values: &[String]) -> Option<String> {
    let detail = match operator {
        LabelOperator::In | LabelOperator::NotIn if values.is_empty() => {
            "for 'in', 'notin' operators, values set can't be empty"
        }
        LabelOperator::Equals | LabelOperator::NotEquals if values.len() != 1 => {
            "exact-match compatibility requires one single value"
        }
        LabelOperator::Exists | LabelOperator::DoesNotExist if !values.is_empty() => {
            "values set must be empty for exists and does not exist"
        }
        LabelOperator::GreaterThan | LabelOperator::LessThan if values.len() != 1 => {
            "for 'Gt', 'Lt' operators, exactly one value is required"
        }
        _ => return None,
    };
    Some(invalid_value("values", &go_string_list(values), detail))
}

fn requirements_from_match_labels(
    match_labels: Option<&Value>,
) -> Result<Vec<LabelRequirement>, SelectorError> {
    let labels = match match_labels {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(labels)) => labels,
        Some(_) => return Err(invalid_selector_object("matchLabels must be an object")),
    };
    labels
        .iter()
        .map(|(key, value)| {
            let value = value.as_str().ok_or_else(|| {
                invalid_selector_object(&format!("matchLabels value for {key:?} must be a string"))
            })?;
            LabelRequirement::new(key.clone(), LabelOperator::Equals, vec![value.to_owned()])
                .map_err(SelectorError::InvalidLabelSelector)
        })
        .collect()
}

fn requirements_from_match_expressions(
    match_expressions: Option<&Value>,
) -> Result<Vec<LabelRequirement>, SelectorError> {
    match match_expressions {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(expressions)) => expressions
            .iter()
            .map(requirement_from_expression)
            .collect(),
        Some(_) => Err(invalid_selector_object("matchExpressions must be a list")),
    }
}

/// One `{key, operator, values}` entry of `matchExpressions`.
fn requirement_from_expression(expression: &Value) -> Result<LabelRequirement, SelectorError> {
    let Value::Object(fields) = expression else {
        return Err(invalid_selector_object(
            "each matchExpressions entry must be an object",
        ));
    };
    let key = fields
        .get("key")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let operator_name = fields
        .get("operator")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let operator = match operator_name {
        "In" => LabelOperator::In,
        "NotIn" => LabelOperator::NotIn,
        "Exists" => LabelOperator::Exists,
        "DoesNotExist" => LabelOperator::DoesNotExist,
        other => {
            return Err(invalid_selector_object(&format!(
                "{other:?} is not a valid label selector operator"
            )));
        }
    };
    let values = match fields.get("values") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(values)) => values
            .iter()
            .map(|value| value.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| invalid_selector_object("matchExpressions values must be strings"))?,
        Some(_) => {
            return Err(invalid_selector_object(
                "matchExpressions values must be a list",
            ));
        }
    };
    LabelRequirement::new(key.to_owned(), operator, values)
        .map_err(SelectorError::InvalidLabelSelector)
}

fn invalid_selector_object(message: &str) -> SelectorError {
    SelectorError::InvalidLabelSelector(message.to_owned())
}

// ----- Label selector lexer and parser (a port of upstream's `labels.Parser`) -----

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
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

fn tokenize(text: &str) -> Vec<Token> {
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

struct LabelParser {
    tokens: Vec<Token>,
    position: usize,
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

    fn parse(mut self) -> Result<Vec<LabelRequirement>, SelectorError> {
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

// ----- Validation (upstream `pkg/util/validation`) -----

const QUALIFIED_NAME_MAX_LENGTH: usize = 63;
const LABEL_VALUE_MAX_LENGTH: usize = 63;
const DNS_SUBDOMAIN_MAX_LENGTH: usize = 253;
const QUALIFIED_NAME_MESSAGE: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const QUALIFIED_NAME_REGEX: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_EXAMPLES: &[&str] = &["MyName", "my.name", "123-abc"];
const LABEL_VALUE_MESSAGE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_REGEX: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_EXAMPLES: &[&str] = &["MyValue", "my_value", "12345"];
const DNS_SUBDOMAIN_MESSAGE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS_SUBDOMAIN_REGEX: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";

/// An upstream `field.Invalid` message for a bad label key, if the key is bad.
fn label_key_problem(key: &str, field_path: &str) -> Option<String> {
    let problems = qualified_name_problems(key);
    (!problems.is_empty())
        .then(|| invalid_value(field_path, &format!("{key:?}"), &problems.join("; ")))
}

/// Upstream `IsQualifiedName`: an optional DNS subdomain prefix and `/`, then a name
/// of at most 63 characters.
fn qualified_name_problems(key: &str) -> Vec<String> {
    let parts: Vec<&str> = key.split('/').collect();
    let mut problems = Vec::new();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                problems.push("prefix part must be non-empty".to_owned());
            } else {
                problems.extend(
                    dns_subdomain_problems(prefix)
                        .into_iter()
                        .map(|problem| format!("prefix part {problem}")),
                );
            }
            *name
        }
        _ => {
            return vec![format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(
                    QUALIFIED_NAME_MESSAGE,
                    QUALIFIED_NAME_REGEX,
                    QUALIFIED_NAME_EXAMPLES
                )
            )];
        }
    };
    if name.is_empty() {
        problems.push("name part must be non-empty".to_owned());
    } else if name.len() > QUALIFIED_NAME_MAX_LENGTH {
        problems.push(format!(
            "name part {}",
            max_length_error(QUALIFIED_NAME_MAX_LENGTH)
        ));
    }
    if !is_qualified_name_part(name) {
        problems.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_NAME_MESSAGE,
                QUALIFIED_NAME_REGEX,
                QUALIFIED_NAME_EXAMPLES
            )
        ));
    }
    problems
}

/// Upstream `IsValidLabelValue`: empty, or at most 63 characters shaped like a name.
fn label_value_problems(value: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if value.len() > LABEL_VALUE_MAX_LENGTH {
        problems.push(max_length_error(LABEL_VALUE_MAX_LENGTH));
    }
    if !value.is_empty() && !is_qualified_name_part(value) {
        problems.push(regex_error(
            LABEL_VALUE_MESSAGE,
            LABEL_VALUE_REGEX,
            LABEL_VALUE_EXAMPLES,
        ));
    }
    problems
}

fn dns_subdomain_problems(value: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if value.len() > DNS_SUBDOMAIN_MAX_LENGTH {
        problems.push(max_length_error(DNS_SUBDOMAIN_MAX_LENGTH));
    }
    if !value.split('.').all(is_dns_label) {
        problems.push(regex_error(
            DNS_SUBDOMAIN_MESSAGE,
            DNS_SUBDOMAIN_REGEX,
            &["example.com"],
        ));
    }
    problems
}

/// Matches `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`.
fn is_qualified_name_part(text: &str) -> bool {
    let bytes = text.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// Matches one label of a DNS subdomain: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
fn is_dns_label(label: &str) -> bool {
    let is_lower_alphanumeric = |byte: &u8| byte.is_ascii_lowercase() || byte.is_ascii_digit();
    let bytes = label.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            is_lower_alphanumeric(first)
                && is_lower_alphanumeric(last)
                && bytes
                    .iter()
                    .all(|byte| is_lower_alphanumeric(byte) || *byte == b'-')
        }
        _ => false,
    }
}

/// Upstream `RegexError`, including its double space after each example's comma.
fn regex_error(message: &str, regex: &str, examples: &[&str]) -> String {
    let examples: Vec<String> = examples
        .iter()
        .map(|example| format!("'{example}', "))
        .collect();
    format!(
        "{message} (e.g. {}regex used for validation is '{regex}')",
        examples.join(" or ")
    )
}

fn max_length_error(length: usize) -> String {
    format!("must be no more than {length} characters")
}

/// Upstream `field.Invalid(...).Error()`.
fn invalid_value(field_path: &str, shown_value: &str, detail: &str) -> String {
    format!("{field_path}: Invalid value: {shown_value}: {detail}")
}

/// How Go's `%#v` shows a `[]string`, which upstream messages embed.
fn go_string_list(values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().map(|value| format!("{value:?}")).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}

/// Upstream `ErrorList.ToAggregate().Error()`: one message alone, several bracketed.
fn aggregate(problems: &[String]) -> String {
    match problems {
        [only] => only.clone(),
        _ => format!("[{}]", problems.join(", ")),
    }
}

/// The text a label or field value compares as: strings as themselves, other JSON
/// values (booleans, numbers) as their JSON text, `null` as empty.
fn json_text(value: &Value) -> Cow<'_, str> {
    match value {
        Value::String(text) => Cow::Borrowed(text),
        Value::Null => Cow::Borrowed(""),
        other => Cow::Owned(other.to_string()),
    }
}

// ---------------------------------------------------------------------------------
// Field selectors
// ---------------------------------------------------------------------------------

/// A parsed field selector: comma-separated `field=value`, `field==value` and
/// `field!=value` terms, all of which must hold. The empty selector matches everything.
///
/// As upstream, whitespace is not trimmed, and values escape `\,`, `\=` and `\\`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldOperator {
    Equals,
    NotEquals,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldRequirement {
    field: String,
    operator: FieldOperator,
    value: String,
}

impl FieldSelector {
    /// Parses the text form, e.g. `status.phase!=Running,spec.nodeName=n1`.
    ///
    /// # Errors
    ///
    /// When a term has no operator or no field name, or a value has a bad escape.
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for term in split_unescaped_commas(text) {
            if term.is_empty() {
                continue;
            }
            let not_understood = || SelectorError::InvalidFieldTerm {
                selector: text.to_owned(),
                term: term.to_owned(),
            };
            let (field, operator, escaped_value) =
                split_field_term(term).ok_or_else(not_understood)?;
            if field.is_empty() {
                return Err(not_understood());
            }
            requirements.push(FieldRequirement {
                field: field.to_owned(),
                operator,
                value: unescape_field_value(escaped_value)?,
            });
        }
        Ok(Self { requirements })
    }

    /// Whether the object is selected. A dotted field path is looked up in the object;
    /// a missing field reads as the empty string, so `spec.nodeName=` selects objects
    /// without a node and `spec.unschedulable=false` does not select a Node that lacks
    /// the field. Booleans and numbers compare by their JSON text (`true`, `3`).
    pub fn matches(&self, object: &Value) -> bool {
        self.requirements.iter().all(|requirement| {
            let actual = field_value(object, &requirement.field);
            match requirement.operator {
                FieldOperator::Equals => actual == requirement.value,
                FieldOperator::NotEquals => actual != requirement.value,
            }
        })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The value required for `field` by an `=`/`==` requirement, if any (lets a server
    /// narrow a scan, e.g. metadata.name or metadata.namespace).
    pub fn required_value(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|requirement| {
                requirement.operator == FieldOperator::Equals && requirement.field == field
            })
            .map(|requirement| requirement.value.as_str())
    }

    /// The fields the selector tests, so a server can reject ones a resource does not
    /// support (upstream answers `field label not supported: <field>`).
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.requirements
            .iter()
            .map(|requirement| requirement.field.as_str())
    }
}

/// Splits on commas not preceded by a backslash escape (upstream `splitTerms`).
fn split_unescaped_commas(text: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let mut term_start = 0;
    let mut escaped = false;
    for (index, character) in text.char_indices() {
        match character {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' => {
                terms.push(&text[term_start..index]);
                term_start = index + 1;
            }
            _ => {}
        }
    }
    terms.push(&text[term_start..]);
    terms
}

/// Splits a term at its first operator (upstream `splitTerm`).
fn split_field_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    const OPERATORS: [(&str, FieldOperator); 3] = [
        ("!=", FieldOperator::NotEquals),
        ("==", FieldOperator::Equals),
        ("=", FieldOperator::Equals),
    ];
    term.char_indices().find_map(|(index, _)| {
        OPERATORS.iter().find_map(|(symbol, operator)| {
            term[index..]
                .strip_prefix(symbol)
                .map(|value| (&term[..index], *operator, value))
        })
    })
}

/// Upstream `UnescapeValue`: `\\`, `\,` and `\=` are the only escapes, and `,` or `=`
/// must be escaped.
fn unescape_field_value(escaped: &str) -> Result<String, SelectorError> {
    let mut value = String::with_capacity(escaped.len());
    let mut characters = escaped.chars();
    while let Some(character) = characters.next() {
        match character {
            '\\' => match characters.next() {
                Some(next @ ('\\' | ',' | '=')) => value.push(next),
                Some(next) => {
                    return Err(SelectorError::InvalidEscapeSequence {
                        sequence: format!("\\{next}"),
                    });
                }
                None => {
                    return Err(SelectorError::InvalidEscapeSequence {
                        sequence: "\\".to_owned(),
                    });
                }
            },
            ',' | '=' => return Err(SelectorError::UnescapedCharacter { character }),
            other => value.push(other),
        }
    }
    Ok(value)
}

/// Resolves a dotted path such as `status.phase`; missing fields read as empty.
fn field_value<'v>(object: &'v Value, field: &str) -> Cow<'v, str> {
    field
        .split('.')
        .try_fold(object, |current, segment| current.get(segment))
        .map_or(Cow::Borrowed(""), json_text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    fn label_selector(text: &str) -> LabelSelector {
        match LabelSelector::parse(text) {
            Ok(selector) => selector,
            Err(error) => panic!("{text:?} did not parse: {error}"),
        }
    }

    fn label_error(text: &str) -> String {
        match LabelSelector::parse(text) {
            Ok(selector) => panic!("{text:?} unexpectedly parsed: {selector:?}"),
            Err(error) => error.to_string(),
        }
    }

    fn field_selector(text: &str) -> FieldSelector {
        match FieldSelector::parse(text) {
            Ok(selector) => selector,
            Err(error) => panic!("{text:?} did not parse: {error}"),
        }
    }

    fn field_error(text: &str) -> String {
        match FieldSelector::parse(text) {
            Ok(selector) => panic!("{text:?} unexpectedly parsed: {selector:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn empty_label_selector_matches_everything() {
        for text in ["", "   "] {
            let selector = label_selector(text);
            assert!(selector.is_empty());
            assert!(selector.matches(&Map::new()));
        }
        assert!(!label_selector("a").is_empty());
    }

    #[test]
    fn equality_operators() {
        let web = labels(json!({"app": "web", "tier": "front"}));
        let none = Map::new();
        for text in ["app=web", "app==web", " app = web "] {
            assert!(label_selector(text).matches(&web), "{text}");
            assert!(!label_selector(text).matches(&none), "{text}");
        }
        assert!(!label_selector("app=db").matches(&web));
        assert!(label_selector("app!=db").matches(&web));
        assert!(!label_selector("app!=web").matches(&web));
        assert!(
            label_selector("app!=web").matches(&none),
            "!= matches a missing label"
        );
    }

    #[test]
    fn empty_value_requirement() {
        let selector = label_selector("app=");
        assert!(selector.matches(&labels(json!({"app": ""}))));
        assert!(!selector.matches(&labels(json!({"app": "x"}))));
        assert!(!selector.matches(&Map::new()));
    }

    #[test]
    fn set_operators() {
        let selector = label_selector("tier in (front, back)");
        assert!(selector.matches(&labels(json!({"tier": "back"}))));
        assert!(!selector.matches(&labels(json!({"tier": "db"}))));
        assert!(!selector.matches(&Map::new()));

        let selector = label_selector("tier notin (front,back)");
        assert!(!selector.matches(&labels(json!({"tier": "front"}))));
        assert!(selector.matches(&labels(json!({"tier": "db"}))));
        assert!(
            selector.matches(&Map::new()),
            "notin matches a missing label"
        );
    }

    #[test]
    fn set_with_empty_members() {
        let selector = label_selector("a in (,x)");
        assert!(selector.matches(&labels(json!({"a": ""}))));
        assert!(selector.matches(&labels(json!({"a": "x"}))));
        assert!(label_selector("a in ()").matches(&labels(json!({"a": ""}))));
    }

    #[test]
    fn existence_operators() {
        let with = labels(json!({"canary": "true"}));
        let without = labels(json!({"app": "web"}));
        assert!(label_selector("canary").matches(&with));
        assert!(!label_selector("canary").matches(&without));
        assert!(label_selector("!canary").matches(&without));
        assert!(label_selector(" ! canary ").matches(&without));
        assert!(!label_selector("!canary").matches(&with));
    }

    #[test]
    fn numeric_comparison_operators() {
        let five = labels(json!({"n": "5"}));
        assert!(label_selector("n>3").matches(&five));
        assert!(!label_selector("n>5").matches(&five));
        assert!(label_selector("n<6").matches(&five));
        assert!(!label_selector("n<3").matches(&labels(json!({"n": "x"}))));
        assert!(
            label_error("n>x").contains("for 'Gt', 'Lt' operators, the value must be an integer")
        );
    }

    #[test]
    fn requirements_are_anded() {
        let selector = label_selector("app=web,tier in (front),!canary,env");
        assert!(selector.matches(&labels(
            json!({"app": "web", "tier": "front", "env": "prod"})
        )));
        assert!(!selector.matches(&labels(json!({"app": "web", "tier": "front"}))));
        assert!(!selector.matches(&labels(
            json!({"app": "web", "tier": "front", "env": "p", "canary": "1"})
        )));
    }

    #[test]
    fn prefixed_keys() {
        let selector = label_selector("app.kubernetes.io/name=web,example.com/x notin (y)");
        assert!(selector.matches(&labels(json!({"app.kubernetes.io/name": "web"}))));
        assert!(!selector.matches(&labels(json!({"app.kubernetes.io/name": "db"}))));
    }

    #[test]
    fn keywords_are_ordinary_words_outside_operator_position() {
        let selector = label_selector("in in (in, notin)");
        assert!(selector.matches(&labels(json!({"in": "notin"}))));
        assert!(label_selector("notin").matches(&labels(json!({"notin": "x"}))));
    }

    #[test]
    fn label_syntax_errors() {
        assert_eq!(
            label_error("a,"),
            "found '', expected: identifier after ','"
        );
        assert_eq!(
            label_error(",a"),
            "found ',', expected: !, identifier, or 'end of string'"
        );
        assert_eq!(
            label_error("a=b c"),
            "found 'c', expected: ',' or 'end of string'"
        );
        assert_eq!(
            label_error("!a=b"),
            "found '=', expected: ',' or 'end of string'"
        );
        assert_eq!(
            label_error("a b"),
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert_eq!(
            label_error("a in b"),
            "unable to parse requirement: found 'b', expected: '('"
        );
        assert_eq!(
            label_error("a in (b"),
            "unable to parse requirement: found '', expected: ',' or ')'"
        );
        assert_eq!(
            label_error("a=(b)"),
            "unable to parse requirement: found '(', expected: identifier"
        );
        assert_eq!(
            label_error("!"),
            "unable to parse requirement: found '', expected: identifier"
        );
    }

    #[test]
    fn label_key_and_value_validation() {
        assert_eq!(
            label_error("-a=b"),
            "unable to parse requirement: key: Invalid value: \"-a\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        );
        assert_eq!(
            label_error("a=b@c"),
            "unable to parse requirement: values[0][a]: Invalid value: \"b@c\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        );
        assert!(
            label_error(&format!("a={}", "v".repeat(64)))
                .contains("must be no more than 63 characters")
        );
        assert!(
            label_error(&format!("{}=v", "k".repeat(64)))
                .contains("name part must be no more than 63 characters")
        );
        assert!(
            label_error("Example.com/a=b").contains("prefix part a lowercase RFC 1123 subdomain")
        );
        assert!(label_error("/a").contains("prefix part must be non-empty"));
        assert!(label_error("a/").contains("name part must be non-empty"));
        assert!(label_error("a/b/c").contains("a qualified name must consist of"));
        assert!(LabelSelector::parse("a.b-c_d=E.f-1_2").is_ok());
    }

    #[test]
    fn label_selector_object_match_labels_and_expressions() {
        let selector = LabelSelector::from_label_selector_object(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["front", "back"]},
                {"key": "env", "operator": "NotIn", "values": ["dev"]},
                {"key": "team", "operator": "Exists"},
                {"key": "canary", "operator": "DoesNotExist", "values": []}
            ]
        }));
        let selector = match selector {
            Ok(selector) => selector,
            Err(error) => panic!("{error}"),
        };
        assert!(selector.matches(&labels(json!({"app": "web", "tier": "back", "team": "a"}))));
        assert!(!selector.matches(&labels(
            json!({"app": "web", "tier": "back", "team": "a", "env": "dev"})
        )));
        assert!(!selector.matches(&labels(
            json!({"app": "web", "tier": "back", "team": "a", "canary": "y"})
        )));
        assert!(!selector.matches(&labels(json!({"app": "web", "tier": "back"}))));
    }

    #[test]
    fn empty_or_absent_label_selector_object_matches_everything() {
        for object in [
            json!(null),
            json!({}),
            json!({"matchLabels": {}, "matchExpressions": []}),
        ] {
            let selector = LabelSelector::from_label_selector_object(&object);
            assert!(
                selector.as_ref().is_ok_and(LabelSelector::is_empty),
                "{object}"
            );
        }
    }

    #[test]
    fn label_selector_object_errors() {
        let error = |object: Value| match LabelSelector::from_label_selector_object(&object) {
            Ok(selector) => panic!("{object} unexpectedly converted: {selector:?}"),
            Err(error) => error.to_string(),
        };
        assert_eq!(
            error(json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]})),
            "\"Gt\" is not a valid label selector operator"
        );
        assert_eq!(
            error(json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]})),
            "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"
        );
        assert_eq!(
            error(
                json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]})
            ),
            "values: Invalid value: []string{\"x\"}: values set must be empty for exists and does not exist"
        );
        assert!(
            error(json!({"matchLabels": {"a b": "c"}})).starts_with("key: Invalid value: \"a b\"")
        );
        assert!(error(json!({"matchLabels": {"a": 1}})).contains("must be a string"));
        assert!(error(json!("app=web")).contains("must be a JSON object"));
    }

    #[test]
    fn field_selector_operators() {
        let pod = json!({"metadata": {"name": "p1", "namespace": "default"},
                         "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        assert!(field_selector("metadata.name=p1").matches(&pod));
        assert!(field_selector("metadata.name==p1").matches(&pod));
        assert!(!field_selector("metadata.name=p2").matches(&pod));
        assert!(field_selector("status.phase!=Pending").matches(&pod));
        assert!(!field_selector("status.phase!=Running").matches(&pod));
        assert!(field_selector("metadata.namespace=default,spec.nodeName=n1").matches(&pod));
        assert!(!field_selector("metadata.namespace=default,spec.nodeName=n2").matches(&pod));
    }

    #[test]
    fn empty_field_selector_matches_everything() {
        let selector = field_selector("");
        assert!(selector.is_empty());
        assert!(selector.matches(&json!({})));
        assert!(field_selector(",").is_empty());
    }

    #[test]
    fn missing_fields_read_as_empty() {
        let event = json!({"involvedObject": {"kind": "Node", "name": "n1"}, "type": "Normal"});
        assert!(field_selector("involvedObject.namespace=").matches(&event));
        assert!(field_selector("involvedObject.kind=Node,type=Normal").matches(&event));
        assert!(!field_selector("involvedObject.namespace=default").matches(&event));
        assert!(field_selector("involvedObject.namespace!=default").matches(&event));
    }

    #[test]
    fn booleans_and_numbers_compare_as_json_text() {
        let node = json!({"spec": {"unschedulable": true}, "status": {"replicas": 3}});
        assert!(field_selector("spec.unschedulable=true").matches(&node));
        assert!(field_selector("status.replicas=3").matches(&node));
        assert!(!field_selector("spec.unschedulable=false").matches(&json!({"spec": {}})));
    }

    #[test]
    fn field_value_escapes() {
        let object = json!({"metadata": {"name": "a,b=c\\d"}});
        let selector = field_selector("metadata.name=a\\,b\\=c\\\\d");
        assert_eq!(selector.required_value("metadata.name"), Some("a,b=c\\d"));
        assert!(selector.matches(&object));
        assert_eq!(
            field_error("a=b\\x"),
            "invalid field selector: invalid escape sequence: \\x"
        );
        assert_eq!(
            field_error("a=b\\"),
            "invalid field selector: invalid escape sequence: \\"
        );
        assert_eq!(
            field_error("a=b=c"),
            "invalid field selector: unescaped character in value: '='"
        );
    }

    #[test]
    fn field_selector_errors() {
        assert_eq!(
            field_error("abc"),
            "invalid selector: 'abc'; can't understand 'abc'"
        );
        assert_eq!(
            field_error("a=b,=c"),
            "invalid selector: 'a=b,=c'; can't understand '=c'"
        );
        assert_eq!(
            field_error("x!y"),
            "invalid selector: 'x!y'; can't understand 'x!y'"
        );
    }

    #[test]
    fn required_value_and_fields() {
        let selector = field_selector("metadata.namespace!=kube-system,metadata.name=web");
        assert_eq!(selector.required_value("metadata.name"), Some("web"));
        assert_eq!(selector.required_value("metadata.namespace"), None);
        assert_eq!(
            selector.fields().collect::<Vec<_>>(),
            ["metadata.namespace", "metadata.name"]
        );
    }
}
