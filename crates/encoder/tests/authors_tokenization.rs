//! The tokenizer against the TAS-B authors' own published tokenization of their usage example
//! (notebook minimal_bert_dot_usage_example.ipynb in sebastian-hofstaetter/tas-balanced-dense-retrieval,
//! printed with tokenizer.convert_ids_to_tokens): same uncased WordPiece vocabulary, emoji -> [UNK].
//! The fixture's tokenizer.json carries that vocabulary (from all-MiniLM-L6-v2, identical to
//! distilbert-base-uncased's).

use std::path::PathBuf;
use tasb_encoder::tokenize::TextTokenizer;

fn tokenizer() -> TextTokenizer {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/tiny-distilbert/tokenizer.json");
    TextTokenizer::from_file(&path, 512).unwrap()
}

fn words(listing: &str) -> Vec<String> {
    listing.split(' ').map(str::to_string).collect()
}

#[test]
fn the_authors_passages_and_query_tokenize_as_they_published() {
    let t = tokenizer();
    let cases = [
        (
            "We are very happy to show you the 🤗 Transformers library for pre-trained language models. We are helping the community work together towards the goal of advancing NLP 🔥.",
            "[CLS] we are very happy to show you the [UNK] transformers library for pre - trained language models . we are helping the community work together towards the goal of advancing nl ##p [UNK] . [SEP]",
        ),
        (
            "Hmm I don't like this new movie about transformers that i got from my local library. Those transformers are robots?",
            "[CLS] hmm i don ' t like this new movie about transformers that i got from my local library . those transformers are robots ? [SEP]",
        ),
        (
            "what is the transformers library",
            "[CLS] what is the transformers library [SEP]",
        ),
    ];
    for (text, published) in cases {
        assert_eq!(t.token_strings(text).unwrap(), words(published), "{text:?}");
    }
}
