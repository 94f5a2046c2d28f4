//! Errors a user can act on: what went wrong, and a hint on how to fix it.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub struct EncoderError {
    pub message: String,
    pub hint: Option<String>,
}

impl EncoderError {
    pub fn new(message: impl Into<String>) -> Self {
        EncoderError {
            message: message.into(),
            hint: None,
        }
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for EncoderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for EncoderError {}
