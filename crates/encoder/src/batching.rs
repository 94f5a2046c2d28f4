//! Length-sorted batching: texts of similar length share a batch, so little work is spent on padding.

/// Groups text indices into batches of at most `batch_size`, longest first. Every index appears
/// exactly once; callers put results back in input order by index.
pub fn length_sorted_batches(lengths: &[usize], batch_size: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
    order
        .chunks(batch_size.max(1))
        .map(|c| c.to_vec())
        .collect()
}

/// Token slots a batching spends, padding included (each batch is padded to its longest text).
pub fn padded_slots(lengths: &[usize], batches: &[Vec<usize>]) -> usize {
    batches
        .iter()
        .map(|b| b.len() * b.iter().map(|&i| lengths[i]).max().unwrap_or(0))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_index_once_in_batches_of_at_most_the_size() {
        let lengths = [5, 80, 12, 3, 77, 40, 41, 9, 128, 2];
        let batches = length_sorted_batches(&lengths, 4);
        let mut seen: Vec<usize> = batches.concat();
        seen.sort();
        assert_eq!(seen, (0..lengths.len()).collect::<Vec<_>>());
        assert!(batches.iter().all(|b| !b.is_empty() && b.len() <= 4));
        assert_eq!(batches[0][0], 8, "longest first");
    }

    #[test]
    fn sorting_wastes_less_padding_than_input_order() {
        // A mix like MS MARCO: mostly 40-90 tokens with a few long ones.
        let lengths: Vec<usize> = (0..256)
            .map(|i| 40 + (i * 37 % 50) + if i % 17 == 0 { 120 } else { 0 })
            .collect();
        let sorted = length_sorted_batches(&lengths, 32);
        let unsorted: Vec<Vec<usize>> = (0..256)
            .collect::<Vec<_>>()
            .chunks(32)
            .map(|c| c.to_vec())
            .collect();
        let useful: usize = lengths.iter().sum();
        assert!(padded_slots(&lengths, &sorted) < padded_slots(&lengths, &unsorted));
        assert!((padded_slots(&lengths, &sorted) as f64) < 1.2 * useful as f64);
    }

    #[test]
    fn empty_input_and_zero_batch_size() {
        assert!(length_sorted_batches(&[], 8).is_empty());
        assert_eq!(length_sorted_batches(&[1, 2], 0).len(), 2);
    }
}
