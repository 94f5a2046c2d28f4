//! The service's counters, in shared memory: written by the serving process, read by anyone.

use std::sync::atomic::{AtomicU64, Ordering};

/// Queue-wait histogram buckets: bucket b holds waits below 2^((b+1)/4) microseconds, so each
/// bucket is about 19% wide and 128 of them reach past an hour.
pub const WAIT_BUCKETS: usize = 128;

#[repr(C)]
pub struct Counters {
    /// SQL calls that sent texts to the service (counted by the clients).
    pub requests: AtomicU64,
    pub texts: AtomicU64,
    pub tokens: AtomicU64,
    pub batches: AtomicU64,
    pub max_batch_texts: AtomicU64,
    pub model_ns: AtomicU64,
    pub failed_texts: AtomicU64,
    /// Times the serving process ended abnormally and was started again.
    pub restarts: AtomicU64,
    pub wait_histogram: [AtomicU64; WAIT_BUCKETS],
}

/// The bucket of a wait of `us` microseconds.
pub fn wait_bucket(us: u64) -> usize {
    let log2_quarter = ((us as f64 + 1.0).log2() * 4.0).floor() as usize;
    log2_quarter.min(WAIT_BUCKETS - 1)
}

/// The upper bound of a bucket, in microseconds.
pub fn bucket_upper_us(bucket: usize) -> f64 {
    2f64.powf((bucket as f64 + 1.0) / 4.0) - 1.0
}

/// A snapshot of the counters, as `tasb_service_stats()` shows them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CounterSnapshot {
    pub requests: u64,
    pub texts: u64,
    pub tokens: u64,
    pub batches: u64,
    pub max_batch_texts: u64,
    pub model_ms: f64,
    pub failed_texts: u64,
    pub restarts: u64,
    pub wait_histogram: Vec<u64>,
}

impl CounterSnapshot {
    /// The wait below which `quantile` of the texts waited (bucket upper bound), in ms.
    pub fn wait_quantile_ms(&self, quantile: f64) -> Option<f64> {
        let total: u64 = self.wait_histogram.iter().sum();
        if total == 0 {
            return None;
        }
        let target = (quantile * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (bucket, &count) in self.wait_histogram.iter().enumerate() {
            seen += count;
            if seen >= target {
                return Some(bucket_upper_us(bucket) / 1000.0);
            }
        }
        None
    }

    pub fn mean_batch_texts(&self) -> Option<f64> {
        (self.batches > 0).then(|| self.texts as f64 / self.batches as f64)
    }
}

impl Default for Counters {
    fn default() -> Self {
        let zero = || AtomicU64::new(0);
        Counters {
            requests: zero(),
            texts: zero(),
            tokens: zero(),
            batches: zero(),
            max_batch_texts: zero(),
            model_ns: zero(),
            failed_texts: zero(),
            restarts: zero(),
            wait_histogram: std::array::from_fn(|_| zero()),
        }
    }
}

impl Counters {
    pub fn snapshot(&self) -> CounterSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CounterSnapshot {
            requests: get(&self.requests),
            texts: get(&self.texts),
            tokens: get(&self.tokens),
            batches: get(&self.batches),
            max_batch_texts: get(&self.max_batch_texts),
            model_ms: get(&self.model_ns) as f64 / 1e6,
            failed_texts: get(&self.failed_texts),
            restarts: get(&self.restarts),
            wait_histogram: self.wait_histogram.iter().map(get).collect(),
        }
    }

    pub fn record_wait(&self, us: u64) {
        self.wait_histogram[wait_bucket(us)].fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_bucket_bounds() {
        let counters = Counters::default();
        for us in [10, 10, 10, 10, 10, 10, 10, 10, 10, 5000] {
            counters.record_wait(us);
        }
        let snapshot = counters.snapshot();
        let p50 = snapshot.wait_quantile_ms(0.5).unwrap();
        let p99 = snapshot.wait_quantile_ms(0.99).unwrap();
        // Upper bounds: within one bucket (19%) above the true value.
        assert!((0.010..0.0125).contains(&p50), "{p50}");
        assert!((5.0..6.0).contains(&p99), "{p99}");
        assert_eq!(Counters::default().snapshot().wait_quantile_ms(0.5), None);
    }

    #[test]
    fn buckets_are_monotone_and_bounded() {
        let mut last = 0;
        for us in [0, 1, 2, 3, 10, 100, 1_000, 1_000_000, u64::MAX / 2] {
            let b = wait_bucket(us);
            assert!(b >= last && b < WAIT_BUCKETS);
            assert!(us as f64 <= bucket_upper_us(b) || b == WAIT_BUCKETS - 1);
            last = b;
        }
    }
}
