#!/usr/bin/env bash
# Fuzzes the C API of libesmarket with libFuzzer (harness: Tests/fuzz/fuzz_esmarket.c).
#
#   Tests/fuzz/run.sh --seconds 100         # fuzz for 100 s (make fuzz)
#   Tests/fuzz/run.sh --runs 1000000        # fuzz for a number of executions
#   Tests/fuzz/run.sh --replay FILE...      # run saved inputs once (a crash's reproducer)
#
# What it does:
#   1. builds the library with coverage instrumentation and AddressSanitizer in .build-fuzz
#      (swift build -c release --product esmarket -Xswiftc -sanitize=fuzzer,address: the library
#      gets the coverage hooks and ASan checks but no main; the harness brings libFuzzer). An
#      optimized build runs 4-6x more inputs per second than -c debug (the solvers dominate);
#      the build takes about a minute instead of 15 s;
#   2. compiles the harness with clang -fsanitize=fuzzer,address against it;
#   3. writes the seed corpus from the tests' documents (Tests/fuzz/make_corpus.py, needs
#      .build/release/libesmarket.so for the case generator: `make build`) into .build-fuzz/seeds;
#   4. runs libFuzzer on .build-fuzz/corpus (kept between runs, never committed) and the seeds.
# A crash, a sanitizer report, a leak or a harness finding (see the harness) stops the run with a
# non-zero exit code and leaves the input in .build-fuzz/crashes/; turn it into a regression test.
# The last line gives the executions done: "fuzz: N executions in S s, result: ...".
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=$ROOT/.build-fuzz
SWIFT=${SWIFT:-swift}
CLANG=${CLANG:-clang}
MODE=seconds
BUDGET=60
REPLAY=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) MODE=seconds; BUDGET=$2; shift 2 ;;
        --runs) MODE=runs; BUDGET=$2; shift 2 ;;
        --replay) MODE=replay; shift; REPLAY=("$@"); break ;;
        *) echo "usage: $0 [--seconds N | --runs N | --replay FILE...]" >&2; exit 2 ;;
    esac
done

cd "$ROOT"
echo "== building libesmarket with -sanitize=fuzzer,address in .build-fuzz"
"$SWIFT" build --scratch-path "$OUT" -c release --product esmarket -Xswiftc -sanitize=fuzzer,address
LIB=$OUT/release

echo "== compiling the harness"
"$CLANG" -g -O1 -fuse-ld=lld -fsanitize=fuzzer,address -Wall -Wextra -Werror -I include \
    $(pkg-config --cflags json-c) Tests/fuzz/fuzz_esmarket.c -o "$OUT/fuzz_esmarket" \
    -L "$LIB" -lesmarket $(pkg-config --libs json-c) -lm -Wl,-rpath,"$LIB"

# Leaks are findings (LeakSanitizer runs at exit and, through libFuzzer, after inputs that
# allocate more than they free).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
FLAGS=(-max_len=60000 -timeout=60 -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$OUT/crashes/")
mkdir -p "$OUT/crashes" "$OUT/corpus"

if [ "$MODE" = replay ]; then
    exec "$OUT/fuzz_esmarket" "${FLAGS[@]}" "${REPLAY[@]}"
fi

echo "== seed corpus"
rm -rf "$OUT/seeds"
${PYTHON:-python3} Tests/fuzz/make_corpus.py "$OUT/seeds"

if [ "$MODE" = seconds ]; then LIMIT=(-max_total_time="$BUDGET"); else LIMIT=(-runs="$BUDGET"); fi
log=$OUT/last-run.log
echo "== fuzzing (${MODE} ${BUDGET}); log in $log"
start=$(date +%s)
set +e
"$OUT/fuzz_esmarket" "${FLAGS[@]}" "${LIMIT[@]}" "$OUT/corpus" "$OUT/seeds" >"$log" 2>&1
rc=$?
set -e
elapsed=$(( $(date +%s) - start ))
execs=$(grep -E '^stat::number_of_executed_units:' "$log" | awk '{print $2}' | tail -n1)
if [ -z "$execs" ]; then execs=$(grep -oE '^#[0-9]+' "$log" | tail -n1 | tr -d '#'); fi
grep -E '^#[0-9]+.*(INITED|DONE)' "$log" | tail -n 2 || true
if [ $rc -eq 0 ]; then
    echo "fuzz: ${execs:-?} executions in ${elapsed} s, result: no crash, no sanitizer report, no finding"
else
    grep -E -A 30 'ERROR: |esmarket fuzz finding|Test unit written|SUMMARY' "$log" | head -80
    echo "fuzz: ${execs:-?} executions in ${elapsed} s, result: FAILED (exit $rc); inputs in $OUT/crashes/"
fi
exit $rc
