#!/usr/bin/env bash
# A local PostgreSQL 15 cluster for tasb on its own port: cluster.sh start|stop|status|psql.
# Data lives in $TASB_PGDATA (default /var/tmp/tasb/data), the log in $TASB_PGDATA/log.
set -euo pipefail
source "$(dirname "$0")/env.sh"

bindir="$(pg_bindir)"
cmd="${1:-status}"
case "$cmd" in
start)
    as_root install -d -m 755 "$TASB_HOME"
    for d in "$TASB_PGDATA" "$TASB_SOCKET_DIR"; do
        as_root install -d -m 700 "$d"
        if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$TASB_HOME" "$d"; fi
    done
    if [ ! -s "$TASB_PGDATA/PG_VERSION" ]; then
        log "creating cluster in $TASB_PGDATA"
        as_pg "$bindir/initdb" -D "$TASB_PGDATA" -A trust -U postgres >/dev/null
        cat >>"$TASB_PGDATA/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$TASB_SOCKET_DIR'
port = $TASB_PORT
shared_buffers = '${TASB_SHARED_BUFFERS:-2GB}'
max_parallel_workers_per_gather = 2
CONF
    fi
    # ONNX Runtime for tasb_encode (superuser-only setting: a shared library is code).
    if ! grep -q "^tasb.onnxruntime_path" "$TASB_PGDATA/postgresql.conf"; then
        echo "tasb.onnxruntime_path = '$TASB_ORT_LIB'" | as_pg tee -a "$TASB_PGDATA/postgresql.conf" >/dev/null
    fi
    # The background embedding worker (tasb_embed_async) serves database "tasb"; it needs the
    # library preloaded, so only once it is installed (a missing library stops the server).
    if [ -f "$("$PG_CONFIG" --pkglibdir)/tasb.so" ] && ! grep -q "^shared_preload_libraries" "$TASB_PGDATA/postgresql.conf"; then
        printf "shared_preload_libraries = 'tasb'\ntasb.worker_database = 'tasb'\n" | as_pg tee -a "$TASB_PGDATA/postgresql.conf" >/dev/null
    fi
    if as_pg "$bindir/pg_ctl" -D "$TASB_PGDATA" status >/dev/null 2>&1; then
        log "cluster already running on port $TASB_PORT"
    else
        # With the GPU runtime installed (scripts/setup_gpu.sh), the server needs CUDA's libraries
        # on its library path for tasb.device = 'cuda'.
        if [ -f "$TASB_HOME/gpu.env" ]; then source "$TASB_HOME/gpu.env"; fi
        # RUST_BACKTRACE would put Rust backtraces into the DETAIL of user-facing errors.
        as_pg env -u RUST_BACKTRACE LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}" \
            "$bindir/pg_ctl" -D "$TASB_PGDATA" -l "$TASB_PGDATA/log" -w start >/dev/null
        log "cluster started: port $TASB_PORT, socket $TASB_SOCKET_DIR, data $TASB_PGDATA"
    fi
    # The database the embedding worker serves (tasb.worker_database) must exist, or the worker
    # fails to connect and retries every few seconds.
    if [ "$(tasb_psql -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = 'tasb'")" != 1 ]; then
        tasb_psql -q -d postgres -c "CREATE DATABASE tasb"
    fi
    ;;
stop)
    as_pg "$bindir/pg_ctl" -D "$TASB_PGDATA" -m fast -w stop >/dev/null 2>&1 || true
    log "cluster stopped"
    ;;
restart)
    "$0" stop && "$0" start
    ;;
status)
    as_pg "$bindir/pg_ctl" -D "$TASB_PGDATA" status
    ;;
psql)
    shift
    tasb_psql "$@"
    ;;
*)
    die "usage: $0 start|stop|restart|status|psql [psql args]"
    ;;
esac
