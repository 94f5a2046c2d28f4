-- Distance operators and functions, all operand mixes, NULLs and dimension mismatches.
SELECT '[1,2,3]'::tasbvec <#> '[4,5,6]'::tasbvec AS neg_ip;
SELECT inner_product('[1,2,3]'::tasbvec, '[4,5,6]'::tasbvec) AS ip;
SELECT negative_inner_product('[1,2,3]'::tasbvec, '[4,5,6]'::tasbvec) AS neg_ip;
SELECT '[1,0]'::tasbvec <=> '[0,1]'::tasbvec AS cos_orthogonal,
       '[1,1]'::tasbvec <=> '[2,2]'::tasbvec AS cos_same,
       '[1,0]'::tasbvec <=> '[-1,0]'::tasbvec AS cos_opposite;
SELECT '[0,0]'::tasbvec <=> '[1,1]'::tasbvec AS cos_zero_is_nan;
SELECT '[0,0]'::tasbvec <-> '[3,4]'::tasbvec AS l2;
SELECT l2_distance('[1,1]'::tasbvec, '[1,1]'::tasbvec) AS l2_zero, cosine_distance('[1,2]'::tasbvec, '[2,4]'::tasbvec) AS cos;

-- tasbhalf and mixes compute in float4.
SELECT '[1,2,3]'::tasbhalf <#> '[4,5,6]'::tasbhalf AS hh,
       '[1,2,3]'::tasbvec <#> '[4,5,6]'::tasbhalf AS vh,
       '[1,2,3]'::tasbhalf <#> '[4,5,6]'::tasbvec AS hv;
SELECT '[0,0]'::tasbhalf <-> '[3,4]'::tasbvec AS l2_hv, '[1,0]'::tasbvec <=> '[0,1]'::tasbhalf AS cos_vh;
SELECT inner_product('[1,2]'::tasbhalf, '[3,4]'::tasbhalf), l2_distance('[1,2]'::tasbhalf, '[1,2]'::tasbhalf);

-- Strict: a NULL operand gives NULL, not an error.
SELECT '[1,2]'::tasbvec <#> NULL::tasbvec IS NULL AS is_null, inner_product(NULL, '[1]'::tasbvec) IS NULL AS is_null_too;

-- Dimension mismatch names both sizes.
SELECT '[1,2,3]'::tasbvec <#> '[1,2]'::tasbvec;
SELECT '[1,2]'::tasbhalf <=> '[1,2,3]'::tasbvec;
SELECT l2_distance('[1]'::tasbvec, '[1,2]'::tasbvec);

-- Long vectors exercise every SIMD tail; compare with an independent float8 sum in SQL.
WITH v AS (
    SELECT n, array_agg(sin(i * 0.37 + n)::real ORDER BY i) AS a, array_agg(cos(i * 0.11 - n)::real ORDER BY i) AS b
    FROM generate_series(1, 40) n, generate_series(1, 800) i WHERE i <= n * 20
    GROUP BY n
), ref AS (
    SELECT n, (SELECT sum(x::float8 * y::float8) FROM unnest(a, b) u(x, y)) AS ip,
              (SELECT sqrt(sum((x::float8 - y::float8) ^ 2)) FROM unnest(a, b) u(x, y)) AS l2
    FROM v
)
SELECT count(*) AS vectors,
       bool_and(abs(inner_product(a::tasbvec, b::tasbvec) - ip) < 1e-3) AS ip_matches,
       bool_and(abs(-(a::tasbvec <#> b::tasbvec) - ip) < 1e-3) AS neg_ip_matches,
       bool_and(abs((a::tasbvec <-> b::tasbvec) - l2) < 1e-3) AS l2_matches,
       bool_and(abs(inner_product(a::tasbhalf, b::tasbvec) - ip) < 0.05 * greatest(1, abs(ip))) AS half_close
FROM v JOIN ref USING (n);

-- The operators are registered with commutators and volatility as documented.
SELECT oprname, oprleft::regtype, oprright::regtype, oprcom::regoperator
FROM pg_operator WHERE oprname IN ('<#>', '<=>', '<->') AND oprleft::regtype::text LIKE 'tasb%'
ORDER BY 1, 2, 3;
SELECT DISTINCT provolatile, proisstrict, proparallel FROM pg_proc
WHERE proname IN ('inner_product', 'negative_inner_product', 'cosine_distance', 'l2_distance', 'vector_dims', 'vector_norm')
  AND pronamespace = 'public'::regnamespace;
