//! Inner product as Euclidean distance. Each stored vector x gets one extra coordinate
//! sqrt(M^2 - |x|^2), where M is the largest norm; a query q gets 0. Then
//! |q' - x'|^2 = |q|^2 + M^2 - 2 q.x, so for a fixed query the nearest x' is the x with the largest
//! dot product. The graph is built with these augmented distances between stored vectors; searches
//! rank candidates by the dot product itself, which orders them identically.

/// Squared Euclidean distance between two stored vectors in the augmented space.
pub fn augmented_distance(x: &[f32], x_extra: f32, y: &[f32], y_extra: f32) -> f32 {
    let mut sum = 0.0f32;
    for (a, b) in x.iter().zip(y) {
        let d = a - b;
        sum += d * d;
    }
    let d = x_extra - y_extra;
    sum + d * d
}

/// The extra coordinate of a vector of squared norm `norm2` when the largest norm is `max_norm`.
pub fn extra_coordinate(norm2: f32, max_norm: f32) -> f32 {
    (max_norm * max_norm - norm2).max(0.0).sqrt()
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_in_the_augmented_space_is_the_largest_dot_product() {
        let points = [[3.0f32, 0.0], [0.0, 1.0], [2.0, 2.0], [-4.0, 0.5]];
        let max_norm = points.iter().map(|p| dot(p, p).sqrt()).fold(0.0, f32::max);
        let q = [1.0f32, 0.8];
        let by_distance = (0..points.len())
            .min_by(|&i, &j| {
                let d = |k: usize| {
                    let p = &points[k];
                    augmented_distance(&q, 0.0, p, extra_coordinate(dot(p, p), max_norm))
                };
                d(i).total_cmp(&d(j))
            })
            .unwrap();
        let by_dot = (0..points.len())
            .max_by(|&i, &j| dot(&q, &points[i]).total_cmp(&dot(&q, &points[j])))
            .unwrap();
        assert_eq!(by_distance, by_dot);
    }
}
