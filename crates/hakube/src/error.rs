//! Exit statuses other than 1: a [`Failure`] carries its own exit code (and maybe no message, e.g.
//! when kubectl already reported its own error). Every other error exits 1.

use std::fmt;

/// An error with a chosen exit status.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    /// Printed as `error: MESSAGE`; `None` prints nothing.
    pub message: Option<String>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(message) => f.write_str(message),
            None => write!(f, "exit status {}", self.code),
        }
    }
}

impl std::error::Error for Failure {}

/// Exit 2 with "WHAT is not implemented yet".
pub fn not_implemented(what: &str) -> anyhow::Error {
    Failure {
        code: 2,
        message: Some(format!("{what} is not implemented yet")),
    }
    .into()
}

/// Exit with `code` without a message of ours.
pub fn silent_exit(code: u8) -> anyhow::Error {
    Failure {
        code,
        message: None,
    }
    .into()
}

/// The exit status for an error, and the one line to print (if any).
pub fn report(error: &anyhow::Error) -> (u8, Option<String>) {
    if let Some(failure) = error.downcast_ref::<Failure>() {
        return (failure.code, failure.message.clone());
    }
    let line = format!("{error:#}").replace('\n', " ");
    (1, Some(line))
}
