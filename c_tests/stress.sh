#!/bin/sh
# `make stress`: runs the randomized thread test (test_thread_chaos) over many
# seeds, the request/reply test (test_thread_reply) and the fd waits across
# threads (test_fds_threads) many times, the time extensions across threads
# (test_time_threads: the race of a partner and a deadline) over many seeds,
# two runs at once, and the stack overflow test with its million-tasklet cases
# (test_overflow, OVERFLOW_MILLION=1) once, each under a time limit, and
# sorts every run into
#   crash      it died by a signal (the log gets the backtrace from its core),
#   hang       the time limit killed it, or its own hang guard fired (the log
#              then holds every thread's backtrace, taken with gdb),
#   violation  it exited non-zero otherwise (a check failed).
# It prints one line per test ("chaos: 1000 runs, 0 crashes, 0 hangs,
# 0 violations"), then the distinct crash and hang signatures, keeps the logs
# of failed runs in build/stress/<test>/ (named <kind>-<seed>.log; the seeds
# are listed in build/stress/<test>/failed), and exits non-zero if any run
# failed.
#
#   STRESS_RUNS=1000      chaos runs (seeds STRESS_SEED, STRESS_SEED+1, ...)
#   STRESS_REPLY_RUNS=50  reply runs
#   STRESS_TIME_RUNS=50   time runs (TIME_SEED=STRESS_SEED, STRESS_SEED+1, ...;
#                         a run takes well under a second)
#   STRESS_SEED=1         the first seed
#   STRESS_JOBS=2         runs at once
#   STRESS_TIMEOUT=120    seconds before a run counts as a hang
#   STRESS_BUSY=1         keep one more process spinning on a core for the
#                         whole time (a number: that many); default 0
#   STRESS_PIN=1          run each test with all its threads on one core
#                         (taskset -c 0): every switch between its threads
#                         is a preemption
#   STRESS_TESTS="chaos reply fds time overflow"  which tests (fds:
#                         test_fds_threads, STRESS_FDS_RUNS times, 50
#                         unless set; time: test_time_threads)
#   STRESS_KEEP_CORES=1   keep the core files of crashes (else only the
#                         backtraces are kept)
# Any CHAOS_*, REPLY_* or TIME_* variable is passed on to the tests (but
# TIME_SEED, which each time run gets from the seed list).
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/build/stress
BIN=$OUT/bin
TARGET=${CARGO_TARGET_DIR:-target}
case "$TARGET" in
/*) ;;
*) TARGET=$ROOT/$TARGET ;;
esac
RELEASE=$TARGET/release
TIMEOUT=${STRESS_TIMEOUT:-120}

# ---- one run (called through xargs): stress.sh --one TEST SEED ------------
if [ "${1:-}" = "--one" ]; then
    test=$2
    seed=$3
    dir=$OUT/$test/run.$seed
    rm -rf "$dir"
    mkdir -p "$dir"
    cd "$dir" || exit 1
    ulimit -c unlimited 2>/dev/null
    # The test's own guard fires first (with backtraces), the timeout last.
    limit=$((TIMEOUT - 15))
    [ "$limit" -lt 10 ] && limit=10
    pin=""
    [ "${STRESS_PIN:-0}" = 1 ] && pin="taskset -c 0"
    case "$test" in
    overflow) prog=test_overflow
        ulimit -c 0 2>/dev/null ;; # its children abort on purpose
    fds) prog=test_fds_threads ;;
    time) prog=test_time_threads ;;
    *) prog=test_thread_$test ;;
    esac
    case "$test" in
    chaos) CHAOS_SEED=$seed CHAOS_RUNS=1 CHAOS_LIMIT_S=${CHAOS_LIMIT_S:-$limit} \
        CHAOS_HANG_S=${CHAOS_HANG_S:-3} HANG_GDB=1 \
        timeout -k 10 "$TIMEOUT" $pin "$BIN/$prog" >run.log 2>&1 ;;
    reply) REPLY_LIMIT_S=${REPLY_LIMIT_S:-$limit} HANG_GDB=1 \
        timeout -k 10 "$TIMEOUT" $pin "$BIN/$prog" >run.log 2>&1 ;;
    overflow) OVERFLOW_MILLION=1 timeout -k 10 "$TIMEOUT" $pin "$BIN/$prog" >run.log 2>&1 ;;
    fds) HANG_GDB=1 timeout -k 10 "$TIMEOUT" $pin "$BIN/$prog" >run.log 2>&1 ;;
    time) TIME_SEED=$seed TIME_LIMIT_S=${TIME_LIMIT_S:-$limit} HANG_GDB=1 \
        timeout -k 10 "$TIMEOUT" $pin "$BIN/$prog" >run.log 2>&1 ;;
    esac
    status=$?
    if [ "$status" -eq 0 ]; then
        kind=ok
    elif [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
        kind=hang
        echo "stress: killed by timeout after ${TIMEOUT}s" >>run.log
    elif [ "$status" -eq 3 ] && grep -q '(hang: ' run.log; then
        kind=hang
    elif [ "$status" -gt 128 ]; then
        kind=crash
        echo "stress: died by signal $((status - 128))" >>run.log
    else
        kind=violation
    fi
    if [ "$kind" != ok ]; then
        core=$(ls core* 2>/dev/null | head -1)
        if [ -n "$core" ] && command -v gdb >/dev/null 2>&1; then
            {
                echo "== backtrace of the faulting thread (core)"
                gdb -q -batch -ex bt "$BIN/$prog" "$core" 2>/dev/null | grep '^#'
                echo "== every thread"
                gdb -q -batch -ex 'thread apply all bt' "$BIN/$prog" "$core" 2>/dev/null
            } >>run.log
        fi
        mv run.log "$OUT/$test/$kind-$seed.log"
        if [ -n "$core" ] && [ "${STRESS_KEEP_CORES:-0}" = 1 ]; then
            mv "$core" "$OUT/$test/core-$seed"
        fi
        echo "$seed $kind" >>"$OUT/$test/failed"
    fi
    echo "$seed $kind" >>"$OUT/$test/results"
    cd "$OUT" && rm -rf "$dir"
    exit 0
fi

# ---- signatures ---------------------------------------------------------------

# A crash's signature: a panic's location and message, else the first three
# frames of the faulting thread that are the library's or the test's.
crash_signature() { # log
    panic=$(grep -m1 -A1 'panicked at' "$1" | tr '\n' ' ' | sed 's/^.*panicked at //; s/  */ /g')
    frames=$(sed -n '/^== backtrace of the faulting thread/,/^== every thread/p' "$1" | grep '^#' |
        sed 's/^#[0-9]* *//; s/^0x[0-9a-f]* in //; s/ (.*) at / @ /; s/ at / @ /; s/ () from .*//; s/<[^>]*>//g' |
        grep -v '^core::\|^std::\|^__\|^raise\|^abort\|^<signal' | uniq | head -3 | tr '\n' ';' | sed 's/;$//; s/;/ < /g')
    if [ -n "$panic" ]; then
        echo "panic: $panic | $frames"
    else
        echo "${frames:-(no backtrace)}"
    fi
}

# A hang's signature: where the threads that are inside the runtime wait (the
# innermost frame of the runtime and the test function that called in), each
# place once; the log has the full backtraces.
hang_signature() { # log
    sig=$(awk '
        function flush() { if (lib != "") print lib " (" (fn == "" ? "?" : fn) ")"; lib = ""; api = ""; fn = "" }
        /^Thread [0-9]+ / { flush(); next }
        /^#[0-9]/ {
            line = $0
            sub(/^#[0-9]+ +(0x[0-9a-f]+ in )?/, "", line)
            sub(/ \(.*$/, "", line)
            if (lib == "" && line ~ /^stackless::(runtime|capi)::/) { l = line; sub(/^stackless::/, "", l); lib = l }
            if (api == "" && line ~ /^stackless::capi::[a-z_]+::Py[A-Za-z_]+$/) { a = line; sub(/^.*::/, "", a); api = a }
            if (fn == "" && line ~ /^(chaos_|serve|ask|client_main|server_main|race_|main$)/) fn = line
        }
        END { flush() }
    ' "$1" | sort -u | awk '{printf "%s%s", (NR > 1 ? ", " : ""), $0}')
    echo "${sig:-(no backtrace: killed by timeout)}"
}

summary_of() { # test
    results=$OUT/$1/results
    runs=0
    [ -f "$results" ] && runs=$(wc -l <"$results")
    crashes=$(grep -c ' crash$' "$results" 2>/dev/null)
    hangs=$(grep -c ' hang$' "$results" 2>/dev/null)
    violations=$(grep -c ' violation$' "$results" 2>/dev/null)
    echo "$1: $((runs)) runs, $((crashes)) crashes, $((hangs)) hangs, $((violations)) violations"
    bad=$((bad + crashes + hangs + violations))
}

# Groups lines "signature<TAB>seed" by signature, most frequent first.
group() { # kind
    awk -F'\t' '{n[$1]++; s[$1] = s[$1] " " $2} END {for (k in n) printf "%d\t%s\t%s\n", n[k], k, s[k]}' |
        sort -t "$(printf '\t')" -k1,1nr -k2 |
        while IFS="$(printf '\t')" read -r n sig seeds; do
            echo "  $n $1: $sig"
            echo "      seeds: $(echo $seeds | tr ' ' '\n' | sort -n | head -20 | tr '\n' ' ')"
        done
}

details_of() { # test
    for f in "$OUT/$1"/crash-*.log; do
        [ -e "$f" ] || continue
        printf '%s\t%s\n' "$(crash_signature "$f")" "$(basename "$f" .log | sed 's/crash-//')"
    done | group crashes
    for f in "$OUT/$1"/hang-*.log; do
        [ -e "$f" ] || continue
        printf '%s\t%s\n' "$(hang_signature "$f")" "$(basename "$f" .log | sed 's/hang-//')"
    done | group hangs
    for f in "$OUT/$1"/violation-*.log; do
        [ -e "$f" ] || continue
        seed=$(basename "$f" .log | sed 's/violation-//')
        grep -h '^    c_tests/' "$f" | sed 's/^ *c_tests\/[a-z_]*\.c:[0-9]*: //; s/seed=[0-9]*: //; s/[0-9][0-9]*/N/g' |
            sort -u | sed "s/\$/	$seed/"
    done | group violations
}

# ---- the whole run --------------------------------------------------------------

RUNS=${STRESS_RUNS:-1000}
REPLY_RUNS=${STRESS_REPLY_RUNS:-50}
FDS_RUNS=${STRESS_FDS_RUNS:-50}
TIME_RUNS=${STRESS_TIME_RUNS:-50}
FIRST=${STRESS_SEED:-1}
JOBS=${STRESS_JOBS:-2}
TESTS=${STRESS_TESTS:-chaos reply fds time overflow}
BUSY=${STRESS_BUSY:-0}
CC=${CC:-cc}
CFLAGS="-std=c11 -Wall -Wextra -Wpedantic -Werror -g -Iinclude -Ic_tests -pthread"

if ! cargo build --release --quiet; then
    echo "stress: cargo build failed"
    exit 1
fi
ln -sf libstackless.so "$RELEASE/libstackless.so.0"
mkdir -p "$BIN"
for t in thread_chaos thread_reply fds_threads time_threads overflow; do
    # shellcheck disable=SC2086
    if ! $CC $CFLAGS "c_tests/test_$t.c" -o "$BIN/test_$t" \
        -L"$RELEASE" -Wl,-rpath,"$RELEASE" -lstackless; then
        echo "stress: building test_$t failed"
        exit 1
    fi
done

spinners=""
stop_spinners() {
    for p in $spinners; do
        kill "$p" 2>/dev/null
    done
    spinners=""
}
trap 'stop_spinners' EXIT
trap 'stop_spinners; exit 130' INT TERM
if [ "$BUSY" != 0 ]; then
    i=0
    while [ "$i" -lt "$BUSY" ]; do
        sh -c 'while :; do :; done' &
        spinners="$spinners $!"
        i=$((i + 1))
    done
    echo "stress: $BUSY spinning process(es) keep a core busy:$spinners"
fi

export TIMEOUT OUT BIN
export STRESS_TIMEOUT=$TIMEOUT
bad=0
started=$(date +%s)
for t in $TESTS; do
    rm -rf "${OUT:?}/$t"
    mkdir -p "$OUT/$t"
    case "$t" in
    chaos) n=$RUNS ;;
    reply) n=$REPLY_RUNS ;;
    fds) n=$FDS_RUNS ;;
    time) n=$TIME_RUNS ;;
    overflow) n=1 ;;
    *) echo "stress: no test $t"; exit 1 ;;
    esac
    [ "$n" -gt 0 ] || continue
    echo "stress: $t: $n runs, $JOBS at once, ${TIMEOUT}s each at most$([ "$BUSY" != 0 ] && echo ", busy $BUSY")$([ "${STRESS_PIN:-0}" = 1 ] && echo ", pinned to one core")${CHAOS_SKIP:+, CHAOS_SKIP=$CHAOS_SKIP}"
    seq "$FIRST" $((FIRST + n - 1)) | xargs -P "$JOBS" -n 1 sh "$ROOT/c_tests/stress.sh" --one "$t"
done
stop_spinners
echo "stress: $(($(date +%s) - started)) s$([ "$BUSY" != 0 ] && echo ", with $BUSY busy process(es)")"
for t in $TESTS; do
    summary_of "$t"
done
for t in $TESTS; do
    [ -s "$OUT/$t/failed" ] || continue
    echo "$t: signatures (logs in build/stress/$t/):"
    details_of "$t"
done
[ "$bad" -eq 0 ]
