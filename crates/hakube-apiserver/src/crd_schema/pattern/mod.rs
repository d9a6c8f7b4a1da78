//! Small RE2-style regular expressions for the `pattern` keyword.
//!
//! kube-openapi matches `pattern` with Go's `regexp` (RE2 syntax, unanchored
//! search, linear time). This engine parses the commonly used subset —
//! literals, `.`, `^ $ \A \z \b \B`, `[...]` classes with ranges, negation,
//! `\d \w \s` (and negations) and POSIX `[:alpha:]`-style names, groups
//! `(...)`, `(?:...)`, `(?P<n>...)`, alternation, `* + ? {n} {n,} {n,m}` (lazy
//! forms accepted), leading `(?ims)` flags — and runs it as a Pike VM so a
//! hostile pattern or input cannot cause exponential backtracking.
//! Not supported (reported as compile errors): Unicode classes `\p{..}`,
//! octal escapes, flag groups after the start, backreferences (RE2 has none).

mod ast;
mod compile;
mod parse;

use ast::{Assertion, Class, Named, lower};

/// A compiled pattern.
#[derive(Debug)]
pub(crate) struct Regex {
    program: Vec<Inst>,
    classes: Vec<Class>,
    flags: Flags,
}

#[derive(Debug, Clone, Copy, Default)]
struct Flags {
    case_insensitive: bool,
    dot_matches_newline: bool,
    multi_line: bool,
}

#[derive(Debug, Clone, Copy)]
enum Inst {
    Char(char),
    Any,
    Class(usize),
    Assert(Assertion),
    Split(usize, usize),
    Jump(usize),
    Match,
}

impl Regex {
    /// Compiles `source`; the error reads like Go's `regexp.Compile` error.
    pub(crate) fn new(source: &str) -> Result<Regex, String> {
        let mut parser = parse::Parser::new(source);
        let flags = parser.leading_flags();
        let node = parser.alternation(0)?;
        if !parser.at_end() {
            return Err(parser.error("unexpected )", source));
        }
        let mut compiler = compile::Compiler::default();
        compiler.emit(&node)?;
        compiler.program.push(Inst::Match);
        Ok(Regex {
            program: compiler.program,
            classes: compiler.classes,
            flags,
        })
    }

    /// Unanchored search, like Go's `MatchString`.
    pub(crate) fn is_match(&self, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        let mut current = Threads::new(self.program.len());
        let mut next = Threads::new(self.program.len());
        for pos in 0..=chars.len() {
            if self.add(&mut current, 0, pos, &chars) {
                return true;
            }
            let Some(&c) = chars.get(pos) else { break };
            next.clear();
            for &pc in &current.list {
                if self.consumes(pc, c) && self.add(&mut next, pc + 1, pos + 1, &chars) {
                    return true;
                }
            }
            std::mem::swap(&mut current, &mut next);
        }
        false
    }

    fn consumes(&self, pc: usize, c: char) -> bool {
        let fold = self.flags.case_insensitive;
        match self.program[pc] {
            Inst::Char(want) => c == want || (fold && lower(c) == lower(want)),
            Inst::Any => self.flags.dot_matches_newline || c != '\n',
            Inst::Class(i) => self.classes[i].matches(c, fold),
            _ => false,
        }
    }

    /// Adds `pc` and its epsilon closure at `pos`; true once `Match` is reachable.
    fn add(&self, threads: &mut Threads, pc: usize, pos: usize, chars: &[char]) -> bool {
        let mut stack = vec![pc];
        while let Some(pc) = stack.pop() {
            if !threads.insert(pc) {
                continue;
            }
            match self.program[pc] {
                Inst::Match => return true,
                Inst::Jump(target) => stack.push(target),
                Inst::Split(a, b) => {
                    stack.push(b);
                    stack.push(a);
                }
                Inst::Assert(a) if self.holds(a, pos, chars) => stack.push(pc + 1),
                _ => {}
            }
        }
        false
    }

    fn holds(&self, assertion: Assertion, pos: usize, chars: &[char]) -> bool {
        let before = pos.checked_sub(1).and_then(|i| chars.get(i)).copied();
        let after = chars.get(pos).copied();
        let word = |c: Option<char>| c.is_some_and(|c| Named::Word.contains(c));
        match assertion {
            Assertion::TextStart => before.is_none(),
            Assertion::TextEnd => after.is_none(),
            Assertion::LineStart => {
                before.is_none() || (self.flags.multi_line && before == Some('\n'))
            }
            Assertion::LineEnd => after.is_none() || (self.flags.multi_line && after == Some('\n')),
            Assertion::WordBoundary => word(before) != word(after),
            Assertion::NotWordBoundary => word(before) == word(after),
        }
    }
}

/// Sparse thread set: membership flags plus insertion-ordered list.
struct Threads {
    seen: Vec<bool>,
    list: Vec<usize>,
}

impl Threads {
    fn new(size: usize) -> Self {
        Threads {
            seen: vec![false; size],
            list: Vec::new(),
        }
    }

    fn insert(&mut self, pc: usize) -> bool {
        if self.seen[pc] {
            return false;
        }
        self.seen[pc] = true;
        self.list.push(pc);
        true
    }

    fn clear(&mut self) {
        for &pc in &self.list {
            self.seen[pc] = false;
        }
        self.list.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::Regex;

    fn matches(pattern: &str, text: &str) -> bool {
        Regex::new(pattern)
            .map(|r| r.is_match(text))
            .unwrap_or_else(|e| panic!("{pattern}: {e}"))
    }

    #[test]
    fn cron_pattern_from_the_crd_docs() {
        let cron = r"^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$";
        assert!(matches(cron, "* * * * */5"));
        assert!(matches(cron, "0 */2 1 * 3"));
        assert!(!matches(cron, "* * * *"));
        assert!(!matches(cron, "every minute"));
    }

    #[test]
    fn search_is_unanchored_unless_asked() {
        assert!(matches("b+", "aabbb"));
        assert!(!matches("^b+$", "aabbb"));
        assert!(matches("^$", ""));
        assert!(matches("", "anything"));
    }

    #[test]
    fn classes_and_quantifiers() {
        assert!(matches("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "my-name-1"));
        assert!(!matches("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "-bad"));
        assert!(matches(r"^[^\s]{2,3}$", "abc"));
        assert!(!matches(r"^[^\s]{2,3}$", "abcd"));
        assert!(matches("^[[:upper:]]+$", "ABC"));
        assert!(matches(r"^\w+@\w+\.com$", "me@example.com"));
        assert!(matches("^a{2,}?$", "aaaa"));
        assert!(matches("^[]a]+$", "]a]"));
        assert!(matches(r"\bfoo\b", "a foo b"));
        assert!(!matches(r"\bfoo\b", "afoob"));
        assert!(matches("(?i)^abc$", "AbC"));
        assert!(matches("^(?:ab|cd)+$", "abcdab"));
        assert!(matches("^(?P<x>a)b$", "ab"));
        assert!(matches("^a.c$", "a\u{e9}c"));
        assert!(
            matches("^[[:]+$", "[:"),
            "an unterminated POSIX name is plain text"
        );
        assert!(Regex::new("[[:bogus:]]").is_err());
    }

    #[test]
    fn pathological_patterns_stay_linear() {
        let text = "a".repeat(5000);
        assert!(!matches("^(a*)*b$", &text));
        assert!(!matches("^(a|aa)+$", &format!("{text}b")));
    }

    #[test]
    fn bad_patterns_are_errors() {
        for bad in [
            "(abc", "abc)", "[abc", "*a", "a**", r"\p{L}", "a{2,1}", "[z-a]", r"\q", "(?=x)",
        ] {
            assert!(Regex::new(bad).is_err(), "{bad} should not compile");
        }
        assert_eq!(
            Regex::new("(abc").err().as_deref(),
            Some("error parsing regexp: missing closing ): `(abc`")
        );
    }
}
