-- COPY BINARY round trip through send/recv, and the binary form's bytes.
CREATE TABLE b (id int, v tasbvec, h tasbhalf);
INSERT INTO b VALUES (1, '[1,-2.5,3e-7]', '[1,-2.5,0.5]'), (2, '[1e30]', '[65504]'), (3, NULL, NULL);
SELECT tasbvec_send('[1,-2]'::tasbvec) AS vec_bytes, tasbhalf_send('[1,-2]'::tasbhalf) AS half_bytes;
COPY b TO '/tmp/tasb_regress_b.bin' (FORMAT binary);
CREATE TABLE b2 (LIKE b);
COPY b2 FROM '/tmp/tasb_regress_b.bin' (FORMAT binary);
SELECT * FROM b2 ORDER BY id;
SELECT count(*) AS identical FROM b JOIN b2 USING (id) WHERE b.v::text = b2.v::text AND b.h::text = b2.h::text;
-- A column with a modifier rejects binary input of another length.
CREATE TABLE b3 (id int, v tasbvec(2), h tasbhalf);
COPY b3 FROM '/tmp/tasb_regress_b.bin' (FORMAT binary);
