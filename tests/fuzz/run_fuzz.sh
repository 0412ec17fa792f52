#!/bin/sh
# run_fuzz.sh: run the fuzz_pipeline libFuzzer target for a bounded time.
#
#   run_fuzz.sh FUZZER SOURCE_ROOT WORK_DIR SECONDS [libFuzzer flags...]
#
# The seed corpus is assembled fresh in WORK_DIR/seeds from the examples, the
# test models, the small hostile models and tests/fuzz/corpus; what the
# fuzzer discovers goes to WORK_DIR/corpus (kept between runs, so a long run
# can be resumed) and any crash, hang or leak to WORK_DIR/artifacts/. The
# source tree is never written. Exit status: libFuzzer's (0 = no finding).
set -eu
fuzzer=$1 src=$2 work=$3 secs=$4
shift 4
mkdir -p "$work/seeds" "$work/corpus" "$work/artifacts"
rm -f "$work/seeds"/*
for f in "$src"/examples/*.expr "$src"/tests/models/*.expr \
         "$src"/tests/fuzz/corpus/*.expr "$src"/tests/hostile/*.expr; do
  [ -f "$f" ] || continue
  # Seeds longer than -max_len would be cut anyway; skip the big hostile ones.
  [ "$(wc -c < "$f")" -le 2048 ] || continue
  d=$(dirname "$f")
  cp "$f" "$work/seeds/$(basename "$d")_$(basename "$f")"
done
exec "$fuzzer" -dict="$src/tests/fuzz/expr.dict" -max_len=2048 -timeout=10 \
  -rss_limit_mb=2048 -max_total_time="$secs" -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" "$@" "$work/corpus" "$work/seeds"
