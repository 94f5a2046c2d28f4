-- Text input and output of tasbvec, the dimension modifier, and every input error.
SELECT '[1,2.5,-3e-2]'::tasbvec;
SELECT '  [ 1 ,  2 ,3 ]  '::tasbvec;
SELECT '[1e-5,1.5e20,123456,0.0001,-0]'::tasbvec;
SELECT '[3.4028235e38,1e-45]'::tasbvec;
SELECT '[1,2,3]'::tasbvec(3);
SELECT vector_dims('[1,2,3]'::tasbvec), vector_norm('[3,4]'::tasbvec);
SELECT NULL::tasbvec IS NULL AS null_stays_null;

-- Malformed literals say what and where.
SELECT '1,2,3]'::tasbvec;
SELECT '[1,2,3'::tasbvec;
SELECT '[1,,3]'::tasbvec;
SELECT '[1,2x,3]'::tasbvec;
SELECT '[1 2]'::tasbvec;
SELECT '[1,2] 3'::tasbvec;
SELECT ''::tasbvec;
SELECT '[]'::tasbvec;
SELECT '[1,NaN]'::tasbvec;
SELECT '[Infinity]'::tasbvec;
SELECT '[1,-inf]'::tasbvec;
SELECT '[1e39]'::tasbvec;
SELECT ('[' || array_to_string(array_fill(1, ARRAY[16001]), ',') || ']')::tasbvec;
SELECT vector_dims(('[' || array_to_string(array_fill(1, ARRAY[16000]), ',') || ']')::tasbvec);

-- The modifier.
SELECT '[1,2]'::tasbvec(3);
SELECT '[1,2,3]'::tasbvec(0);
SELECT '[1,2,3]'::tasbvec(16001);
SELECT '[1,2,3]'::tasbvec(3, 4);
SELECT '[1,2,3]'::tasbvec('x');
CREATE TABLE t (id int, emb tasbvec(3));
INSERT INTO t VALUES (1, '[1,2,3]');
INSERT INTO t VALUES (2, '[1,2]');
INSERT INTO t VALUES (3, ARRAY[1,2,3,4]::real[]);
INSERT INTO t VALUES (4, '[4,5,6]'::tasbvec(3));
INSERT INTO t VALUES (5, NULL);
SELECT * FROM t ORDER BY id;
SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'emb';
SELECT attstorage FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'emb';
DROP TABLE t;

-- Casts to and from arrays.
SELECT ARRAY[1,2,3]::real[]::tasbvec;
SELECT ARRAY[1.5,2,3]::double precision[]::tasbvec;
SELECT ARRAY[1,2,3]::int[]::tasbvec;
SELECT ARRAY[1,2,3]::real[]::tasbvec(3);
SELECT ARRAY[1,2,3]::real[]::tasbvec(2);
SELECT '[1,2.5,3]'::tasbvec::real[];
SELECT '[1,2.5,3]'::tasbvec::double precision[];
SELECT ARRAY[1,NULL,3]::real[]::tasbvec;
SELECT ARRAY[[1,2],[3,4]]::real[]::tasbvec;
SELECT ARRAY[]::real[]::tasbvec;
SELECT ARRAY['NaN']::real[]::tasbvec;
SELECT ARRAY[1e300]::double precision[]::tasbvec;
SELECT ARRAY['Infinity']::double precision[]::tasbvec;
