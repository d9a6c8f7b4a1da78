//! Compilation of [`Node`]s into Pike-VM instructions.

use super::Inst;
use super::ast::{Class, Node};

/// Largest program accepted; RE2 likewise refuses huge counted repetitions.
const MAX_INSTRUCTIONS: usize = 20_000;

#[derive(Default)]
pub(super) struct Compiler {
    pub(super) program: Vec<Inst>,
    pub(super) classes: Vec<Class>,
}

impl Compiler {
    fn push(&mut self, inst: Inst) -> usize {
        self.program.push(inst);
        self.program.len() - 1
    }

    pub(super) fn emit(&mut self, node: &Node) -> Result<(), String> {
        if self.program.len() > MAX_INSTRUCTIONS {
            return Err("error parsing regexp: expression too large".to_string());
        }
        match node {
            Node::Literal(c) => {
                self.push(Inst::Char(*c));
            }
            Node::Any => {
                self.push(Inst::Any);
            }
            Node::Class(class) => {
                self.classes.push(class.clone());
                self.push(Inst::Class(self.classes.len() - 1));
            }
            Node::Assert(a) => {
                self.push(Inst::Assert(*a));
            }
            Node::Concat(items) => {
                for item in items {
                    self.emit(item)?;
                }
            }
            Node::Alternate(branches) => self.alternate(branches)?,
            Node::Repeat { node, min, max } => self.repeat(node, *min, *max)?,
        }
        Ok(())
    }

    fn alternate(&mut self, branches: &[Node]) -> Result<(), String> {
        let mut exits = Vec::new();
        for (i, branch) in branches.iter().enumerate() {
            if i + 1 == branches.len() {
                self.emit(branch)?;
                break;
            }
            let split = self.push(Inst::Split(0, 0));
            self.emit(branch)?;
            exits.push(self.push(Inst::Jump(0)));
            self.program[split] = Inst::Split(split + 1, self.program.len());
        }
        let end = self.program.len();
        for exit in exits {
            self.program[exit] = Inst::Jump(end);
        }
        Ok(())
    }

    fn repeat(&mut self, node: &Node, min: u32, max: Option<u32>) -> Result<(), String> {
        for _ in 0..min {
            self.emit(node)?;
        }
        match max {
            None => {
                let split = self.push(Inst::Split(0, 0));
                self.emit(node)?;
                self.push(Inst::Jump(split));
                self.program[split] = Inst::Split(split + 1, self.program.len());
            }
            Some(max) => {
                let mut splits = Vec::new();
                for _ in min..max {
                    splits.push(self.push(Inst::Split(0, 0)));
                    self.emit(node)?;
                }
                let end = self.program.len();
                for split in splits {
                    self.program[split] = Inst::Split(split + 1, end);
                }
            }
        }
        Ok(())
    }
}
