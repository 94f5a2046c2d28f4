-- tasb 0.3.0 -> 0.4.0: the encoder service. With tasb in shared_preload_libraries one process
-- serves the configured model to every session; tasb_service_stats() shows what it serves and how
-- it has been doing, and tasb_stats() also counts this session's calls and texts it answered.
\echo Use "ALTER EXTENSION tasb UPDATE TO '0.4.0'" to load this file. \quit

DROP FUNCTION "tasb_stats"();

CREATE  FUNCTION "tasb_stats"() RETURNS TABLE (
	"model_dir" TEXT,  /* Option < String > */
	"device" TEXT,  /* Option < String > */
	"model_calls" bigint,  /* i64 */
	"texts" bigint,  /* i64 */
	"tokens" bigint,  /* i64 */
	"model_ms" double precision,  /* f64 */
	"cache_hits" bigint,  /* i64 */
	"service_calls" bigint,  /* i64 */
	"service_texts" bigint  /* i64 */
)
STRICT VOLATILE PARALLEL RESTRICTED
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'tasb_stats_wrapper';

CREATE  FUNCTION "tasb_service_stats"() RETURNS TABLE (
	"state" TEXT,  /* String */
	"model_dir" TEXT,  /* Option < String > */
	"device" TEXT,  /* Option < String > */
	"threads" INT,  /* Option < i32 > */
	"pid" INT,  /* Option < i32 > */
	"requests" bigint,  /* Option < i64 > */
	"texts" bigint,  /* Option < i64 > */
	"tokens" bigint,  /* Option < i64 > */
	"batches" bigint,  /* Option < i64 > */
	"texts_per_batch" double precision,  /* Option < f64 > */
	"max_texts_per_batch" bigint,  /* Option < i64 > */
	"queue_wait_p50_ms" double precision,  /* Option < f64 > */
	"queue_wait_p99_ms" double precision,  /* Option < f64 > */
	"model_ms" double precision,  /* Option < f64 > */
	"failed_texts" bigint,  /* Option < i64 > */
	"restarts" bigint,  /* Option < i64 > */
	"slots_in_use" INT,  /* Option < i32 > */
	"last_error" TEXT  /* Option < String > */
)
STRICT VOLATILE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'tasb_service_stats_wrapper';
