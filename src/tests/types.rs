//! In-server tests of the types for what SQL cannot reach: binary receive errors, and an
//! exact search over 768-d vectors checked against a ranking computed here in f64.

#[pgrx::pg_schema]
mod tests {
    use crate::types::io::{tasbhalf_recv, tasbvec_recv};
    use pgrx::prelude::*;
    use pgrx::Internal;

    /// A StringInfo holding `bytes`, as Postgres hands it to a receive function.
    fn message(bytes: &[u8]) -> Internal {
        // SAFETY: makeStringInfo pallocs a valid, empty buffer; appendBinaryStringInfo copies
        // exactly bytes.len() bytes into it.
        unsafe {
            let buf = pg_sys::makeStringInfo();
            pg_sys::appendBinaryStringInfo(buf, bytes.as_ptr() as *const _, bytes.len() as i32);
            Internal::from(Some(pg_sys::Datum::from(buf)))
        }
    }

    #[pg_test(
        error = "invalid binary tasbvec value: binary vector reserved field must be 0, not 7"
    )]
    fn recv_rejects_a_nonzero_reserved_field() {
        tasbvec_recv(
            message(&[0, 1, 0, 7, 0x3f, 0x80, 0, 0]),
            pg_sys::InvalidOid,
            -1,
        );
    }

    #[pg_test(
        error = "invalid binary tasbvec value: binary vector of 2 dimensions needs 8 bytes of elements, got 4"
    )]
    fn recv_rejects_a_truncated_body() {
        tasbvec_recv(
            message(&[0, 2, 0, 0, 0x3f, 0x80, 0, 0]),
            pg_sys::InvalidOid,
            -1,
        );
    }

    #[pg_test(error = "invalid binary tasbvec value: binary vector header needs 4 bytes, got 2")]
    fn recv_rejects_a_short_header() {
        tasbvec_recv(message(&[0, 2]), pg_sys::InvalidOid, -1);
    }

    #[pg_test(
        error = "invalid binary tasbvec value: NaN and infinity are not allowed in a vector (element 1)"
    )]
    fn recv_rejects_nan() {
        tasbvec_recv(
            message(&[0, 1, 0, 0, 0x7f, 0xc0, 0, 0]),
            pg_sys::InvalidOid,
            -1,
        );
    }

    #[pg_test(error = "invalid binary tasbhalf value: a vector must have at least 1 dimension")]
    fn recv_rejects_zero_dimensions() {
        tasbhalf_recv(message(&[0, 0, 0, 0]), pg_sys::InvalidOid, -1);
    }

    #[pg_test(error = "expected 3 dimensions, not 1")]
    fn recv_enforces_the_column_modifier() {
        tasbvec_recv(
            message(&[0, 1, 0, 0, 0x3f, 0x80, 0, 0]),
            pg_sys::InvalidOid,
            3,
        );
    }

    #[pg_test]
    fn simd_kernel_is_reported() {
        let kernel = Spi::get_one::<String>("SELECT tasb_simd_kernel()")
            .unwrap()
            .unwrap();
        assert!(
            ["scalar", "avx2+fma", "avx512f", "neon"].contains(&kernel.as_str()),
            "{kernel}"
        );
    }

    /// Deterministic pseudo-random elements, independent of any SQL function.
    fn element(row: u64, dim: u64) -> f32 {
        let mut x = (row * 1_000_003 + dim).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x ^= x >> 29;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^= x >> 32;
        ((x >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    }

    fn literal(v: &[f32]) -> String {
        let parts: Vec<String> = v.iter().map(|x| format!("{x:?}")).collect();
        format!("[{}]", parts.join(","))
    }

    #[pg_test]
    fn exact_top10_over_768d_matches_an_f64_reference() {
        const ROWS: u64 = 2000;
        const DIMS: u64 = 768;
        Spi::run("CREATE TABLE passages (id int8 PRIMARY KEY, emb tasbvec(768))").unwrap();
        let rows: Vec<Vec<f32>> = (0..ROWS)
            .map(|r| {
                let scale = 1.0 + (r % 5) as f32 * 0.25; // norms vary, as TAS-B's do
                (0..DIMS).map(|d| element(r, d) * scale).collect()
            })
            .collect();
        for chunk in rows.chunks(200).enumerate() {
            let (c, vectors) = chunk;
            let values: Vec<String> = vectors
                .iter()
                .enumerate()
                .map(|(i, v)| format!("({}, '{}')", c * 200 + i, literal(v)))
                .collect();
            Spi::run(&format!("INSERT INTO passages VALUES {}", values.join(","))).unwrap();
        }
        for q in 0..3u64 {
            let query: Vec<f32> = (0..DIMS).map(|d| element(ROWS + 100 + q, d)).collect();
            let mut reference: Vec<(f64, i64)> = rows
                .iter()
                .enumerate()
                .map(|(id, v)| {
                    (
                        v.iter()
                            .zip(&query)
                            .map(|(a, b)| f64::from(*a) * f64::from(*b))
                            .sum(),
                        id as i64,
                    )
                })
                .collect();
            reference.sort_by(|a, b| b.0.total_cmp(&a.0));
            let tenth = reference[9].0;
            let sql = format!(
                "SELECT array_agg(id ORDER BY d) FROM (SELECT id, emb <#> '{}' AS d FROM passages ORDER BY 2 LIMIT 10) s",
                literal(&query)
            );
            let got: Vec<i64> = Spi::get_one::<Vec<i64>>(&sql).unwrap().unwrap();
            assert_eq!(got.len(), 10);
            for id in got {
                let score = reference.iter().find(|(_, i)| *i == id).unwrap().0;
                assert!(
                    score >= tenth - 1e-4,
                    "query {q}: row {id} scores {score}, 10th best is {tenth}"
                );
            }
            let best = Spi::get_one::<f64>(&format!(
                "SELECT -(emb <#> '{}') FROM passages ORDER BY emb <#> '{}' LIMIT 1",
                literal(&query),
                literal(&query)
            ))
            .unwrap()
            .unwrap();
            assert!(
                (best - reference[0].0).abs() < 1e-4,
                "best {best} vs reference {}",
                reference[0].0
            );
        }
    }
}
