-- tasb 0.2.0 -> 0.3.0: tasb_ivf_stats also returns estimated_recall, the recall@10 the index's
-- build measured for its default probes. tasb_ivf scans rank lists by the cosine between the query
-- and each centroid, and builds aim the default probes at a recall; indexes built by 0.2.0 keep
-- working (their estimated_recall is NULL until a REINDEX).
\echo Use "ALTER EXTENSION tasb UPDATE TO '0.3.0'" to load this file. \quit

DROP FUNCTION "tasb_ivf_stats"(oid);

CREATE  FUNCTION "tasb_ivf_stats"(
	"index" oid /* pg_sys :: Oid */
) RETURNS TABLE (
	"dims" INT,  /* i32 */
	"lists" INT,  /* i32 */
	"default_probes" INT,  /* i32 */
	"probes_now" INT,  /* i32 */
	"pages" bigint,  /* i64 */
	"estimated_recall" double precision  /* Option < f64 > */
)
STRICT VOLATILE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'tasb_ivf_stats_wrapper';
