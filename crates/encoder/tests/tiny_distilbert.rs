//! The encoder against an independent reference: a random-weight DistilBERT (TAS-B's architecture
//! at toy sizes, real uncased vocabulary) whose [CLS] vectors Hugging Face transformers computed in
//! PyTorch (scripts/make_tiny_fixture.py). Needs ONNX Runtime 1.32: scripts/setup.sh installs it.

use serde::Deserialize;
use std::path::PathBuf;
use tasb_encoder::tokenize::TextTokenizer;
use tasb_encoder::{ActiveDevice, Device, Encoder, LoadOptions};

#[derive(Deserialize)]
struct Reference {
    max_length: usize,
    texts: Vec<ReferenceText>,
}

#[derive(Deserialize)]
struct ReferenceText {
    text: String,
    tokens: Vec<String>,
    cls: Vec<f32>,
}

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-distilbert")
}

fn onnxruntime() -> PathBuf {
    let path = std::env::var("TASB_ONNXRUNTIME")
        .unwrap_or_else(|_| "/var/tmp/tasb/lib/libonnxruntime.so.1.32.0".to_string());
    let path = PathBuf::from(path);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/setup.sh (or set TASB_ONNXRUNTIME)",
        path.display()
    );
    path
}

fn cpu() -> LoadOptions {
    LoadOptions::default()
}

fn on(device: Device) -> LoadOptions {
    LoadOptions {
        device,
        ..LoadOptions::default()
    }
}

fn reference() -> Reference {
    serde_json::from_str(&std::fs::read_to_string(fixture().join("reference.json")).unwrap())
        .unwrap()
}

#[test]
fn tokens_match_transformers() {
    let r = reference();
    let t = TextTokenizer::from_file(&fixture().join("tokenizer.json"), r.max_length).unwrap();
    for case in &r.texts {
        assert_eq!(
            t.token_strings(&case.text).unwrap(),
            case.tokens,
            "{:?}",
            case.text
        );
    }
}

#[test]
fn vectors_match_pytorch_within_1e_4_alone_and_in_padded_batches() {
    let r = reference();
    let mut encoder = Encoder::load(&fixture(), &onnxruntime(), &cpu()).unwrap();
    assert_eq!(encoder.config().dimensions, 16);
    let texts: Vec<&str> = r.texts.iter().map(|t| t.text.as_str()).collect();
    for batch_size in [1, 4, 64] {
        let vectors = encoder.encode(&texts, batch_size, &mut || true).unwrap();
        for (case, got) in r.texts.iter().zip(&vectors) {
            let diff = case
                .cls
                .iter()
                .zip(got)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert_eq!(got.len(), case.cls.len());
            assert!(
                diff <= 1e-4,
                "batch {batch_size}, {:?}: max abs diff {diff}",
                case.text
            );
        }
    }
    let stats = encoder.stats();
    assert_eq!(stats.texts, 3 * texts.len() as u64);
    assert_eq!(stats.model_calls, 6 + 2 + 1);
}

#[test]
fn cancel_stops_between_batches() {
    let mut encoder = Encoder::load(&fixture(), &onnxruntime(), &cpu()).unwrap();
    let mut calls = 0;
    let result = encoder.encode(&["a", "b", "c"], 1, &mut || {
        calls += 1;
        calls < 2
    });
    assert!(result.unwrap_err().message.contains("cancelled"));
    assert_eq!(encoder.stats().model_calls, 1);
}

#[test]
fn a_missing_library_or_model_is_a_clear_error() {
    let e = Encoder::load(
        &fixture(),
        std::path::Path::new("/nonexistent/libonnxruntime.so"),
        &cpu(),
    )
    .err()
    .unwrap();
    assert!(e.hint.is_some(), "{e}");
    let e = Encoder::load(
        std::path::Path::new("/nonexistent/model"),
        &onnxruntime(),
        &cpu(),
    )
    .err()
    .unwrap();
    assert!(e.message.contains("does not exist"), "{e}");
}

#[test]
fn cuda_with_the_cpu_library_is_an_error_and_auto_falls_back_to_the_cpu() {
    let e = Encoder::load(&fixture(), &onnxruntime(), &on(Device::Cuda))
        .err()
        .unwrap();
    assert!(e.message.contains("no CUDA execution provider"), "{e}");
    assert!(
        e.hint.as_deref().unwrap_or("").contains("onnxruntime-gpu"),
        "{e}"
    );

    let mut auto = Encoder::load(&fixture(), &onnxruntime(), &on(Device::Auto)).unwrap();
    assert_eq!(auto.device(), ActiveDevice::Cpu);
    let mut on_cpu = Encoder::load(&fixture(), &onnxruntime(), &cpu()).unwrap();
    let text = ["what is the transformers library"];
    assert_eq!(
        auto.encode(&text, 1, &mut || true).unwrap(),
        on_cpu.encode(&text, 1, &mut || true).unwrap()
    );
}

#[test]
fn weights_without_prepacking_give_the_same_vectors() {
    let unpacked = LoadOptions {
        prepack_weights: false,
        ..LoadOptions::default()
    };
    let mut a = Encoder::load(&fixture(), &onnxruntime(), &cpu()).unwrap();
    let mut b = Encoder::load(&fixture(), &onnxruntime(), &unpacked).unwrap();
    let texts = ["what is the transformers library", "", "a b c"];
    let va = a.encode(&texts, 2, &mut || true).unwrap();
    let vb = b.encode(&texts, 2, &mut || true).unwrap();
    for (x, y) in va.iter().zip(&vb) {
        let diff = x
            .iter()
            .zip(y)
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, f32::max);
        assert!(diff <= 1e-5, "{diff}");
    }
}
