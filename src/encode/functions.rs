//! SQL functions over the backend's model.
//!
//! Volatility: STABLE, honestly. The result depends on `tasb.model_dir`, a setting, so it is
//! fixed within a statement but not forever: IMMUTABLE would let the planner fold it into plans
//! and indexes that outlive a model change. Consequence: `GENERATED ALWAYS AS (tasb_encode(body))`
//! is not allowed (it needs IMMUTABLE); embed on write with a trigger instead. PARALLEL RESTRICTED:
//! a parallel worker would load its own copy of the model; compute the query vector once in the
//! leader (`ORDER BY emb <#> (SELECT tasb_encode($1))`) and the scan itself still runs in parallel.

use super::model::{raise_encoder_error, stats, with_model, LoadedModel, QueryCache};
use super::settings::{text_setting, BATCH_SIZE, MODEL_DIR};
use crate::types::OwnedVec;
use pgrx::prelude::*;
use std::cell::RefCell;
use tasb_vecmath::distance::{dot, Elements};

/// Encodes texts in input order, checking for query cancel between model calls.
fn encode_texts(model: &mut LoadedModel, texts: &[&str]) -> Vec<Vec<f32>> {
    let batch_size = match BATCH_SIZE.get() {
        n if n > 0 => n as usize,
        _ => model.encoder.device().default_batch_size(),
    };
    let mut keep_going = || {
        pgrx::check_for_interrupts!();
        true
    };
    model
        .encoder
        .encode(texts, batch_size, &mut keep_going)
        .unwrap_or_else(|e| raise_encoder_error(e))
}

/// Vectors for texts in input order: from the encoder service when it serves this session's
/// model, else from the session's own model.
fn encode_routed(texts: &[&str]) -> Vec<Vec<f32>> {
    if let Some(vectors) = crate::service::client::encode(texts) {
        return vectors;
    }
    with_model(|model| encode_texts(model, texts))
}

/// One passage's vector, bypassing the query cache (passages rarely repeat; queries do).
pub(crate) fn encode_passage(text: &str) -> Vec<f32> {
    encode_routed(&[text]).pop().unwrap_or_default()
}

thread_local! {
    // Recent query encodings answered by the service, and the model directory they came from.
    // Backends are single-threaded.
    static SERVICE_CACHE: RefCell<(String, QueryCache)> =
        RefCell::new((String::new(), QueryCache::default()));
}

/// One text's vector, through the session's cache of recent query encodings.
fn encode_one(text: &str) -> Vec<f32> {
    if crate::service::client::serves_this_session() {
        let dir = text_setting(&MODEL_DIR).unwrap_or_default();
        let hit = SERVICE_CACHE.with(|cell| {
            let (cached_dir, cache) = &mut *cell.borrow_mut();
            if *cached_dir != dir {
                cache.clear();
                *cached_dir = dir;
            }
            cache.cached(text)
        });
        if let Some(vector) = hit {
            return vector;
        }
        if let Some(mut vectors) = crate::service::client::encode(&[text]) {
            let vector = vectors.pop().unwrap_or_default();
            SERVICE_CACHE.with(|cell| cell.borrow_mut().1.remember(text, &vector));
            return vector;
        }
    }
    with_model(|model| {
        if let Some(vector) = model.cache.cached(text) {
            return vector;
        }
        let vector = encode_texts(model, &[text]).pop().unwrap_or_default();
        model.cache.remember(text, &vector);
        vector
    })
}

/// The model's vector for a text (TAS-B: the [CLS] vector, not normalised).
#[pg_extern(stable, strict, parallel_restricted, requires = ["vector_types"])]
fn tasb_encode(text: &str) -> OwnedVec<f32> {
    OwnedVec::from_slice(&encode_one(text))
}

/// Encodes the non-NULL texts in one batched pass; NULL stays None, input order is kept.
fn encode_nullable(texts: &[Option<&str>]) -> Vec<Option<Vec<f32>>> {
    let present: Vec<&str> = texts.iter().flatten().copied().collect();
    let mut vectors = encode_routed(&present).into_iter();
    texts
        .iter()
        .map(|text| text.and_then(|_| vectors.next()))
        .collect()
}

/// Vectors for many texts in one go: same order, NULL stays NULL; batched by length.
#[pg_extern(stable, strict, parallel_restricted, requires = ["vector_types"])]
fn tasb_encode_batch(texts: Array<&str>) -> Vec<Option<OwnedVec<f32>>> {
    let items: Vec<Option<&str>> = texts.iter().collect();
    encode_nullable(&items)
        .into_iter()
        .map(|v| v.map(|v| OwnedVec::from_slice(&v)))
        .collect()
}

/// The relevance score of a passage for a query: their vectors' dot product.
#[pg_extern(stable, strict, parallel_restricted)]
fn tasb_score(query: &str, passage: &str) -> f64 {
    let query_vector = encode_one(query);
    let passage_vector = encode_passage(passage);
    dot(Elements::F32(&query_vector), Elements::F32(&passage_vector))
}

/// Re-ranks candidate passages for a query: each passage's 1-based position in the input and its
/// score, best first.
#[pg_extern(stable, strict, parallel_restricted)]
fn tasb_rerank(
    query: &str,
    passages: Array<&str>,
) -> TableIterator<'static, (name!(position, i32), name!(score, Option<f64>))> {
    let query_vector = encode_one(query);
    let items: Vec<Option<&str>> = passages.iter().collect();
    let mut scored: Vec<(i32, Option<f64>)> = encode_nullable(&items)
        .iter()
        .enumerate()
        .map(|(i, v)| {
            (
                i as i32 + 1,
                v.as_ref()
                    .map(|v| dot(Elements::F32(&query_vector), Elements::F32(v))),
            )
        })
        .collect();
    // Best first; NULL passages last.
    scored.sort_by(|a, b| {
        b.1.unwrap_or(f64::NEG_INFINITY)
            .total_cmp(&a.1.unwrap_or(f64::NEG_INFINITY))
    });
    TableIterator::new(scored)
}

/// This session's encoder work: its own model's calls, texts, tokens and time (model_dir NULL
/// when it loaded none), query-cache hits, and the calls and texts the encoder service answered.
// pgrx reads the column names from the written-out type, so it cannot be a type alias.
#[allow(clippy::type_complexity)]
#[pg_extern(volatile, parallel_restricted)]
fn tasb_stats() -> TableIterator<
    'static,
    (
        name!(model_dir, Option<String>),
        name!(device, Option<String>),
        name!(model_calls, i64),
        name!(texts, i64),
        name!(tokens, i64),
        name!(model_ms, f64),
        name!(cache_hits, i64),
        name!(service_calls, i64),
        name!(service_texts, i64),
    ),
> {
    let service_hits = SERVICE_CACHE.with(|cell| cell.borrow().1.hits) as i64;
    let (service_calls, service_texts) = crate::service::client::session_counts();
    let (service_calls, service_texts) = (service_calls as i64, service_texts as i64);
    let row = match stats() {
        Some(m) => (
            Some(m.dir),
            Some(m.device),
            m.encode.model_calls as i64,
            m.encode.texts as i64,
            m.encode.tokens as i64,
            m.encode.model_time.as_secs_f64() * 1000.0,
            m.cache_hits as i64 + service_hits,
            service_calls,
            service_texts,
        ),
        None => (
            None,
            None,
            0,
            0,
            0,
            0.0,
            service_hits,
            service_calls,
            service_texts,
        ),
    };
    TableIterator::once(row)
}
