#!/usr/bin/env bash
# Builds and runs the C API boundary tests (Tests/c/test_capi.c), the concurrency test
# (Tests/c/test_concurrency.c: 8 threads, results byte-identical to serial) and the C example
# (examples/c/example.c), against .build/release/libesmarket.so.
#
#   swift build -c release --product esmarket     # once, at the repository root
#   Tests/c/run.sh                                # from anywhere
#   ESM_VALGRIND=1 Tests/c/run.sh                 # all programs under valgrind (leaks = failure)
#   ESMARKET_LIB_DIR=/some/dir Tests/c/run.sh     # test the libesmarket.so in another folder
#   ESM_SANITIZE=address Tests/c/run.sh           # programs built with clang -fsanitize=address
#                                                 # against .build-asan/debug (make reliability
#                                                 # builds it: swift build --sanitize=address)
#   ESM_SANITIZE=thread Tests/c/run.sh            # the same with ThreadSanitizer (.build-tsan)
#   ESM_CONCURRENCY_CALLS=N                       # esm_clear calls per thread (default 100; 4 under
#                                                 # valgrind, which runs the threads one at a time)
#
# Prints one line per check and ends with "total: N passed, M failed"; exits non-zero on failure.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SANITIZE=${ESM_SANITIZE:-}
SANFLAGS=()
SUFFIX=
CALLS=${ESM_CONCURRENCY_CALLS:-100}
case "$SANITIZE" in
    "") DEFAULT_LIBDIR=$ROOT/.build/release ;;
    address)
        DEFAULT_LIBDIR=$ROOT/.build-asan/debug; SANFLAGS=(-fsanitize=address -fno-omit-frame-pointer -fuse-ld=lld); SUFFIX=-asan
        CC=${ESM_SANITIZE_CC:-clang}
        # LeakSanitizer is part of the run: a leak fails it like a memory error.
        export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1} ;;
    thread)
        # The toolchain's TSan runtime intercepts libdispatch, so it links against the toolchain's.
        SWIFT_LIBDIR=$(dirname "$(dirname "$(command -v swift)")")/lib/swift/linux
        DEFAULT_LIBDIR=$ROOT/.build-tsan/debug
        SANFLAGS=(-fsanitize=thread -fuse-ld=lld -L"$SWIFT_LIBDIR" -ldispatch -lBlocksRuntime -Wl,-rpath,"$SWIFT_LIBDIR"); SUFFIX=-tsan
        CC=${ESM_SANITIZE_CC:-clang}
        export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:exitcode=66:second_deadlock_stack=1} ;;
    *) echo "ESM_SANITIZE must be address or thread"; exit 2 ;;
esac
LIBDIR=${ESMARKET_LIB_DIR:-$DEFAULT_LIBDIR}
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
    CALLS=${ESM_CONCURRENCY_CALLS:-4}
fi

echo "== building Tests/c/test_capi$SUFFIX and test_concurrency$SUFFIX (library: $LIBDIR${SANITIZE:+, -fsanitize=$SANITIZE})"
for prog in test_capi test_concurrency; do
    $CC -std=c11 -O1 -g -Wall -Wextra -Werror "${SANFLAGS[@]}" -I "$ROOT/include" $JSONC_CFLAGS \
        "$ROOT/Tests/c/$prog.c" -o "$ROOT/Tests/c/$prog$SUFFIX" \
        -L "$LIBDIR" -lesmarket $JSONC_LIBS -lpthread -lm -Wl,-rpath,"$LIBDIR"
done

echo "== building examples/c/example"
make --no-print-directory -s -C "$ROOT/examples/c" -B example ROOT="$ROOT" LIBDIR="$LIBDIR" CC="$CC" \
    CFLAGS="-O2 -g -Wall -Wextra -Werror ${SANFLAGS[*]}"

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

log=$(mktemp)
trap 'rm -f "$log"' EXIT
run_counted() {  # runs a test program that ends with "N passed, M failed"
    local name=$1; shift
    echo "== Tests/c/$name"
    set +e
    "${RUNNER[@]}" "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    set -e
    local summary
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)
    if [ -n "$summary" ]; then
        passed=$((passed + $(echo "$summary" | cut -d' ' -f1)))
        failed=$((failed + $(echo "$summary" | cut -d' ' -f3)))
    fi
    if [ $rc -ne 0 ] && { [ -z "$summary" ] || [ "$(echo "$summary" | cut -d' ' -f3)" = 0 ]; }; then
        echo "FAIL $name exited with code $rc (crash, or a valgrind or sanitizer report)"
        failed=$((failed + 1))
    fi
    if grep -q -E '^(==[0-9]+==ERROR|WARNING: ThreadSanitizer|SUMMARY: (Address|Leak|Thread)Sanitizer)' "$log"; then
        echo "FAIL $name: sanitizer report above"
        failed=$((failed + 1))
    fi
}
run_counted "test_capi$SUFFIX" "$ROOT/Tests/c/test_capi$SUFFIX"
run_counted "test_concurrency$SUFFIX" "$ROOT/Tests/c/test_concurrency$SUFFIX" "$CALLS"

echo "total: $passed passed, $failed failed"
[ $failed -eq 0 ]
