-- tasbhalf: half-precision storage, the same text form, conversions both ways.
SELECT '[1,2.5,-3e-2]'::tasbhalf;
SELECT '[65504,-65504,0.00006103515625]'::tasbhalf;
SELECT '[1,2,3]'::tasbhalf(3);
SELECT '[1,2]'::tasbhalf(3);
SELECT '[70000]'::tasbhalf;
SELECT '[1,NaN]'::tasbhalf;
SELECT '[1,'::tasbhalf;
SELECT '[]'::tasbhalf;
SELECT vector_dims('[1,2,3]'::tasbhalf), vector_norm('[3,4]'::tasbhalf);

-- Between the two types.
SELECT '[1.1,2.2]'::tasbvec::tasbhalf;
SELECT '[1.1,2.2]'::tasbhalf::tasbvec;
SELECT '[1,100000]'::tasbvec::tasbhalf;
SELECT '[1,2,3]'::tasbvec::tasbhalf(2);

-- Arrays.
SELECT ARRAY[1,2,3]::real[]::tasbhalf;
SELECT ARRAY[1,2,3]::double precision[]::tasbhalf;
SELECT ARRAY[1,2,3]::int[]::tasbhalf;
SELECT ARRAY[1,2,99999]::int[]::tasbhalf;
SELECT '[1,2.5]'::tasbhalf::real[];
SELECT '[1,2.5]'::tasbhalf::double precision[];

-- A column keeps half the bytes of tasbvec (varied values, so nothing compresses).
CREATE TABLE h (id int, emb tasbhalf(768), full_emb tasbvec(768));
INSERT INTO h SELECT 1, v::tasbhalf(768), v FROM (SELECT array_agg(sin(i)::real)::tasbvec(768) AS v FROM generate_series(1, 768) i) s;
SELECT pg_column_size(emb) AS half_bytes, pg_column_size(full_emb) AS full_bytes FROM h;
DROP TABLE h;
