-- tasb 0.1.0 -> 0.2.0: tasb_chunk, which splits long documents into passages that fit the
-- model's input. Nothing else in the SQL surface changed; indexes keep their layout.
\echo Use "ALTER EXTENSION tasb UPDATE TO '0.2.0'" to load this file. \quit

CREATE FUNCTION "tasb_chunk"(
	"document" TEXT,
	"max_tokens" INT DEFAULT NULL,
	"overlap" INT DEFAULT 0
) RETURNS TABLE (
	"ordinal" INT,
	"passage" TEXT,
	"tokens" INT,
	"start_char" INT
)
STABLE PARALLEL RESTRICTED
LANGUAGE c
AS 'MODULE_PATHNAME', 'tasb_chunk_wrapper';
