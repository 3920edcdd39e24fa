#!/bin/sh
# Runs every test of the project and ends with one line "N passed, N failed".
#   MODE=       Rust tests, every C test (shared library, then static) and
#               the bad-input test generated from the header, the header
#               compiled standalone as C and C++, header freshness, the
#               outline of the header's comments (c_tests/header_check.py).
#   MODE=valgrind  the C tests under valgrind (0 errors, 0 bytes lost).
#   MODE=asan      the C tests (the generated one too) built with
#                  -fsanitize=address,undefined and the library with rustc's
#                  -Zsanitizer=address (nightly).
#   MODE=tsan      the C tests built with -fsanitize=thread and the library
#                  with rustc's -Zsanitizer=thread (nightly): 0 reports.
set -u
cd "$(dirname "$0")/.."
MODE=${MODE:-}
CC=${CC:-cc}
CXX=${CXX:-c++}
BUILD=build/tests${MODE:+-$MODE}
# Cargo's build directory: CARGO_TARGET_DIR when set, as cargo does.
TARGET=${CARGO_TARGET_DIR:-target}
case "$TARGET" in
/*) ;;
*) TARGET=$PWD/$TARGET ;;
esac
RELEASE=$TARGET/release
CFLAGS="-std=c11 -Wall -Wextra -Wpedantic -Werror -g -Iinclude -Ic_tests -pthread"
# No test program may hang: each is killed after this many seconds (the
# threaded ones also set an alarm of their own) and counts as a failure.
case "$MODE" in
valgrind) LIMIT=1800 ;;
*) LIMIT=600 ;;
esac
passed=0
failed=0
mkdir -p "$BUILD"

pass() { passed=$((passed + 1)); echo "PASSED: $1"; }
fail() { failed=$((failed + 1)); echo "FAILED: $1"; }

# Adds the PASSED/FAILED lines of a test program's output to the counts; a
# program that exits non-zero without a FAILED line counts as one failure.
count_output() { # name, output file, exit status
    p=$(grep -c '^PASSED: ' "$2")
    f=$(grep -c '^FAILED: ' "$2")
    cat "$2"
    if [ "$3" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "FAILED: $1 (exit status $3)"
    fi
    passed=$((passed + p))
    failed=$((failed + f))
}

build_library() { # cargo flags...
    if ! cargo build --release --quiet "$@"; then
        fail "cargo build"
        summary
    fi
    # Programs linked with -lstackless look for the soname.
    ln -sf libstackless.so "$RELEASE/libstackless.so.0"
}

summary() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit $?
}

header_is_current() {
    fresh=$(ls -t $RELEASE/build/stackless-*/out/stackless.h | head -1)
    if cmp -s "$fresh" include/stackless.h; then
        pass "header-is-current"
    else
        fail "header-is-current (run 'make header' and commit include/stackless.h)"
    fi
}

# The header's comments hold to their outline: one case per rule of
# c_tests/header_check.py.
header_outline() {
    out="$BUILD/header-check.log"
    python3 c_tests/header_check.py include/stackless.h >"$out" 2>&1
    count_output header-check "$out" $?
}

header_compiles() {
    printf '#include <stackless.h>\n#include <stackless.h>\nint main(void) { return PyErr_Occurred() != NULL; }\n' > "$BUILD/header.c"
    cp "$BUILD/header.c" "$BUILD/header.cc"
    for std in c99 c11; do
        if $CC -std=$std -Wall -Wextra -pedantic -Werror -Iinclude -c "$BUILD/header.c" -o "$BUILD/header-$std.o"; then
            pass "header-standalone-$std"
        else
            fail "header-standalone-$std"
        fi
    done
    for std in c++11 c++17 c++20; do
        if $CXX -std=$std -Wall -Wextra -pedantic -Werror -Iinclude -c "$BUILD/header.cc" -o "$BUILD/header-$std.o"; then
            pass "header-standalone-$std"
        else
            fail "header-standalone-$std"
        fi
    done
}

# `make install` into an empty prefix, then a program built with
# pkg-config's flags runs against the installed library.
install_works() {
    prefix=$(mktemp -d)
    if make -s install PREFIX="$prefix" >/dev/null &&
        # shellcheck disable=SC2046
        $CC examples/cooperative.c $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs stackless) \
            -o "$BUILD/installed-example" &&
        LD_LIBRARY_PATH="$prefix/lib" "$BUILD/installed-example" | grep -q '^sending tasklet finished$'; then
        pass "install-pkg-config"
    else
        fail "install-pkg-config"
    fi
    rm -rf "$prefix"
}

rust_tests() {
    out="$BUILD/cargo-test.log"
    cargo test --release --quiet >"$out" 2>&1
    status=$?
    cat "$out"
    p=$(sed -n 's/^test result: .* \([0-9][0-9]*\) passed; \([0-9][0-9]*\) failed.*/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
    f=$(sed -n 's/^test result: .* \([0-9][0-9]*\) passed; \([0-9][0-9]*\) failed.*/\2/p' "$out" | awk '{s+=$1} END {print s+0}')
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "FAILED: cargo test (exit status $status)"
    fi
    passed=$((passed + p))
    failed=$((failed + f))
}

# Builds a C test with the given flags and libraries and runs it, through the
# given runner (empty, or valgrind).
c_test() { # source, suffix, extra cflags, libs, runner[, flags for compiling only]
    name=$(basename "$1" .c)
    exe="$BUILD/$name$2"
    # shellcheck disable=SC2086
    if ! $CC $CFLAGS $3 ${6:-} -c "$1" -o "$exe.o" || ! $CC $CFLAGS $3 "$exe.o" -o "$exe" $4; then
        fail "$name$2 (build)"
        return
    fi
    # shellcheck disable=SC2086
    timeout -k 10 $LIMIT $5 "$exe" >"$exe.log" 2>"$exe.err"
    status=$?
    count_output "$name$2" "$exe.log" "$status"
    if [ "$status" -ne 0 ]; then
        cat "$exe.err"
    fi
}

# Every C test of c_tests/, each as c_test does.
c_tests() { # suffix, extra cflags, libs, runner[, flags for compiling only]
    for src in c_tests/test_*.c; do
        c_test "$src" "$@"
    done
}

# The bad-input test generated from the header by c_tests/badinput_gen.py:
# every exported function with NULL pointers, objects of the wrong kind and
# extreme integers, each call in a forked child, outside and inside
# PyStackless_Call_Main; one line per function and context.
GENERATED=$BUILD/test_badinput_gen.c
generated_test() { # as c_test, without the source
    if python3 c_tests/badinput_gen.py include/stackless.h "$GENERATED"; then
        c_test "$GENERATED" "$@"
    else
        fail "test_badinput_gen (generate)"
    fi
}

# The library with the Rust side instrumented by a sanitizer: nightly rustc
# with -Zsanitizer, without LTO (so that `nm` reads the objects), with
# integer overflow checked (a release build wraps silently; an overflow
# panics here), linked with rustc's own runtime of that sanitizer instead
# of gcc's (which lacks symbols the Rust side uses). Sets SAN_LIBS; proves
# the instrumentation.
sanitized_library() { # sanitizer, its runtime's short name, probe symbol, cargo flags...
    san=$1
    short=$2
    probe=$3
    shift 3
    host=$(rustc +nightly -vV | sed -n 's/^host: //p')
    dir=$TARGET/$san
    if ! RUSTFLAGS="-Zsanitizer=$san -Cunsafe-allow-abi-mismatch=sanitizer" CARGO_PROFILE_RELEASE_LTO=false \
        CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true \
        CARGO_TARGET_DIR=$dir cargo +nightly build --release --quiet --target "$host" "$@"; then
        fail "cargo +nightly build -Zsanitizer=$san"
        summary
    fi
    lib=$dir/$host/release/libstackless.a
    rt=$(rustc +nightly --print sysroot)/lib/rustlib/$host/lib/librustc-nightly_rt.$short.a
    SAN_LIBS="$lib -Wl,--whole-archive $rt -Wl,--no-whole-archive -ldl -lm -lrt -lstdc++"
    if nm "$lib" 2>/dev/null | grep -q "$probe"; then
        pass "$san-instruments-the-rust-side"
    else
        fail "$san-instruments-the-rust-side (no $probe in $lib)"
    fi
}

# Each example whose first comment ends a sentence with "prints:" prints
# exactly the indented block that follows.
examples_print_what_they_say() {
    for src in examples/*.c; do
        name=$(basename "$src" .c)
        expected="$BUILD/example-$name.expected"
        awk '/prints:$/ {on = 1; next} on && /^ \*     / {sub(/^ \*     /, ""); print; next} on && /^ \*\/?$/ && seen {exit} on {seen = 1}' \
            "$src" >"$expected"
        [ -s "$expected" ] || continue
        exe="$BUILD/example-$name"
        # shellcheck disable=SC2086
        if $CC -std=c11 -Wall -Wextra -Wpedantic -Werror -Iinclude -pthread "$src" -o "$exe" $SO_LIBS &&
            timeout -k 10 120 "$exe" >"$exe.out" 2>&1 && cmp -s "$expected" "$exe.out"; then
            pass "example $name prints what it says"
        else
            fail "example $name prints what it says"
            diff "$expected" "$exe.out" | head -20
        fi
    done
}

SO_LIBS="-L$RELEASE -Wl,-rpath,$RELEASE -lstackless"
A_LIBS="$RELEASE/libstackless.a -ldl -lm"

case "$MODE" in
"")
    build_library
    header_is_current
    header_outline
    rust_tests
    c_tests "" "" "$SO_LIBS" ""
    generated_test "" "" "$SO_LIBS" ""
    # The static library: every program once more, counted as one case each.
    for src in c_tests/test_*.c "$GENERATED"; do
        name=$(basename "$src" .c)
        exe="$BUILD/$name-static"
        # shellcheck disable=SC2086
        if $CC $CFLAGS "$src" -o "$exe" $A_LIBS && timeout -k 10 $LIMIT "$exe" >"$exe.log" 2>&1; then
            pass "$name-static"
        else
            fail "$name-static"
            tail -20 "$exe.log"
        fi
    done
    header_compiles
    install_works
    examples_print_what_they_say
    ;;
valgrind)
    build_library
    # --fair-sched: valgrind runs one thread at a time, and its default lock
    # lets a spinning thread take it again and again; a test thread that
    # waits for a tasklet's spin then starved past its bound (one run in
    # three of test_fds_threads under check-valgrind's load).
    c_tests "" "" "$SO_LIBS" "valgrind -q --fair-sched=yes --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect"
    ;;
asan)
    sanitized_library address asan __asan_report --features sanitizer
    # A huge allocation returns NULL, as malloc does (the bad-input test asks
    # for some), instead of ending the program.
    ASAN_OPTIONS=detect_stack_use_after_return=0:detect_leaks=1:allocator_may_return_null=1
    export ASAN_OPTIONS
    ASAN_CFLAGS="-fsanitize=address -fsanitize=undefined -fsanitize-undefined-trap-on-error -fno-omit-frame-pointer"
    c_tests "" "" "$SAN_LIBS" "" "$ASAN_CFLAGS"
    generated_test "" "" "$SAN_LIBS" "" "$ASAN_CFLAGS"
    if nm "$BUILD/test_objects.o" | grep -q __asan_report; then
        pass "asan-instruments-the-c-side"
    else
        fail "asan-instruments-the-c-side"
    fi
    ;;
tsan)
    sanitized_library thread tsan __tsan_func_entry --features tsan
    # As under ASan: a huge allocation returns NULL.
    TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}allocator_may_return_null=1"
    export TSAN_OPTIONS
    c_tests "" "" "$SAN_LIBS" "" "-fsanitize=thread"
    # TSan keeps a shadow call stack of fixed size per thread, which an
    # unbounded recursion of C functions (stopped only when the stack is
    # nearly full) overflows on an 8 MiB main stack: the generated test runs
    # with a 2 MiB one. (Tasklet stacks are small; test_recursion and
    # test_deep_calls cover recursion there.)
    generated_test "" "" "$SAN_LIBS" "prlimit --stack=2097152 --" "-fsanitize=thread"
    if nm "$BUILD/test_objects.o" | grep -q __tsan_func_entry; then
        pass "tsan-instruments-the-c-side"
    else
        fail "tsan-instruments-the-c-side"
    fi
    ;;
esac
summary
