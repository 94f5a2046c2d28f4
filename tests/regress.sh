#!/usr/bin/env bash
# Golden-file SQL tests in the pg_regress style: each tests/sql/NAME.sql runs in a fresh database
# through psql with its input echoed; the output must equal tests/expected/NAME.out.
# Needs the extension installed and the local cluster running (scripts/cluster.sh start).
# Usage: tests/regress.sh [--accept] [NAME...]   (--accept rewrites expected files: review the diff!)
set -uo pipefail
source "$(dirname "$0")/../scripts/env.sh"

accept=0
if [ "${1:-}" = "--accept" ]; then accept=1; shift; fi
cd "$TASB_ROOT/tests"
mkdir -p results
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    for f in sql/*.sql; do names+=("$(basename "$f" .sql)"); done
fi

passed=0
failed=0
for name in "${names[@]}"; do
    tasb_psql -q -d postgres -c "DROP DATABASE IF EXISTS tasb_regress" -c "CREATE DATABASE tasb_regress" >/dev/null
    tasb_psql -q -d tasb_regress -c "CREATE EXTENSION tasb" >/dev/null
    PGOPTIONS="-c lc_messages=C -c extra_float_digits=0" tasb_psql -a -q -d tasb_regress \
        -v VERBOSITY=default -f "sql/$name.sql" >"results/$name.out" 2>&1
    if [ "$accept" = 1 ]; then cp "results/$name.out" "expected/$name.out"; fi
    if diff -u "expected/$name.out" "results/$name.out" >"results/$name.diff" 2>&1; then
        echo "ok      $name"
        passed=$((passed + 1))
        rm -f "results/$name.diff"
    else
        echo "FAILED  $name (see tests/results/$name.diff)"
        head -40 "results/$name.diff"
        failed=$((failed + 1))
    fi
done
echo "regress: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
