//! Syntax tree of a parsed pattern and the character sets it uses.

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Assertion {
    LineStart,
    LineEnd,
    TextStart,
    TextEnd,
    WordBoundary,
    NotWordBoundary,
}

/// Named character sets: Perl escapes and POSIX bracket names (ASCII, as RE2).
#[derive(Debug, Clone, Copy)]
pub(super) enum Named {
    Digit,
    Word,
    Space,
    PosixSpace,
    Alnum,
    Alpha,
    Ascii,
    Blank,
    Cntrl,
    Graph,
    Lower,
    Print,
    Punct,
    Upper,
    XDigit,
}

impl Named {
    pub(super) fn contains(self, c: char) -> bool {
        match self {
            Named::Digit => c.is_ascii_digit(),
            Named::Word => c.is_ascii_alphanumeric() || c == '_',
            Named::Space => matches!(c, '\t' | '\n' | '\u{c}' | '\r' | ' '),
            Named::PosixSpace => matches!(c, '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' '),
            Named::Alnum => c.is_ascii_alphanumeric(),
            Named::Alpha => c.is_ascii_alphabetic(),
            Named::Ascii => c.is_ascii(),
            Named::Blank => c == ' ' || c == '\t',
            Named::Cntrl => c.is_ascii_control(),
            Named::Graph => c.is_ascii_graphic(),
            Named::Lower => c.is_ascii_lowercase(),
            Named::Print => c.is_ascii_graphic() || c == ' ',
            Named::Punct => c.is_ascii_punctuation(),
            Named::Upper => c.is_ascii_uppercase(),
            Named::XDigit => c.is_ascii_hexdigit(),
        }
    }

    pub(super) fn posix(name: &str) -> Option<Named> {
        Some(match name {
            "alnum" => Named::Alnum,
            "alpha" => Named::Alpha,
            "ascii" => Named::Ascii,
            "blank" => Named::Blank,
            "cntrl" => Named::Cntrl,
            "digit" => Named::Digit,
            "graph" => Named::Graph,
            "lower" => Named::Lower,
            "print" => Named::Print,
            "punct" => Named::Punct,
            "space" => Named::PosixSpace,
            "upper" => Named::Upper,
            "word" => Named::Word,
            "xdigit" => Named::XDigit,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) enum ClassItem {
    Range(char, char),
    Named(Named, bool),
}

#[derive(Debug, Clone)]
pub(super) struct Class {
    pub(super) items: Vec<ClassItem>,
    pub(super) negated: bool,
}

impl Class {
    fn contains(&self, c: char) -> bool {
        self.items.iter().any(|item| match *item {
            ClassItem::Range(lo, hi) => lo <= c && c <= hi,
            ClassItem::Named(named, negated) => named.contains(c) != negated,
        })
    }

    pub(super) fn matches(&self, c: char, fold: bool) -> bool {
        let hit =
            self.contains(c) || (fold && (self.contains(lower(c)) || self.contains(upper(c))));
        hit != self.negated
    }
}

pub(super) fn lower(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

pub(super) fn upper(c: char) -> char {
    c.to_uppercase().next().unwrap_or(c)
}

#[derive(Debug)]
pub(super) enum Node {
    Literal(char),
    Any,
    Class(Class),
    Assert(Assertion),
    Concat(Vec<Node>),
    Alternate(Vec<Node>),
    Repeat {
        node: Box<Node>,
        min: u32,
        max: Option<u32>,
    },
}
