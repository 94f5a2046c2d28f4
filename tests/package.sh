#!/usr/bin/env bash
# The Debian package on a clean Debian 12: scripts/package_deb.sh builds it, a fresh container
# from the local base image (tests/docker_env.sh) installs it with apt-get (which pulls in
# postgresql-15), initdb and a server as the postgres user with the package's sample tasb.conf,
# then CREATE EXTENSION, a vector query, tasb_encode with the tiny fixture model, the preloaded
# embedding worker, and removal of the package. The container is removed at the end.
set -uo pipefail
source "$(dirname "$0")/../scripts/env.sh"
source "$(dirname "$0")/docker_env.sh"
CHECKS=package
source "$(dirname "$0")/checks.sh"
NAME=tasb-package-test
# Downloaded .debs and package lists survive between runs (each container is still new).
APT_CACHE="$TASB_HOME/docker-apt-cache"
started=$SECONDS

cleanup() {
    as_root "$DOCKER" rm -f "$NAME" >/dev/null 2>&1
    docker_stop
}
trap cleanup EXIT
fail_setup() { echo "FAILED  package: $1"; echo "package: $passed passed, $((failed + 1)) failed"; exit 1; }

deb="$(bash "$TASB_ROOT/scripts/package_deb.sh")" || fail_setup "scripts/package_deb.sh"
check "the package is named after Cargo.toml's version" 1 \
    "$(basename "$deb" | grep -c "^tasb-postgresql-15_$(tasb_version | tr - '~')_amd64\.deb$")"
docker_start || fail_setup "the Docker daemon did not start"
docker_base_image || fail_setup "the base image $TASB_BASE_IMAGE could not be built"

in_box() { as_root "$DOCKER" exec -i "$NAME" "$@"; }
# psql as postgres against the container's server; one value per line, errors on stderr.
box_sql() { in_box runuser -u postgres -- psql -X -q -At -h /tmp -d postgres -v ON_ERROR_STOP=1 -c "$1"; }

as_root "$DOCKER" rm -f "$NAME" >/dev/null 2>&1
as_root install -d "$APT_CACHE/archives/partial" "$APT_CACHE/lists/partial"
# Host networking: apt reaches the mirror as the host does (the daemon has no bridge and no NAT).
# The server in the container listens on a socket only, so the host's ports are untouched.
as_root "$DOCKER" run -d --name "$NAME" --network host \
    -v "$APT_CACHE/archives:/var/cache/apt/archives" -v "$APT_CACHE/lists:/var/lib/apt/lists" \
    "$TASB_BASE_IMAGE" sleep infinity >/dev/null || fail_setup "docker run"
as_root "$DOCKER" cp "$deb" "$NAME:/tmp/" && as_root "$DOCKER" cp "$TASB_ROOT/tests/fixtures/tiny-distilbert" "$NAME:/tmp/" ||
    fail_setup "docker cp"

# No service starts inside the container, and no cluster of Debian's own: initdb below makes one.
install_log="$(mktemp)"
in_box bash -c "set -e
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
mkdir -p /etc/postgresql-common && echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends /tmp/$(basename "$deb")" >"$install_log" 2>&1
rc=$?
[ $rc = 0 ] || tail -n 30 "$install_log"
rm -f "$install_log"
check "apt-get install of the .deb (pulls in postgresql-15)" 0 "$rc"
check "dpkg knows the package as installed" "install ok installed" \
    "$(in_box dpkg-query -W -f='${Status}' tasb-postgresql-15 2>&1)"
check "ONNX Runtime ships beside the extension" 1 \
    "$(in_box dpkg -L tasb-postgresql-15 | grep -c '^/usr/lib/postgresql/15/lib/tasb/libonnxruntime.so.1.32.0$')"

# A cluster configured with the package's sample tasb.conf (preload, worker; no ONNX Runtime path).
in_box bash -c "set -e
chmod -R a+rX /tmp/tiny-distilbert
install -d -o postgres -g postgres /tmp/pgdata
runuser -u postgres -- /usr/lib/postgresql/15/bin/initdb -D /tmp/pgdata -A trust -U postgres >/dev/null
cat /usr/share/doc/tasb-postgresql-15/tasb.conf >>/tmp/pgdata/postgresql.conf
printf \"listen_addresses = ''\nunix_socket_directories = '/tmp'\ntasb.model_dir = '/tmp/tiny-distilbert'\n\" >>/tmp/pgdata/postgresql.conf
runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D /tmp/pgdata -l /tmp/pgdata/log -w start >/dev/null"
rc=$?
[ $rc = 0 ] || in_box cat /tmp/pgdata/log
check "initdb and a server with tasb preloaded, as postgres" 0 "$rc"

check "CREATE EXTENSION tasb" "" "$(box_sql "CREATE EXTENSION tasb" 2>&1)"
check "a vector query" "-32" "$(box_sql "SELECT '[1,2,3]'::tasbvec <#> '[4,5,6]'::tasbvec" 2>&1)"
check "tasb.onnxruntime_path is unset (ONNX Runtime found beside the extension)" "" \
    "$(box_sql "SHOW tasb.onnxruntime_path" 2>&1)"
check "tasb_encode with the tiny model: 16 dims" 16 \
    "$(box_sql "SELECT vector_dims(tasb_encode('what is the transformers library'))" 2>&1)"
check "nearest neighbour by tasb_encode" b "$(box_sql "CREATE TABLE t (id text, emb tasbvec(16));
    INSERT INTO t SELECT x, tasb_encode(x || ' library') FROM unnest(ARRAY['a', 'b', 'c']) x;
    SELECT id FROM t ORDER BY emb <#> tasb_encode('b library') LIMIT 1" 2>&1)"
current="$(tasb_version)"
check "from the package: CREATE EXTENSION at 0.1.0, then ALTER EXTENSION UPDATE to $current" "$current" \
    "$(box_sql "CREATE DATABASE upgrade_check" >/dev/null 2>&1
       in_box runuser -u postgres -- /usr/lib/postgresql/15/bin/psql -X -q -At -h /tmp -d upgrade_check \
           -c "CREATE EXTENSION tasb VERSION '0.1.0'" -c "ALTER EXTENSION tasb UPDATE" \
           -c "SELECT extversion FROM pg_extension WHERE extname = 'tasb'" 2>&1)"
worker=0
for _ in $(seq 20); do
    worker="$(box_sql "SELECT count(*) FROM pg_stat_activity
        WHERE backend_type = 'tasb embed worker' AND datname = 'postgres'" 2>&1)"
    [ "$worker" = 1 ] && break
    sleep 0.5
done
check "the preloaded embedding worker runs in tasb.worker_database" 1 "$worker"

in_box runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D /tmp/pgdata -m fast -w stop >/dev/null 2>&1
in_box env DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq tasb-postgresql-15 >/dev/null 2>&1
check "apt-get remove leaves no tasb files" 0 \
    "$(in_box bash -c 'ls /usr/lib/postgresql/15/lib/tasb.so /usr/lib/postgresql/15/lib/tasb /usr/share/postgresql/15/extension/tasb.control 2>/dev/null | wc -l')"

echo "package: $((SECONDS - started)) s"
report_checks
