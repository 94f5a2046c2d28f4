#!/bin/sh
# run.sh TARGET SECONDS [extra libFuzzer flags]: one niced libFuzzer job in its own directory
# (each -jobs=1 run writes fuzz-0.log into its working directory), output in logs/TARGET.out.
t=$1; s=$2; shift 2
root=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$root/run/$t" "$root/work/$t" "$root/artifacts/$t" "$root/logs"
cd "$root/run/$t" && rm -f fuzz-0.log && nice -n 19 "$root/target/x86_64-unknown-linux-gnu/release/$t" \
  -artifact_prefix="$root/artifacts/$t/" -jobs=1 -max_total_time="$s" -print_final_stats=1 "$@" \
  "$root/work/$t" "$root/corpus/$t" > "$root/logs/$t.out" 2>&1
