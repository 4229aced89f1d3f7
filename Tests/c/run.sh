#!/usr/bin/env bash
# Builds and runs the C API boundary tests (Tests/c/test_capi.c) and the C example
# (examples/c/example.c), against .build/release/libesmarket.so.
#
#   swift build -c release --product esmarket     # once, at the repository root
#   Tests/c/run.sh                                # from anywhere
#   ESM_VALGRIND=1 Tests/c/run.sh                 # both programs under valgrind (leaks = failure)
#   ESMARKET_LIB_DIR=/some/dir Tests/c/run.sh     # test the libesmarket.so in another folder
#
# Prints one line per check and ends with "total: N passed, M failed"; exits non-zero on failure.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LIBDIR=${ESMARKET_LIB_DIR:-$ROOT/.build/release}
LIBDIR=$(cd "$LIBDIR" 2>/dev/null && pwd || echo "$LIBDIR")
CC=${CC:-cc}
JSONC_CFLAGS=$(pkg-config --cflags json-c)
JSONC_LIBS=$(pkg-config --libs json-c)

if [ ! -f "$LIBDIR/libesmarket.so" ]; then
    echo "FAIL $LIBDIR/libesmarket.so not found: run 'swift build -c release --product esmarket' first"
    echo "total: 0 passed, 1 failed"
    exit 1
fi

RUNNER=()
if [ "${ESM_VALGRIND:-0}" = "1" ]; then
    # Memory errors and definite or indirect leaks fail the run; "possibly lost" blocks are the Swift runtime's
    # process-lifetime metadata caches and are not counted.
    RUNNER=(valgrind --quiet --error-exitcode=1 --leak-check=full
            --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect
            --track-origins=yes)
fi

echo "== building Tests/c/test_capi (library: $LIBDIR)"
$CC -std=c11 -O1 -g -Wall -Wextra -Werror -I "$ROOT/include" $JSONC_CFLAGS \
    "$ROOT/Tests/c/test_capi.c" -o "$ROOT/Tests/c/test_capi" \
    -L "$LIBDIR" -lesmarket $JSONC_LIBS -lpthread -lm -Wl,-rpath,"$LIBDIR"

echo "== building examples/c/example"
make --no-print-directory -s -C "$ROOT/examples/c" -B example ROOT="$ROOT" LIBDIR="$LIBDIR"

passed=0
failed=0

echo "== examples/c/example"
set +e
example_out=$("${RUNNER[@]}" "$ROOT/examples/c/example" 2>&1)
example_rc=$?
set -e
printf '%s\n' "$example_out" | sed 's/^/    /'
if [ $example_rc -eq 0 ] && printf '%s\n' "$example_out" | grep -Eq 'price [0-9]+\.[0-9]+' \
   && printf '%s\n' "$example_out" | grep -q 'status: solved'; then
    echo "PASS example runs, solves and prints the community price"
    passed=$((passed + 1))
else
    echo "FAIL example (exit code $example_rc, or no 'status: solved' / 'price <number>' in its output)"
    failed=$((failed + 1))
fi

echo "== linkage of libesmarket.so"
# The Swift runtime is linked statically: only system libraries may be needed at load time.
others=$(ldd "$LIBDIR/libesmarket.so" | awk '{print $1}' | grep -v -E '^(linux-vdso\.so|/lib64/ld-linux|libc\.so|libm\.so|libstdc\+\+\.so|libgcc_s\.so|libjson-c\.so)' || true)
if [ -z "$others" ]; then
    echo "PASS libesmarket.so needs only libc, libm, libstdc++, libgcc_s and libjson-c"
    passed=$((passed + 1))
else
    echo "FAIL libesmarket.so needs other libraries: $others"
    failed=$((failed + 1))
fi

echo "== Tests/c/test_capi"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
"${RUNNER[@]}" "$ROOT/Tests/c/test_capi" | tee "$log"
capi_rc=${PIPESTATUS[0]}
set -e
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)
if [ -n "$summary" ]; then
    passed=$((passed + $(echo "$summary" | cut -d' ' -f1)))
    failed=$((failed + $(echo "$summary" | cut -d' ' -f3)))
fi
if [ $capi_rc -ne 0 ] && { [ -z "$summary" ] || [ "$(echo "$summary" | cut -d' ' -f3)" = 0 ]; }; then
    echo "FAIL test_capi exited with code $capi_rc (crash, or a valgrind error)"
    failed=$((failed + 1))
fi

echo "total: $passed passed, $failed failed"
[ $failed -eq 0 ]
