//! Recursive-descent parser from RE2 syntax to [`Node`]s.

use super::Flags;
use super::ast::{Assertion, Class, ClassItem, Named, Node};

/// RE2's limit on `{n,m}` counts.
const MAX_REPEAT: u32 = 1000;
/// Group nesting limit, so hostile patterns cannot exhaust the stack.
const MAX_DEPTH: usize = 1000;

/// What a backslash escape stands for.
enum Escape {
    Char(char),
    Named(Named, bool),
    Assert(Assertion),
}

pub(super) struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    source: &'a str,
}

impl<'a> Parser<'a> {
    pub(super) fn new(source: &'a str) -> Self {
        Parser {
            chars: source.chars().collect(),
            pos: 0,
            source,
        }
    }

    /// Whether everything was consumed (a stray `)` stops the parse early).
    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    pub(super) fn error(&self, code: &str, fragment: &str) -> String {
        format!("error parsing regexp: {code}: `{fragment}`")
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek();
        self.pos += usize::from(c.is_some());
        c
    }

    fn eat(&mut self, c: char) -> bool {
        let hit = self.peek() == Some(c);
        self.pos += usize::from(hit);
        hit
    }

    /// `(?ims)` at the very start sets global flags.
    pub(super) fn leading_flags(&mut self) -> Flags {
        let mut flags = Flags::default();
        if self.peek() != Some('(') || self.peek_at(1) != Some('?') {
            return flags;
        }
        let mut i = 2;
        let mut seen = Flags::default();
        while let Some(c) = self.peek_at(i) {
            match c {
                'i' => seen.case_insensitive = true,
                's' => seen.dot_matches_newline = true,
                'm' => seen.multi_line = true,
                'U' => {}
                ')' if i > 2 => {
                    self.pos += i + 1;
                    flags = seen;
                    break;
                }
                _ => break,
            }
            i += 1;
        }
        flags
    }

    pub(super) fn alternation(&mut self, depth: usize) -> Result<Node, String> {
        if depth > MAX_DEPTH {
            return Err(self.error("expression nests too deeply", self.source));
        }
        let mut branches = vec![self.concat(depth)?];
        while self.eat('|') {
            branches.push(self.concat(depth)?);
        }
        Ok(if branches.len() == 1 {
            branches.remove(0)
        } else {
            Node::Alternate(branches)
        })
    }

    fn concat(&mut self, depth: usize) -> Result<Node, String> {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom(depth)?;
            items.push(self.quantified(atom)?);
        }
        Ok(Node::Concat(items))
    }

    fn atom(&mut self, depth: usize) -> Result<Node, String> {
        let start = self.pos;
        let Some(c) = self.bump() else {
            return Err(self.error("missing argument", self.source));
        };
        Ok(match c {
            '(' => self.group(depth)?,
            '[' => Node::Class(self.class()?),
            '.' => Node::Any,
            '^' => Node::Assert(Assertion::LineStart),
            '$' => Node::Assert(Assertion::LineEnd),
            '\\' => match self.escape(false)? {
                Escape::Char(c) => Node::Literal(c),
                Escape::Named(named, negated) => Node::Class(Class {
                    items: vec![ClassItem::Named(named, negated)],
                    negated: false,
                }),
                Escape::Assert(a) => Node::Assert(a),
            },
            '*' | '+' | '?' => {
                return Err(self.error("missing argument to repetition operator", &c.to_string()));
            }
            '{' if self.counted_repeat_at(start).is_some() => {
                return Err(self.error("missing argument to repetition operator", "{"));
            }
            c => Node::Literal(c),
        })
    }

    fn group(&mut self, depth: usize) -> Result<Node, String> {
        if self.eat('?') {
            if self.eat(':') {
                // non-capturing group: nothing more to read
            } else if self.peek() == Some('P') && self.peek_at(1) == Some('<')
                || self.peek() == Some('<')
            {
                while let Some(c) = self.bump() {
                    if c == '>' {
                        break;
                    }
                }
            } else {
                return Err(self.error("invalid or unsupported Perl syntax", "(?"));
            }
        }
        let inner = self.alternation(depth + 1)?;
        if !self.eat(')') {
            return Err(self.error("missing closing )", self.source));
        }
        Ok(inner)
    }

    fn quantified(&mut self, atom: Node) -> Result<Node, String> {
        let Some((min, max)) = self.quantifier()? else {
            return Ok(atom);
        };
        self.eat('?'); // lazy forms match the same set of strings
        if matches!(self.peek(), Some('*' | '+' | '?'))
            || (self.peek() == Some('{') && self.counted_repeat_at(self.pos).is_some())
        {
            return Err(self.error("invalid nested repetition operator", self.source));
        }
        Ok(Node::Repeat {
            node: Box::new(atom),
            min,
            max,
        })
    }

    fn quantifier(&mut self) -> Result<Option<(u32, Option<u32>)>, String> {
        let found = match self.peek() {
            Some('*') => Some((0, None)),
            Some('+') => Some((1, None)),
            Some('?') => Some((0, Some(1))),
            Some('{') => match self.counted_repeat_at(self.pos) {
                Some((min, max, len)) => {
                    if min > MAX_REPEAT || max.is_some_and(|m| m > MAX_REPEAT || m < min) {
                        let text: String = self.chars[self.pos..self.pos + len].iter().collect();
                        return Err(self.error("invalid repeat count", &text));
                    }
                    self.pos += len - 1;
                    Some((min, max))
                }
                None => None,
            },
            _ => None,
        };
        if found.is_some() {
            self.pos += 1;
        }
        Ok(found)
    }

    /// Parses `{n}`, `{n,}` or `{n,m}` at `at`: (min, max, length in chars).
    fn counted_repeat_at(&self, at: usize) -> Option<(u32, Option<u32>, usize)> {
        let rest = &self.chars[at..];
        let close = rest.iter().position(|&c| c == '}')?;
        let body: String = rest[1..close].iter().collect();
        let (min, max) = match body.split_once(',') {
            None => {
                let n = parse_count(&body)?;
                (n, Some(n))
            }
            Some((lo, "")) => (parse_count(lo)?, None),
            Some((lo, hi)) => (parse_count(lo)?, Some(parse_count(hi)?)),
        };
        Some((min, max, close + 1))
    }

    fn escape(&mut self, in_class: bool) -> Result<Escape, String> {
        let Some(c) = self.bump() else {
            return Err(self.error("trailing backslash at end of expression", ""));
        };
        Ok(match c {
            'd' | 'D' => Escape::Named(Named::Digit, c == 'D'),
            'w' | 'W' => Escape::Named(Named::Word, c == 'W'),
            's' | 'S' => Escape::Named(Named::Space, c == 'S'),
            'b' if !in_class => Escape::Assert(Assertion::WordBoundary),
            'B' if !in_class => Escape::Assert(Assertion::NotWordBoundary),
            'A' if !in_class => Escape::Assert(Assertion::TextStart),
            'z' if !in_class => Escape::Assert(Assertion::TextEnd),
            'n' => Escape::Char('\n'),
            't' => Escape::Char('\t'),
            'r' => Escape::Char('\r'),
            'f' => Escape::Char('\u{c}'),
            'v' => Escape::Char('\u{b}'),
            'a' => Escape::Char('\u{7}'),
            'x' => Escape::Char(self.hex_escape()?),
            'p' | 'P' => {
                return Err(self.error("unsupported Unicode class escape", &format!("\\{c}")));
            }
            c if c.is_ascii_punctuation() => Escape::Char(c),
            c => return Err(self.error("invalid escape sequence", &format!("\\{c}"))),
        })
    }

    /// `\xHH` or `\x{H...}`.
    fn hex_escape(&mut self) -> Result<char, String> {
        let digits: String = if self.eat('{') {
            let mut digits = String::new();
            loop {
                match self.bump() {
                    Some('}') => break,
                    Some(c) => digits.push(c),
                    None => return Err(self.error("invalid escape sequence", "\\x{")),
                }
            }
            digits
        } else {
            [self.bump(), self.bump()].into_iter().flatten().collect()
        };
        u32::from_str_radix(&digits, 16)
            .ok()
            .and_then(char::from_u32)
            .ok_or_else(|| self.error("invalid escape sequence", &format!("\\x{digits}")))
    }

    fn class(&mut self) -> Result<Class, String> {
        let negated = self.eat('^');
        let mut items = Vec::new();
        let mut first = true;
        loop {
            let Some(c) = self.bump() else {
                return Err(self.error("missing closing ]", self.source));
            };
            if c == ']' && !first {
                break;
            }
            first = false;
            if c == '['
                && self.peek() == Some(':')
                && let Some(item) = self.posix_class()?
            {
                items.push(item);
                continue;
            }
            let lo = match self.class_char(c)? {
                Ok(lo) => lo,
                Err(item) => {
                    items.push(item);
                    continue;
                }
            };
            if self.peek() == Some('-') && self.peek_at(1).is_some_and(|c| c != ']') {
                self.pos += 1;
                let hi_raw = self.bump().unwrap_or(lo);
                let hi = match self.class_char(hi_raw)? {
                    Ok(hi) => hi,
                    Err(_) => {
                        return Err(self.error("invalid character class range", &format!("{lo}-")));
                    }
                };
                if hi < lo {
                    return Err(self.error("invalid character class range", &format!("{lo}-{hi}")));
                }
                items.push(ClassItem::Range(lo, hi));
            } else {
                items.push(ClassItem::Range(lo, lo));
            }
        }
        Ok(Class { items, negated })
    }

    /// A class member: a plain char (`Ok`) or a named set (`Err`).
    fn class_char(&mut self, c: char) -> Result<Result<char, ClassItem>, String> {
        if c != '\\' {
            return Ok(Ok(c));
        }
        match self.escape(true)? {
            Escape::Char(c) => Ok(Ok(c)),
            Escape::Named(named, negated) => Ok(Err(ClassItem::Named(named, negated))),
            Escape::Assert(_) => Err(self.error("invalid escape sequence", "\\")),
        }
    }

    /// `[:name:]` or `[:^name:]` inside a bracket class (the `[` is consumed);
    /// without a closing `:]` the `[` is an ordinary character, as in RE2.
    fn posix_class(&mut self) -> Result<Option<ClassItem>, String> {
        let rest: String = self.chars[self.pos..].iter().collect();
        let Some(end) = rest
            .get(1..)
            .and_then(|tail| tail.find(":]"))
            .map(|i| i + 1)
        else {
            return Ok(None);
        };
        let name = &rest[1..end];
        let (negated, name) = name.strip_prefix('^').map_or((false, name), |n| (true, n));
        let named = Named::posix(name)
            .ok_or_else(|| self.error("invalid character class range", &format!("[:{name}:]")))?;
        self.pos += rest[..end + 2].chars().count();
        Ok(Some(ClassItem::Named(named, negated)))
    }
}

fn parse_count(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().or(Some(u32::MAX))
}
