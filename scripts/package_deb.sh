#!/usr/bin/env bash
# Builds the Debian package target/deb/tasb-postgresql-15_<version>_<arch>.deb: the release build of
# the extension (cargo pgrx package) plus ONNX Runtime 1.32.0's libonnxruntime.so from the PyPI
# wheel (scripts/setup.sh installs it as $TASB_ORT_LIB) in /usr/lib/postgresql/15/lib/tasb/, and a
# sample configuration in /usr/share/doc/tasb-postgresql-15/tasb.conf. Prints the package's path.
# tasb finds ONNX Runtime there without configuration (tasb.onnxruntime_path unset).
# Depends on postgresql-15 (Debian's or PGDG's). Safe to run again; the version is Cargo.toml's.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$TASB_ROOT"

PKG=tasb-postgresql-15
ORT_VERSION=1.32.0
# Where tasb looks for ONNX Runtime when tasb.onnxruntime_path is unset: $libdir/tasb.
ORT_DIR="$("$PG_CONFIG" --pkglibdir)/tasb"
[ -f "$TASB_ORT_LIB" ] || die "$TASB_ORT_LIB is missing: run scripts/setup.sh"
command -v dpkg-deb >/dev/null || die "dpkg-deb is missing (apt-get install dpkg)"

# [package] version from Cargo.toml; a pre-release 1.0.0-rc.1 becomes 1.0.0~rc.1 so it sorts
# before 1.0.0 as Debian versions do.
version="$(tasb_version)"
[ -n "$version" ] || die "no [package] version in Cargo.toml"
deb_version="${version/-/\~}"
arch="$(dpkg --print-architecture)"

log "building the release package of tasb $version (cargo pgrx package)"
built="target/release/tasb-pg15"
rm -rf "$built"   # no files of an earlier version left in the package
cargo pgrx package --pg-config "$PG_CONFIG" >/dev/null
[ -f "$built$("$PG_CONFIG" --pkglibdir)/tasb.so" ] || die "cargo pgrx package wrote no tasb.so under $built"

root="target/deb/root"
rm -rf "$root"
mkdir -p "$root/DEBIAN" target/deb
cp -a "$built/." "$root/"
# Older versions' install scripts (cargo pgrx package copies only the upgrade scripts), so that
# CREATE EXTENSION tasb VERSION '0.1.0' and upgrades from it work from the package too.
install_older_sql_scripts "$root$("$PG_CONFIG" --sharedir)/extension"
install -D -m 644 "$TASB_ORT_LIB" "$root$ORT_DIR/libonnxruntime.so.$ORT_VERSION"
doc="$root/usr/share/doc/$PKG"
install -d "$doc"
cat >"$doc/tasb.conf" <<CONF
# tasb for PostgreSQL 15: add these lines to postgresql.conf (or a file in its conf.d directory),
# then restart the server.

# Preloading starts the background embedding worker (tasb_embed_async); tasb_encode,
# the tasbvec type and the tasb_ivf index work without it.
shared_preload_libraries = 'tasb'
tasb.worker_database = 'postgres'        # the database whose registered tables the worker embeds

# ONNX Runtime: unset, tasb uses \$libdir/tasb/libonnxruntime.so.$ORT_VERSION, which this package
# installs ($ORT_DIR). Set it for another build, e.g. onnxruntime-gpu (scripts/setup_gpu.sh).
#tasb.onnxruntime_path = '$ORT_DIR/libonnxruntime.so.$ORT_VERSION'

# The model tasb_encode uses: a directory with model.onnx, config.json and tokenizer.json
# (scripts/export_model.py or scripts/safetensors_to_onnx.py write one).
#tasb.model_dir = '/var/lib/tasb/models/all-minilm-l6-v2'
#tasb.device = 'auto'                    # cuda needs onnxruntime-gpu (scripts/setup_gpu.sh)
CONF
cat >"$doc/copyright" <<'COPYRIGHT'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: tasb

Files: *
License: Apache-2.0
 On Debian systems the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.

Files: usr/lib/postgresql/15/lib/tasb/libonnxruntime.so.*
Copyright: Microsoft Corporation
Comment: ONNX Runtime, unmodified, from the PyPI wheel onnxruntime (https://onnxruntime.ai).
License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a copy
 of this software and associated documentation files (the "Software"), to deal
 in the Software without restriction, including without limitation the rights
 to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
 copies of the Software, and to permit persons to whom the Software is
 furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in all
 copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
 IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
 FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
 AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
 LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
 OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
 SOFTWARE.
COPYRIGHT
find "$root" -type d -exec chmod 755 {} +
find "$root" -type f -exec chmod 644 {} +

# Shared-library dependencies of tasb.so and ONNX Runtime (libc6, libgcc-s1, libstdc++6), as
# Debian's own packages compute them; a fixed list where dpkg-dev is not installed.
libs_depends="libc6 (>= 2.34), libgcc-s1 (>= 3.0), libstdc++6 (>= 11)"
if command -v dpkg-shlibdeps >/dev/null; then
    shlib_dir="$(mktemp -d)"
    mkdir "$shlib_dir/debian"
    printf 'Source: tasb\n\nPackage: %s\nArchitecture: any\n' "$PKG" >"$shlib_dir/debian/control"
    abs_root="$(cd "$root" && pwd)"
    if out="$(cd "$shlib_dir" && dpkg-shlibdeps -O \
        "$abs_root$("$PG_CONFIG" --pkglibdir)/tasb.so" "$abs_root$ORT_DIR/libonnxruntime.so.$ORT_VERSION" 2>/dev/null)"; then
        libs_depends="${out#shlibs:Depends=}"
    fi
    rm -rf "$shlib_dir"
fi

cat >"$root/DEBIAN/control" <<CONTROL
Package: $PKG
Version: $deb_version
Architecture: $arch
Maintainer: ${TASB_DEB_MAINTAINER:-tasb maintainers <maintainers@tasb.invalid>}
Section: database
Priority: optional
Depends: postgresql-15, $libs_depends
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Description: dense passage retrieval (TAS-B) inside PostgreSQL 15
 tasb adds the tasbvec vector type, the tasb_ivf index for inner-product
 search, and tasb_encode, which runs a BERT-family encoder (ONNX) inside
 the server. ONNX Runtime $ORT_VERSION is included; a sample configuration is in
 /usr/share/doc/$PKG/tasb.conf.
CONTROL
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"

# File times fixed to the last commit's: the package's bytes then change only with its files
# (cargo pgrx still orders independent statements of the SQL script differently between runs).
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

deb="target/deb/${PKG}_${deb_version}_${arch}.deb"
rm -f "target/deb/${PKG}_"*.deb   # one package in the directory: the Dockerfile copies it by pattern
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
rm -rf "$root"
log "wrote $deb ($(du -h "$deb" | cut -f1))"
echo "$TASB_ROOT/$deb"
