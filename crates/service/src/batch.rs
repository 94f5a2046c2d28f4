//! Which queued texts run together. The oldest waiting text always goes next (nobody starves, and
//! a lone query runs at once, never waiting for company); it takes with it the waiting texts
//! closest to it in length, as many as the device's budget allows, so batches carry little
//! padding.

/// Per-device limits on one model call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPolicy {
    pub max_texts: usize,
    /// Texts times the longest text's tokens: the padded input the call computes on.
    pub max_padded_tokens: usize,
}

impl BatchPolicy {
    /// On a CPU, calls of more than about 8 texts get slower per text (padding and activations
    /// that leave the cache; bench/service.py measures it); a GPU needs hundreds to be busy.
    pub fn for_device(cuda: bool) -> BatchPolicy {
        if cuda {
            BatchPolicy {
                max_texts: 256,
                max_padded_tokens: 256 * 256,
            }
        } else {
            BatchPolicy {
                max_texts: 8,
                max_padded_tokens: 8 * 256,
            }
        }
    }
}

/// One waiting text: its token count and when it was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiting {
    pub tokens: usize,
    pub queued_us: u64,
}

/// The positions (in `waiting`) of the next batch: the oldest text and its nearest neighbours in
/// length within the policy. Empty only when nothing waits.
pub fn next_batch(waiting: &[Waiting], policy: BatchPolicy) -> Vec<usize> {
    let Some(oldest) = (0..waiting.len()).min_by_key(|&i| (waiting[i].queued_us, i)) else {
        return Vec::new();
    };
    let mut by_length: Vec<usize> = (0..waiting.len()).collect();
    by_length.sort_by_key(|&i| (waiting[i].tokens, i));
    let at = by_length.iter().position(|&i| i == oldest).unwrap_or(0);
    let (mut low, mut high) = (at, at + 1); // the batch is by_length[low..high]
    let anchor = waiting[oldest].tokens;
    let fits = |low: usize, high: usize| {
        let longest = waiting[by_length[high - 1]].tokens;
        high - low <= policy.max_texts && (high - low) * longest <= policy.max_padded_tokens
    };
    loop {
        // Grow by the nearer neighbour in length among those that still fit.
        let shorter = (low > 0 && fits(low - 1, high))
            .then(|| (anchor - waiting[by_length[low - 1]].tokens, low - 1, high));
        let longer = (high < by_length.len() && fits(low, high + 1))
            .then(|| (waiting[by_length[high]].tokens - anchor, low, high + 1));
        match [shorter, longer].into_iter().flatten().min_by_key(|o| o.0) {
            Some((_, new_low, new_high)) => (low, high) = (new_low, new_high),
            None => break,
        }
    }
    by_length[low..high].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(lengths: &[usize]) -> Vec<Waiting> {
        lengths
            .iter()
            .enumerate()
            .map(|(i, &tokens)| Waiting {
                tokens,
                queued_us: i as u64,
            })
            .collect()
    }

    const CPU: BatchPolicy = BatchPolicy {
        max_texts: 8,
        max_padded_tokens: 8 * 256,
    };

    #[test]
    fn a_lone_text_runs_alone() {
        assert_eq!(next_batch(&waiting(&[12]), CPU), vec![0]);
        assert!(next_batch(&[], CPU).is_empty());
    }

    #[test]
    fn the_oldest_goes_with_its_nearest_lengths() {
        // Oldest is 100 tokens; the 8 nearest lengths to it go, the far ones wait.
        let lengths = [100, 5, 6, 7, 98, 99, 101, 102, 103, 104, 105, 500, 3];
        let batch = next_batch(&waiting(&lengths), CPU);
        assert!(batch.contains(&0));
        assert_eq!(batch.len(), 8);
        let mut picked: Vec<usize> = batch.iter().map(|&i| lengths[i]).collect();
        picked.sort();
        assert_eq!(picked, vec![98, 99, 100, 101, 102, 103, 104, 105]);
    }

    #[test]
    fn the_token_budget_caps_long_texts() {
        // Eight 512-token texts would be 4096 padded tokens: four fit.
        let batch = next_batch(&waiting(&[512; 8]), CPU);
        assert_eq!(batch.len(), 4);
        assert!(batch.contains(&0));
        // The oldest always runs, even over the budget.
        let tight = BatchPolicy {
            max_texts: 8,
            max_padded_tokens: 10,
        };
        assert_eq!(next_batch(&waiting(&[64, 64]), tight), vec![0]);
    }

    #[test]
    fn a_long_neighbour_that_does_not_fit_leaves_room_for_short_ones() {
        // Anchor 100; the longer neighbour (400) breaks the budget, the shorter ones do not.
        let policy = BatchPolicy {
            max_texts: 8,
            max_padded_tokens: 400,
        };
        let batch = next_batch(&waiting(&[100, 400, 90, 95]), policy);
        let mut picked: Vec<usize> = batch.iter().map(|&i| [100, 400, 90, 95][i]).collect();
        picked.sort();
        assert_eq!(picked, vec![90, 95, 100]);
    }

    #[test]
    fn batches_never_break_the_budget_except_alone() {
        let mut state = 7u64;
        for _ in 0..500 {
            let n = 1 + (state % 40) as usize;
            let lengths: Vec<usize> = (0..n)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    1 + (state >> 33) as usize % 512
                })
                .collect();
            let w = waiting(&lengths);
            let batch = next_batch(&w, CPU);
            assert!(batch.contains(&0));
            let longest = batch.iter().map(|&i| lengths[i]).max().unwrap();
            assert!(batch.len() == 1 || (batch.len() <= 8 && batch.len() * longest <= 2048));
            let mut unique = batch.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), batch.len());
        }
    }
}
