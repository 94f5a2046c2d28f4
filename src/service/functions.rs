//! `tasb_service_stats()`: what the encoder service serves and how it has been doing.

use super::shmem;
use pgrx::prelude::*;

/// One row: the service's state, model, device and threads, its process, and its work since
/// the server started (texts, tokens, batches, texts per batch, queue wait, model time,
/// restarts). All NULL but `state` ('not preloaded') when tasb is not in
/// shared_preload_libraries.
#[allow(clippy::type_complexity)]
#[pg_extern(volatile, parallel_safe)]
fn tasb_service_stats() -> TableIterator<
    'static,
    (
        name!(state, String),
        name!(model_dir, Option<String>),
        name!(device, Option<String>),
        name!(threads, Option<i32>),
        name!(pid, Option<i32>),
        name!(requests, Option<i64>),
        name!(texts, Option<i64>),
        name!(tokens, Option<i64>),
        name!(batches, Option<i64>),
        name!(texts_per_batch, Option<f64>),
        name!(max_texts_per_batch, Option<i64>),
        name!(queue_wait_p50_ms, Option<f64>),
        name!(queue_wait_p99_ms, Option<f64>),
        name!(model_ms, Option<f64>),
        name!(failed_texts, Option<i64>),
        name!(restarts, Option<i64>),
        name!(slots_in_use, Option<i32>),
        name!(last_error, Option<String>),
    ),
> {
    let Some(shared) = shmem::shared() else {
        return TableIterator::once((
            "not preloaded".to_string(),
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
        ));
    };
    let config = shared.config();
    let status = shared.status();
    let counters = shared.counters.snapshot();
    let current = status.generation == config.generation;
    let state = if !config.enabled {
        "off"
    } else if current {
        status.state.name()
    } else {
        "starting"
    };
    let nonzero = |n: u32| (current && n > 0).then_some(n as i32);
    TableIterator::once((
        state.to_string(),
        (!config.model_dir.is_empty()).then_some(config.model_dir),
        (current && !status.device.is_empty()).then(|| status.device.clone()),
        nonzero(status.threads),
        (current && status.pid > 0).then_some(status.pid),
        Some(counters.requests as i64),
        Some(counters.texts as i64),
        Some(counters.tokens as i64),
        Some(counters.batches as i64),
        counters.mean_batch_texts(),
        Some(counters.max_batch_texts as i64),
        counters.wait_quantile_ms(0.5),
        counters.wait_quantile_ms(0.99),
        Some(counters.model_ms),
        Some(counters.failed_texts as i64),
        Some(counters.restarts as i64),
        Some(shared.slots_in_use() as i32),
        (!status.message.is_empty()).then_some(status.message),
    ))
}
