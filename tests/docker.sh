#!/usr/bin/env bash
# The Docker image and docker-compose.yml end to end, with docker-compose (v1) against a daemon of
# our own (tests/docker_env.sh) and the local base image tasb-base:bookworm in place of the official
# postgres image: build, start and wait for the healthcheck, then from the host over TCP: tasb_encode
# with the image's all-MiniLM-L6-v2 (384 dims), a table filled through the embedding trigger, a
# tasb_ivf index used by a query (EXPLAIN), the embedding worker, a restart that keeps the data,
# TASB_MODEL=tas-b falling back to MiniLM without a hub, a mounted model (TASB_MODEL_DIR), and
# `docker-compose down -v`. The gpu profile's configuration is validated, not built (3 GB).
set -uo pipefail
source "$(dirname "$0")/../scripts/env.sh"
source "$(dirname "$0")/docker_env.sh"
CHECKS=docker
source "$(dirname "$0")/checks.sh"
cd "$TASB_ROOT" || exit 1
started=$SECONDS

PROJECT=tasbdockertest
export POSTGRES_PASSWORD=tasb-docker-test POSTGRES_USER=postgres POSTGRES_DB=tasb
export TASB_BASE="$TASB_BASE_IMAGE" TASB_IMAGE=tasb-postgres:15-test TASB_DB_BIND=127.0.0.1
export TASB_DB_PORT="${TASB_DOCKER_TEST_PORT:-55432}"
unset TASB_MODEL
compose=("$COMPOSE" -p "$PROJECT" -f docker-compose.yml -f tests/docker-compose.test.yml)

cleanup() {
    "${compose[@]}" -f tests/docker-compose.model.yml down -v --remove-orphans >/dev/null 2>&1
    docker_ca_remove
    docker_stop
}
trap cleanup EXIT
fail_setup() {
    echo "FAILED  docker: $1"
    echo "docker: $((SECONDS - started)) s"
    echo "docker: $passed passed, $((failed + 1)) failed"
    exit 1
}
sql() {  # one value per line; the host's psql over TCP, as a client would connect
    PGPASSWORD="$POSTGRES_PASSWORD" PGCONNECT_TIMEOUT=5 "$(pg_bindir)/psql" -X -q -At -h 127.0.0.1 -p "$TASB_DB_PORT" \
        -U postgres -d tasb -v ON_ERROR_STOP=1 -c "$1"
}
container() { "${compose[@]}" ps -q db; }
wait_healthy() {  # until the healthcheck passes, at most 180 s; the container's log otherwise
    local id status=none
    for _ in $(seq 180); do
        id="$(container)"
        status="$(as_root "$DOCKER" inspect -f '{{.State.Health.Status}}' "$id" 2>/dev/null)"
        [ "$status" = healthy ] && return 0
        sleep 1
    done
    echo "docker: the container is $status after 180 s; its log:" >&2
    "${compose[@]}" logs --no-color --tail 80 db >&2
    return 1
}

# The Debian package the image installs, rebuilt when a source is newer than it.
deb="$(ls target/deb/tasb-postgresql-15_*.deb 2>/dev/null | head -1)"
if [ -z "$deb" ] || [ -n "$(find src crates/*/src sql Cargo.toml Cargo.lock tasb.control -newer "$deb" -print -quit 2>/dev/null)" ]; then
    bash scripts/package_deb.sh >/dev/null || fail_setup "scripts/package_deb.sh"
fi
docker_start || fail_setup "the Docker daemon did not start"
docker_base_image || fail_setup "the base image $TASB_BASE_IMAGE could not be built"

check "docker-compose.yml validates" 0 "$("${compose[@]}" config -q >/dev/null 2>&1; echo $?)"
check "the gpu profile validates, with its nvidia device reservation" 1 \
    "$("${compose[@]}" --profile gpu config 2>/dev/null | grep -c 'driver: nvidia')"
check "POSTGRES_PASSWORD is required" 1 \
    "$(env -u POSTGRES_PASSWORD "$COMPOSE" -f docker-compose.yml config 2>&1 | grep -c 'set POSTGRES_PASSWORD')"

"${compose[@]}" -f tests/docker-compose.model.yml down -v --remove-orphans >/dev/null 2>&1   # a run that died
docker_ca_into_context
build_log="$(mktemp)"
build_started=$SECONDS
"${compose[@]}" build db >"$build_log" 2>&1
rc=$?
[ $rc = 0 ] || tail -n 40 "$build_log"
rm -f "$build_log"
echo "docker: image built in $((SECONDS - build_started)) s"
[ $rc = 0 ] || fail_setup "docker-compose build db"

"${compose[@]}" up -d db >/dev/null 2>&1 || fail_setup "docker-compose up -d db"
wait_healthy; check "healthy after docker-compose up" 0 $?

check "a wrong password is refused over TCP" 1 \
    "$(PGPASSWORD=wrong PGCONNECT_TIMEOUT=5 "$(pg_bindir)/psql" -X -h 127.0.0.1 -p "$TASB_DB_PORT" -U postgres -d tasb -c 'SELECT 1' 2>&1 |
        grep -c 'password authentication failed')"
version="$(tasb_version)"
check "CREATE EXTENSION tasb: done in POSTGRES_DB at init, this version" "$version" \
    "$(sql "SELECT extversion FROM pg_extension WHERE extname = 'tasb'" 2>&1)"
check "tasb preloaded" tasb "$(sql "SHOW shared_preload_libraries" 2>&1)"
check "no ONNX Runtime path needed (the package's, beside the extension)" "" "$(sql "SHOW tasb.onnxruntime_path" 2>&1)"
check "tasb_encode with all-MiniLM-L6-v2: 384 dims" 384 "$(sql "SELECT vector_dims(tasb_encode('how long does a flea live'))" 2>&1)"

check "a table filled through the embedding trigger" 203 "$(sql "
CREATE TABLE passages (id int PRIMARY KEY, body text NOT NULL, emb tasbvec(384));
CREATE TRIGGER embed BEFORE INSERT OR UPDATE OF body ON passages
    FOR EACH ROW EXECUTE FUNCTION tasb_embed_trigger('body', 'emb');
INSERT INTO passages (id, body) VALUES
    (1, 'Adult fleas live for two to three months on a host; without one they survive only about a week.'),
    (2, 'A concrete floor costs between four and eight dollars per square foot, installation included.'),
    (3, 'The Eiffel Tower in Paris is 330 metres tall and was finished in 1889.');
INSERT INTO passages (id, body)
SELECT i, 'Weather report ' || i || ': ' || (ARRAY['rain', 'sun', 'snow', 'wind', 'fog'])[1 + i % 5]
       || ' expected in district ' || (i % 17) || ' with temperatures near ' || (i % 30) || ' degrees.'
FROM generate_series(4, 203) i;
SELECT count(*) FROM passages WHERE vector_dims(emb) = 384" 2>&1)"
sql "CREATE INDEX passages_emb ON passages USING tasb_ivf (emb); ANALYZE passages" >/dev/null 2>&1
QUERY="SELECT id FROM passages ORDER BY emb <#> tasb_encode('how long does a flea live') LIMIT 3"
check "EXPLAIN: the query goes through the tasb_ivf index" 1 \
    "$(sql "SET enable_seqscan = off; EXPLAIN (COSTS OFF) $QUERY" 2>&1 | grep -c 'Index Scan using passages_emb')"
check "the index finds the passage about fleas" 1 "$(sql "SET enable_seqscan = off; $QUERY" 2>&1 | head -1)"
worker=0
for _ in $(seq 20); do
    worker="$(sql "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'tasb embed worker'" 2>&1)"
    [ "$worker" = 1 ] && break
    sleep 0.5
done
check "the embedding worker serves POSTGRES_DB" 1 "$worker"

"${compose[@]}" restart db >/dev/null 2>&1
wait_healthy; check "healthy after a restart" 0 $?
check "the data survives the restart" 203 "$(sql "SELECT count(*) FROM passages WHERE emb IS NOT NULL" 2>&1)"
check "the index still answers" 1 "$(sql "SET enable_seqscan = off; $QUERY" 2>&1 | head -1)"

# A new container (changed environment) on the same volumes. No hub: HF_ENDPOINT points nowhere.
TASB_MODEL=tas-b HF_ENDPOINT=http://127.0.0.1:9 "${compose[@]}" up -d db >/dev/null 2>&1
wait_healthy; check "healthy with TASB_MODEL=tas-b and no hub" 0 $?
check "without a hub TASB_MODEL=tas-b falls back to all-MiniLM-L6-v2" /var/lib/tasb/models/all-minilm-l6-v2 \
    "$(sql "SHOW tasb.model_dir" 2>&1)"
check "the data survives a new container" 203 "$(sql "SELECT count(*) FROM passages" 2>&1)"

# A mounted model of one's own: the tiny fixture (16 dims).
"${compose[@]}" -f tests/docker-compose.model.yml up -d db >/dev/null 2>&1
wait_healthy; check "healthy with a mounted model (TASB_MODEL_DIR)" 0 $?
check "tasb_encode with the mounted model: 16 dims" 16 "$(sql "SELECT vector_dims(tasb_encode('a mounted model'))" 2>&1)"

"${compose[@]}" -f tests/docker-compose.model.yml down -v >/dev/null 2>&1
check "docker-compose down -v removes the container and the volumes" 0 \
    "$( (as_root "$DOCKER" ps -aq --filter "label=com.docker.compose.project=$PROJECT"; as_root "$DOCKER" volume ls -q --filter "label=com.docker.compose.project=$PROJECT") | wc -l)"

echo "docker: $((SECONDS - started)) s"
report_checks
