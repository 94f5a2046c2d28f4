//! What the server needs of a model: tokenize one text, run one batch.

use crate::Failure;
use crate::FailureKind;
use tasb_encoder::tokenize::Tokens;
use tasb_encoder::Encoder;

pub trait Model {
    type Tokens;
    fn dimensions(&self) -> usize;
    fn tokenize(&self, text: &str) -> Result<Self::Tokens, Failure>;
    fn token_count(tokens: &Self::Tokens) -> usize;
    /// One model call: a vector per member, in order.
    fn run(&mut self, batch: &[&Self::Tokens]) -> Result<Vec<Vec<f32>>, Failure>;
}

impl Model for Encoder {
    type Tokens = Tokens;

    fn dimensions(&self) -> usize {
        self.config().dimensions
    }

    fn tokenize(&self, text: &str) -> Result<Tokens, Failure> {
        Encoder::tokenize(self, text).map_err(|e| Failure {
            kind: FailureKind::Input,
            ..Failure::from(e)
        })
    }

    fn token_count(tokens: &Tokens) -> usize {
        tokens.ids.len()
    }

    fn run(&mut self, batch: &[&Tokens]) -> Result<Vec<Vec<f32>>, Failure> {
        self.encode_tokens(batch).map_err(Failure::from)
    }
}
