-- Encoder failures: each is an ERROR with a HINT, and this backend stays usable after each one.
-- The file runs in a fresh backend, so ONNX Runtime is not loaded yet when it starts.
\getenv tasb_home TASB_HOME
SELECT set_config('tasb_test.home', :'tasb_home', false) <> '' AS home_known;
SELECT set_config('tasb.model_dir', :'tasb_home' || '/models/tiny-distilbert', false) <> '' AS model_set;
-- The session path's own errors (the encoder service's are in tests/service.sh).
SET tasb.service = off;
-- Messages with this machine's paths in them are shown with $TASB_HOME in place of the path.
CREATE FUNCTION error_of(statement text) RETURNS TABLE (message text, hint text)
LANGUAGE plpgsql AS $$
DECLARE
    m text;
    h text;
BEGIN
    EXECUTE statement;
    RETURN QUERY SELECT 'no error'::text, NULL::text;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, h = PG_EXCEPTION_HINT;
    RETURN QUERY SELECT replace(m, current_setting('tasb_test.home'), '$TASB_HOME'), h;
END $$;
\x on
-- No library at that path.
SET tasb.onnxruntime_path = '/nonexistent/libonnxruntime.so.1.32.0';
SELECT * FROM error_of($$SELECT tasb_encode('x')$$);
-- A file that is not a shared library.
SET tasb.onnxruntime_path = '/etc/hostname';
SELECT * FROM error_of($$SELECT tasb_encode('x')$$);
-- A shared library that is not ONNX Runtime.
SET tasb.onnxruntime_path = '/lib/x86_64-linux-gnu/libz.so.1';
SELECT * FROM error_of($$SELECT tasb_encode('x')$$);
-- The right library (postgresql.conf's) still loads after those failures.
RESET tasb.onnxruntime_path;
SELECT vector_dims(tasb_encode('x')) AS dims;
SELECT device FROM tasb_stats();
-- Another library once one is loaded: the process keeps the first.
SET tasb.onnxruntime_path = '/nonexistent/other/libonnxruntime.so';
SELECT * FROM error_of($$SELECT tasb_encode('y')$$);
RESET tasb.onnxruntime_path;
-- cuda with the CPU build of ONNX Runtime: an error, never a silent CPU fall-back.
SET tasb.device = 'cuda';
SELECT * FROM error_of($$SELECT tasb_encode('x')$$);
SET tasb.device = 'tpu';
-- auto falls back to the CPU.
SET tasb.device = 'auto';
SELECT vector_dims(tasb_encode('x')) AS dims;
SELECT device FROM tasb_stats();
-- A model directory that does not exist, then one without model files.
SET tasb.model_dir = '/nonexistent/model';
SELECT * FROM error_of($$SELECT tasb_encode('x')$$);
SET tasb.model_dir = '/tmp';
SELECT * FROM error_of($$SELECT tasb_encode('x')$$);
-- A model whose output size differs from the column.
SELECT set_config('tasb.model_dir', :'tasb_home' || '/models/tiny-distilbert', false) <> '' AS model_set;
CREATE TABLE wide (body text, emb tasbvec(768));
SELECT * FROM error_of($$INSERT INTO wide VALUES ('x', tasb_encode('x'))$$);
-- NULL in, NULL out; the empty string encodes; the backend is still fine.
SELECT tasb_encode(NULL) IS NULL AS null_gives_null, vector_dims(tasb_encode('')) AS empty_dims;
