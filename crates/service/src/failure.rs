//! Why a text got no vector, carried back to the session that sent it.

/// What kind of failure, which decides what the client does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum FailureKind {
    /// This text cannot be encoded (the backend path would fail on it the same way).
    Input = 1,
    /// The model call failed, or the model could not be loaded.
    Model = 2,
    /// The service's model changed (or the service stopped) before the text was encoded: nothing
    /// was answered, so the client may route the text again.
    Retry = 3,
    /// The serving process ended while it held the text.
    Ended = 4,
}

impl FailureKind {
    pub fn from_u32(value: u32) -> FailureKind {
        match value {
            1 => FailureKind::Input,
            3 => FailureKind::Retry,
            4 => FailureKind::Ended,
            _ => FailureKind::Model,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
    pub hint: Option<String>,
}

impl Failure {
    pub fn new(kind: FailureKind, message: impl Into<String>, hint: Option<&str>) -> Failure {
        Failure {
            kind,
            message: message.into(),
            hint: hint.map(str::to_string),
        }
    }

    pub fn model_changed() -> Failure {
        Failure::new(
            FailureKind::Retry,
            "the encoder service changed its model before this text was encoded",
            Some("Nothing was encoded by the old model; run the statement again."),
        )
    }

    pub fn ended(how: &str) -> Failure {
        Failure::new(
            FailureKind::Ended,
            format!("the tasb encoder service process {how} while encoding this text"),
            Some("The service restarts by itself and the next call will work; run the statement again. The server log says why it ended."),
        )
    }
}

impl From<tasb_encoder::EncoderError> for Failure {
    fn from(e: tasb_encoder::EncoderError) -> Failure {
        Failure {
            kind: FailureKind::Model,
            message: e.message,
            hint: e.hint,
        }
    }
}
