# A Docker daemon and a local base image for tests/package.sh and tests/docker.sh, on a machine
# without an image registry. Source it after scripts/env.sh; then:
#   docker_start        installs docker.io, docker-compose and debootstrap if missing, starts a
#                       daemon of our own (unless one already answers) and stops it on docker_stop
#   docker_base_image   builds $TASB_BASE_IMAGE (tasb-base:bookworm) once with debootstrap
#   docker_stop         stops the daemon docker_start started (by its pid), nothing else
#   docker_ca_into_context  copies the host's CA bundle into docker/ca/ for image builds (see there)
# Everything is idempotent. A daemon that cannot start prints its log and makes the caller fail:
# a silent skip would let a broken image land.
# shellcheck shell=bash
TASB_DOCKER_ROOT="${TASB_DOCKER_ROOT:-$TASB_HOME/docker}"
TASB_DOCKER_LOG="${TASB_DOCKER_LOG:-$TASB_HOME/dockerd.log}"
TASB_BASE_IMAGE="${TASB_BASE_IMAGE:-tasb-base:bookworm}"
TASB_DOCKER_PID=""
# The Debian daemon (20.10) and its client; another `docker` earlier on PATH may be a client
# that wants plugins (buildx) this machine does not have.
DOCKER="${DOCKER:-/usr/bin/docker}"
COMPOSE="${COMPOSE:-/usr/bin/docker-compose}"
export DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0

docker_packages() {
    local p missing=()
    for p in docker.io docker-compose debootstrap; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

docker_start() {
    docker_packages || { echo "docker: cannot install docker.io docker-compose debootstrap" >&2; return 1; }
    if as_root "$DOCKER" info >/dev/null 2>&1; then
        return 0   # someone's daemon already answers: use it, and leave it running
    fi
    as_root install -d -m 711 "$TASB_DOCKER_ROOT"
    log "starting dockerd (data in $TASB_DOCKER_ROOT, log in $TASB_DOCKER_LOG)"
    # No iptables rules and no docker0 bridge: the host's network setup stays as it is.
    # Started directly (not through a shell function) so that $! is dockerd's own pid.
    local sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo)
    "${sudo[@]}" dockerd --iptables=false --ip6tables=false --bridge=none --data-root "$TASB_DOCKER_ROOT" \
        -H unix:///var/run/docker.sock >"$TASB_DOCKER_LOG" 2>&1 &
    TASB_DOCKER_PID=$!
    local _
    for _ in $(seq 120); do
        if as_root "$DOCKER" info >/dev/null 2>&1; then return 0; fi
        kill -0 "$TASB_DOCKER_PID" 2>/dev/null || break
        sleep 0.5
    done
    echo "docker: dockerd did not start; its log:" >&2
    cat "$TASB_DOCKER_LOG" >&2
    docker_stop
    return 1
}

docker_stop() {
    [ -n "$TASB_DOCKER_PID" ] || return 0
    kill "$TASB_DOCKER_PID" 2>/dev/null
    local _
    for _ in $(seq 60); do
        kill -0 "$TASB_DOCKER_PID" 2>/dev/null || break
        sleep 0.5
    done
    kill -9 "$TASB_DOCKER_PID" 2>/dev/null
    wait "$TASB_DOCKER_PID" 2>/dev/null
    TASB_DOCKER_PID=""
}

# The Debian mirror the host's apt uses (deb822 .sources or one-line .list), else deb.debian.org.
host_debian_mirror() {
    local uri
    uri="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '$1 == "URIs:" {print $2}' | grep -E '/debian/?$' | head -1)"
    [ -n "$uri" ] || uri="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk '$1 == "deb" && $2 !~ /^\[/ {print $2} $1 == "deb" && $2 ~ /^\[/ {print $3}' | grep -E '/debian/?$' | head -1)"
    echo "${uri:-http://deb.debian.org/debian}"
}

docker_base_image() {
    if as_root "$DOCKER" image inspect "$TASB_BASE_IMAGE" >/dev/null 2>&1; then return 0; fi
    local mirror rootfs
    mirror="$(host_debian_mirror)"
    rootfs="$(mktemp -d "$TASB_HOME/rootfs.XXXXXX")"
    log "building $TASB_BASE_IMAGE with debootstrap from $mirror (about 80 s)"
    if ! as_root debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1; then
        echo "docker: debootstrap failed; its log:" >&2
        tail -n 40 "$rootfs.log" >&2
        as_root rm -rf "$rootfs" "$rootfs.log"
        return 1
    fi
    # Updates and security fixes too, as the host has them.
    cat >"$rootfs/etc/apt/sources.list" <<LIST
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${mirror%/debian*}/debian-security bookworm-security main
LIST
    as_root rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    as_root tar -C "$rootfs" -c . | as_root "$DOCKER" import - "$TASB_BASE_IMAGE" >/dev/null
    local rc=$?
    as_root rm -rf "$rootfs" "$rootfs.log"
    return $rc
}

# Image builds fetch Python wheels from PyPI over HTTPS. Where the host reaches it through a
# TLS-intercepting proxy, containers must trust the same CAs: docker/ca/*.crt are added to the
# image's trust store (the directory is git-ignored but for its README). Copies the host's bundle.
docker_ca_into_context() {
    local bundle="${TASB_DOCKER_CA:-/etc/ssl/certs/ca-certificates.crt}"
    [ -f "$bundle" ] && cp "$bundle" "$TASB_ROOT/docker/ca/host-ca-bundle.crt"
}
docker_ca_remove() { rm -f "$TASB_ROOT/docker/ca/host-ca-bundle.crt"; }
