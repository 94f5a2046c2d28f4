// tasbvec and tasbhalf through Node.js's pg, as a plain role: pgvector's toSql/fromSql with type
// parsers registered by OID (pgvector's registerTypes looks for a type named "vector"), text
// results (pg 8 reads every result column as a UTF-8 string, so binary results would be mangled)
// and binary (Buffer) parameters. Run by tests/clients.sh (connection from the PG* environment
// variables); `--counts FILE` writes "PASSED FAILED" to FILE instead of the summary line.
import { writeFileSync } from 'node:fs';
import pg from 'pg';
import pgvector from 'pgvector';
import { registerTypes } from 'pgvector/pg';

let passed = 0;
let failed = 0;
function check(name, ok, detail = '') {
  if (ok) { passed++; console.log(`ok      clients/node: ${name}`); }
  else { failed++; console.log(`FAILED  clients/node: ${name}${detail === '' ? '' : ` (${detail})`}`); }
}
async function sqlstate(promise) {
  try { await promise; return 'no error'; } catch (e) { return e.code ?? String(e); }
}

// The binary form: int16 dimensions, int16 0, big-endian float4 elements.
function toBinaryVec(values) {
  const buf = Buffer.alloc(4 + 4 * values.length);
  buf.writeUInt16BE(values.length, 0);
  values.forEach((v, i) => buf.writeFloatBE(v, 4 + 4 * i));
  return buf;
}
const f32 = (a) => a.map(Math.fround);
const equal = (a, b) => a !== null && b !== null && a.length === b.length && a.every((v, i) => v === b[i]);

// A deterministic generator (xorshift32): values near a standard normal, already float32. (The
// server reads decimal text straight to float4, as float4in does; Math.fround of a double near a
// float32 midpoint can round the other way, so data that must be bit-exact is float32 first.)
let seed = 18;
function uniform() { seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0; return seed / 2 ** 32; }
const randn = () => Math.fround(uniform() + uniform() + uniform() - 1.5);

const client = new pg.Client();
await client.connect();
try {
  let message = 'no error';
  try { await registerTypes(client); } catch (e) { message = e.message; }
  check("pgvector's registerTypes(client) throws 'vector type not found' (it looks up 'vector')",
    message.includes('vector type not found'), message);

  const { rows: [oids] } = await client.query("SELECT 'tasbvec'::regtype::oid AS vec, 'tasbhalf'::regtype::oid AS half");
  for (const oid of [oids.vec, oids.half]) {
    client.setTypeParser(oid, 'text', pgvector.fromSql);
  }
  const { rows: [me] } = await client.query('SELECT rolsuper FROM pg_roles WHERE rolname = current_user');
  check('connected as a plain role', me.rolsuper === false);

  await client.query('DROP TABLE IF EXISTS node_items');
  await client.query('CREATE TABLE node_items (id int PRIMARY KEY, emb tasbvec(3), half tasbhalf(3))');
  const N = 300;
  const data = Array.from({ length: N }, () => [randn(), randn(), randn()]);
  const nulls = new Set([7, 150]);
  await client.query('BEGIN');
  for (let i = 0; i < N; i++) {
    const v = nulls.has(i) ? null : data[i];
    // Text parameters through pgvector.toSql; every tenth row a binary (Buffer) parameter.
    const emb = v === null ? null : i % 10 === 0 ? toBinaryVec(v) : pgvector.toSql(v);
    await client.query('INSERT INTO node_items VALUES ($1, $2, $3)', [i, emb, pgvector.toSql(v)]);
  }
  await client.query('COMMIT');

  {
    const label = 'text and binary parameters, text results';
    const { rows } = await client.query('SELECT id, emb, half FROM node_items ORDER BY id');
    let okVec = rows.length === N, okNull = true, okHalf = true;
    for (const r of rows) {
      if (nulls.has(r.id)) { okNull &&= r.emb === null && r.half === null; continue; }
      okVec &&= equal(f32(r.emb), f32(data[r.id]));
      // float16 has 11 significant bits: within half an ulp of the input.
      okHalf &&= r.half.every((h, k) => Math.abs(h - data[r.id][k]) <= 1.01 * 2 ** -11 * Math.max(Math.abs(data[r.id][k]), 2 ** -14));
    }
    check(`${label}: tasbvec arrays equal the float32 inputs`, okVec);
    check(`${label}: tasbhalf arrays within float16 rounding of the inputs`, okHalf);
    check(`${label}: NULLs come back as null`, okNull);
  }
  const { rows: [h] } = await client.query("SELECT $1::tasbhalf AS t", [pgvector.toSql([0.1, 65519, 1 / 3])]);
  // The text form prints the float16 value as its shortest float32 decimal: Math.fround recovers it.
  check('tasbhalf rounds 0.1, 65519 and 1/3 as IEEE float16',
    equal(f32(h.t), [0.0999755859375, 65504, 0.333251953125]), JSON.stringify(h.t));
  const { rows: [hs] } = await client.query("SELECT '[6e-8,-1e-5,0.00048828125]'::tasbhalf AS v");
  check('tasbhalf keeps float16 subnormals', equal(f32(hs.v), f32([2 ** -24, -168 * 2 ** -24, 2 ** -11])), JSON.stringify(hs.v));

  const q = [randn(), randn(), randn()];
  const dot = (v) => v.reduce((s, x, k) => s + Math.fround(x) * Math.fround(q[k]), 0);
  const ranked = data.map((v, i) => [i, v]).filter(([i]) => !nulls.has(i)).sort((a, b) => dot(b[1]) - dot(a[1]));
  const { rows: best } = await client.query('SELECT id, -(emb <#> $1) AS score FROM node_items ORDER BY emb <#> $1 LIMIT 10', [pgvector.toSql(q)]);
  const ok = best.length === 10 && best.every((r, k) => r.id === ranked[k][0] ||
    Math.abs(dot(data[r.id]) - dot(ranked[k][1])) <= 1e-5);
  check('ORDER BY emb <#> $1 LIMIT 10: the ids of the largest dot products', ok, best.map((r) => r.id).join(','));
  check('-(emb <#> $1) is the dot product', best.every((r) => Math.abs(r.score - dot(data[r.id])) <= 1e-5));
  // tasbhalf: the reference ranks the float16 values the server stored (read back as text).
  const { rows: stored } = await client.query('SELECT id, half FROM node_items WHERE half IS NOT NULL');
  const halves = new Map(stored.map((r) => [r.id, f32(r.half)]));
  const rankedHalf = [...halves].sort((a, b) => dot(b[1]) - dot(a[1]));
  const { rows: bestHalf } = await client.query('SELECT id FROM node_items ORDER BY half <#> $1 LIMIT 10', [pgvector.toSql(q)]);
  check('ORDER BY half <#> $1 LIMIT 10: the ids of the largest dot products of the float16 values',
    bestHalf.length === 10 && bestHalf.every((r, k) => r.id === rankedHalf[k][0] ||
      Math.abs(dot(halves.get(r.id)) - dot(rankedHalf[k][1])) <= 1e-5), bestHalf.map((r) => r.id).join(','));

  check('4 dimensions into tasbvec(3): SQLSTATE 22000',
    (await sqlstate(client.query('INSERT INTO node_items (id, emb) VALUES (-1, $1)', [pgvector.toSql([1, 2, 3, 4])]))) === '22000');
  check('4 dimensions as a binary parameter: SQLSTATE 22000',
    (await sqlstate(client.query('INSERT INTO node_items (id, emb) VALUES (-1, $1)', [toBinaryVec([1, 2, 3, 4])]))) === '22000');
  check('a 2-d query against tasbvec(3): SQLSTATE 22000',
    (await sqlstate(client.query('SELECT id FROM node_items ORDER BY emb <#> $1 LIMIT 1', [pgvector.toSql([1, 2])]))) === '22000');
  check('65520 into tasbhalf: SQLSTATE 22003',
    (await sqlstate(client.query('SELECT $1::tasbhalf', [pgvector.toSql([65520])]))) === '22003');
} catch (e) {
  console.error(e);
  check('the Node test ran to the end', false, e.message);
} finally {
  await client.end();
}

const countsAt = process.argv.indexOf('--counts');
if (countsAt > 0) writeFileSync(process.argv[countsAt + 1], `${passed} ${failed}\n`);
else console.log(`clients/node: ${passed} passed, ${failed} failed`);
process.exitCode = failed ? 1 : 0;
