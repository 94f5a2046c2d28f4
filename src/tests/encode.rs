//! `tasb_encode` and friends in a real backend, on the tiny fixture model (scripts/test.sh copies
//! it to $TASB_HOME/models), checked against the PyTorch reference vectors.

#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    const REFERENCE: &str = include_str!("../../tests/fixtures/tiny-distilbert/reference.json");

    fn reference_cls(text: &str) -> Vec<f64> {
        let r: serde_json::Value = serde_json::from_str(REFERENCE).unwrap();
        let case = r["texts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["text"] == text)
            .unwrap();
        case["cls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    }

    fn vector(sql: &str) -> Vec<f64> {
        Spi::get_one::<Vec<f64>>(sql).unwrap().unwrap()
    }

    fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
    }

    fn model_calls_and_hits() -> (i64, i64) {
        let calls = Spi::get_one::<i64>("SELECT model_calls FROM tasb_stats()")
            .unwrap()
            .unwrap();
        let hits = Spi::get_one::<i64>("SELECT cache_hits FROM tasb_stats()")
            .unwrap()
            .unwrap();
        (calls, hits)
    }

    #[pg_test]
    fn encode_matches_pytorch() {
        for text in [
            "what is the transformers library",
            "",
            "The Transformers library provides thousands of pretrained models. 🤗🙂",
        ] {
            let got = vector(&format!("SELECT tasb_encode('{text}')::float8[]"));
            let diff = max_abs_diff(&got, &reference_cls(text));
            assert!(diff <= 1e-4, "{text:?}: {diff}");
        }
        assert_eq!(
            Spi::get_one::<bool>("SELECT tasb_encode(NULL) IS NULL").unwrap(),
            Some(true)
        );
    }

    #[pg_test]
    fn batch_keeps_order_and_nulls_and_matches_single_calls() {
        let n = Spi::get_one::<i64>(
            "WITH b AS (SELECT tasb_encode_batch(ARRAY['a', NULL, 'what is the transformers library', '']) AS v)
             SELECT count(*) FROM b, unnest(v) WITH ORDINALITY u(x, i)
             WHERE (i = 2 AND x IS NULL)
                OR (i = 1 AND x <-> tasb_encode('a') < 1e-4)
                OR (i = 3 AND x <-> tasb_encode('what is the transformers library') < 1e-4)
                OR (i = 4 AND x <-> tasb_encode('') < 1e-4)",
        );
        assert_eq!(n.unwrap(), Some(4));
    }

    #[pg_test]
    fn the_model_runs_once_per_statement_on_a_seq_scan_and_a_generic_plan() {
        Spi::run(
            "CREATE TABLE passages AS
             SELECT i AS id, array_agg(sin(i * j)::real ORDER BY j)::tasbvec(16) AS emb
             FROM generate_series(1, 300) i, generate_series(1, 16) j GROUP BY i",
        )
        .unwrap();
        let (calls0, hits0) = model_calls_and_hits();
        Spi::run("SELECT id FROM passages ORDER BY emb <#> tasb_encode('a fresh query') LIMIT 10")
            .unwrap();
        let (calls1, hits1) = model_calls_and_hits();
        assert_eq!(calls1 - calls0, 1, "one model call for 300 rows");
        assert!(
            hits1 - hits0 >= 299,
            "the other rows hit the cache: {}",
            hits1 - hits0
        );

        Spi::run("SET plan_cache_mode = force_generic_plan").unwrap();
        Spi::run("PREPARE ranked(text) AS SELECT id FROM passages ORDER BY emb <#> tasb_encode($1) LIMIT 10").unwrap();
        Spi::run("EXECUTE ranked('another query')").unwrap();
        let (calls2, _) = model_calls_and_hits();
        assert_eq!(calls2 - calls1, 1, "one model call in a generic plan");
    }

    #[pg_test]
    fn score_and_rerank_agree_and_rank_best_first() {
        let rows = Spi::connect(|client| {
            client
                .select(
                    "SELECT position, score FROM tasb_rerank('transformers library', ARRAY['cats', NULL, 'the transformers library', 'dogs'])",
                    None,
                    &[],
                )
                .unwrap()
                .map(|r| (r.get::<i32>(1).unwrap().unwrap(), r.get::<f64>(2).unwrap()))
                .collect::<Vec<_>>()
        });
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[3], (2, None), "NULL passage last, without a score");
        let scores: Vec<f64> = rows[..3].iter().map(|r| r.1.unwrap()).collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
        let direct = Spi::get_one::<f64>(&format!(
            "SELECT tasb_score('transformers library', (ARRAY['cats', NULL, 'the transformers library', 'dogs'])[{}])",
            rows[0].0
        ))
        .unwrap()
        .unwrap();
        assert!((direct - scores[0]).abs() < 1e-4);
    }

    #[pg_test]
    fn long_text_is_truncated_not_a_crash() {
        let dims =
            Spi::get_one::<i32>("SELECT vector_dims(tasb_encode(repeat('retrieval ', 110000)))")
                .unwrap();
        assert_eq!(dims, Some(16));
    }

    #[pg_test(error = "expected 768 dimensions, not 16")]
    fn a_column_of_another_size_rejects_the_model_output() {
        Spi::run("CREATE TABLE wide (emb tasbvec(768))").unwrap();
        Spi::run("INSERT INTO wide VALUES (tasb_encode('x'))").unwrap();
    }

    #[pg_test(error = "model directory \"/nonexistent/model\" does not exist")]
    fn a_missing_model_is_a_clear_error() {
        Spi::run("SET tasb.model_dir = '/nonexistent/model'").unwrap();
        Spi::run("SELECT tasb_encode('x')").unwrap();
    }

    #[pg_test(error = "tasb.model_dir is not set")]
    fn an_unset_model_is_a_clear_error() {
        Spi::run("SET tasb.model_dir = ''").unwrap();
        Spi::run("SELECT tasb_encode('x')").unwrap();
    }

    #[pg_test]
    fn without_preloading_there_is_no_service_and_the_session_encodes() {
        let state = Spi::get_one::<String>("SELECT state FROM tasb_service_stats()").unwrap();
        assert_eq!(state.as_deref(), Some("not preloaded"));
        let got = vector("SELECT tasb_encode('a')::real[]::float8[]");
        assert!(max_abs_diff(&got, &reference_cls("a")) <= 1e-4);
        let service_calls = Spi::get_one::<i64>("SELECT service_calls FROM tasb_stats()").unwrap();
        assert_eq!(service_calls, Some(0));
    }
}
