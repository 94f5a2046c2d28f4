//! `tasb_ivf_recall(index)`: the index's recall@k against exact search, measured in SQL on
//! sampled rows or on the caller's own query vectors, so a user can see whether the probes in use
//! still serve them (VectorChord's `vchordrq_evaluate_query_recall` is the peer).

pgrx::extension_sql!(
    r#"
CREATE FUNCTION tasb_ivf_recall(index regclass, k int DEFAULT 10, sample int DEFAULT 20,
                                queries tasbvec[] DEFAULT NULL)
RETURNS TABLE (measured_queries int, probes int, recall double precision,
               worst_recall double precision, index_ms double precision, exact_ms double precision)
LANGUAGE plpgsql
-- The SET clauses restore the planner settings this function toggles when it returns.
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = on
SET enable_indexscan = on
AS $$
DECLARE
    tbl regclass;
    col name;
    method name;
    plan text;
    query_vectors @extschema@.tasbvec[];
    own_rows tid[];
    q @extschema@.tasbvec;
    own tid;
    exact_d float8[];
    index_d float8[];
    hits int;
    total_hits bigint := 0;
    total_expected bigint := 0;
    worst float8 := 1;
    started timestamptz;
    index_time float8 := 0;
    exact_time float8 := 0;
    n int := 0;
    probes_in_use int;
    top_k_sql text;
    distances_sql text;
    kth float8;
    op text;
BEGIN
    SELECT i.indrelid::regclass, a.attname, m.amname INTO tbl, col, method
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_am m ON m.oid = c.relam
    LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
    WHERE i.indexrelid = tasb_ivf_recall.index;
    IF method IS DISTINCT FROM 'tasb_ivf' THEN
        RAISE EXCEPTION '% is not a tasb_ivf index', tasb_ivf_recall.index
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Pass a tasb_ivf index, e.g. tasb_ivf_recall(''passages_emb''::regclass).';
    END IF;
    IF col IS NULL THEN
        RAISE EXCEPTION 'tasb_ivf_recall needs an index on a column, not on an expression'
            USING ERRCODE = 'feature_not_supported';
    END IF;
    IF tasb_ivf_recall.k IS NULL OR tasb_ivf_recall.k NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'k must be between 1 and 1000, not %', tasb_ivf_recall.k
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF tasb_ivf_recall.queries IS NULL AND (sample IS NULL OR sample NOT BETWEEN 1 AND 10000) THEN
        RAISE EXCEPTION 'sample must be between 1 and 10000, not %', sample
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Each sampled query runs one exact search over the whole table.';
    END IF;
    -- The probes in use, and the operator the index orders by.
    SELECT s.probes_now, CASE s.metric WHEN 'cosine' THEN '<=>' ELSE '<#>' END INTO probes_in_use, op
    FROM @extschema@.tasb_ivf_stats(tasb_ivf_recall.index) s;

    IF tasb_ivf_recall.queries IS NULL THEN
        -- Rows of the table as queries; each one's own row is left out of both answers, since
        -- finding a row from itself is easier than any real query.
        EXECUTE format('SELECT array_agg(v), array_agg(t) FROM (SELECT %1$I::@extschema@.tasbvec AS v, ctid AS t FROM %2$s '
                       'WHERE %1$I IS NOT NULL ORDER BY random() LIMIT $1) s', col, tbl)
            INTO query_vectors, own_rows USING sample;
    ELSE
        query_vectors := tasb_ivf_recall.queries;
    END IF;
    IF coalesce(cardinality(query_vectors), 0) = 0 THEN
        RAISE EXCEPTION 'no queries: % has no rows with a vector in %', tbl, col
            USING ERRCODE = 'no_data_found', HINT = 'Pass query vectors as the queries argument.';
    END IF;

    -- One query for both answers: the planner settings decide whether it scans the table or the index.
    top_k_sql := format('SELECT %1$I OPERATOR(@extschema@.%3$s) $1 AS d FROM %2$s '
                        'WHERE ctid IS DISTINCT FROM $3 AND %1$I IS NOT NULL ORDER BY %1$I OPERATOR(@extschema@.%3$s) $1 LIMIT $2', col, tbl, op);
    distances_sql := 'SELECT array_agg(d) FROM (' || top_k_sql || ') s';
    -- The index scan must be this index's: check the plan once.
    PERFORM set_config('enable_seqscan', 'off', true);
    FOR plan IN EXECUTE 'EXPLAIN (COSTS OFF) ' || top_k_sql USING query_vectors[1], tasb_ivf_recall.k, NULL::tid LOOP
        EXIT WHEN plan LIKE '%Index Scan using ' || quote_ident((SELECT relname FROM pg_class WHERE oid = tasb_ivf_recall.index)) || ' %';
        plan := NULL;
    END LOOP;
    IF plan IS NULL THEN
        RAISE EXCEPTION 'the planner does not answer ORDER BY % % q LIMIT % on % with %', col, op, tasb_ivf_recall.k, tbl, tasb_ivf_recall.index
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Another index on the column may be preferred; drop it or measure that one.';
    END IF;

    FOR i IN 1 .. cardinality(query_vectors) LOOP
        q := query_vectors[i];
        own := own_rows[i];   -- NULL for the caller's queries
        PERFORM set_config('enable_seqscan', 'on', true);
        PERFORM set_config('enable_indexscan', 'off', true);
        started := clock_timestamp();
        EXECUTE distances_sql INTO exact_d USING q, tasb_ivf_recall.k, own;
        exact_time := exact_time + extract(epoch FROM clock_timestamp() - started) * 1000;
        PERFORM set_config('enable_seqscan', 'off', true);
        PERFORM set_config('enable_indexscan', 'on', true);
        started := clock_timestamp();
        EXECUTE distances_sql INTO index_d USING q, tasb_ivf_recall.k, own;
        index_time := index_time + extract(epoch FROM clock_timestamp() - started) * 1000;
        CONTINUE WHEN exact_d IS NULL;
        -- A hit is a returned row at least as close as the exact k-th: ties count either way.
        kth := (SELECT max(d) FROM unnest(exact_d) d);
        SELECT count(*) INTO hits FROM unnest(index_d) d WHERE d <= kth + 1e-6 * abs(kth);
        hits := least(hits, cardinality(exact_d));
        total_hits := total_hits + hits;
        total_expected := total_expected + cardinality(exact_d);
        worst := least(worst, hits::float8 / cardinality(exact_d));
        n := n + 1;
    END LOOP;

    measured_queries := n;
    probes := probes_in_use;
    recall := CASE WHEN total_expected > 0 THEN total_hits::float8 / total_expected END;
    worst_recall := worst;
    index_ms := index_time / greatest(n, 1);
    exact_ms := exact_time / greatest(n, 1);
    IF recall < 0.9 THEN
        RAISE WARNING 'recall@% of % is %, reading % lists per round', tasb_ivf_recall.k, tasb_ivf_recall.index, round(recall::numeric, 3), probes
            USING HINT = format('Raise tasb.probes (SET tasb.probes = %s, then measure again), or REINDEX if most rows arrived after the index was built.', probes * 2);
    END IF;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION tasb_ivf_recall(regclass, int, int, tasbvec[]) IS
    'recall@k of a tasb_ivf index against exact search, on sampled rows (their own row left out) or on the given query vectors';
"#,
    name = "ivf_recall",
    requires = ["ivf_access_method", index::stats::tasb_ivf_stats]
);
