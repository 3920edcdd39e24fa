#!/bin/sh
# make bench: builds the benchmarks in release mode, runs every row RUNS
# times and prints one table: median, min, max and the ratio of the median
# to the raw corosensei resume+suspend round trip measured in the same run.
# The blocked-N and sleep rows (SLEEP_N tasklets, a million unless set)
# print tables of their own.
set -eu
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
BUILD=build/bench
# Cargo's build directory: CARGO_TARGET_DIR when set, as cargo does.
RELEASE=${CARGO_TARGET_DIR:-target}/release
mkdir -p "$BUILD"
cargo build --release --quiet --example floor
${CC:-cc} -O2 -std=c11 -Wall -Wextra -Wpedantic -Werror -Iinclude bench/bench.c \
    -o "$BUILD/bench" "$RELEASE/libstackless.a" -pthread -ldl -lm
FLOOR=$RELEASE/examples/floor

# median min max of the numbers on stdin
stats() { sort -g | awk '{v[NR]=$1} END {m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%s %s %s", m, v[1], v[NR]}'; }

# The median of column $1 of the lines on stdin.
median() { awk -v c="$1" 'NF {print $c}' | stats | cut -d' ' -f1; }

runs() { # command...
    i=0
    while [ "$i" -lt "$RUNS" ]; do "$@"; i=$((i + 1)); done
}

floor=$(runs "$FLOOR" 10000000 | stats)
floor_median=${floor%% *}
printf '%-16s %12s %12s %12s %8s\n' benchmark "ns/op med" min max ratio
printf '%-16s %12s %12s %12s %8s\n' corosensei-raw $floor 1.0
row() { # name, iterations[, what the bench's further figures are: plain | crossed]
    out=$(runs "$BUILD/bench" "$1" "$2")
    s=$(printf '%s\n' "$out" | awk '{print $1}' | stats)
    med=${s%% *}
    ratio=$(awk -v a="$med" -v b="$floor_median" 'BEGIN {printf "%.1f", a / b}')
    extra=
    case ${3:-} in
    plain) extra="  timed/plain $(printf '%s\n' "$out" | median 3) (plain $(printf '%s\n' "$out" | median 2))" ;;
    crossed) extra="  $(printf '%s\n' "$out" | median 2)% crossed threads" ;;
    esac
    printf '%-16s %12s %12s %12s %8s%s\n' "$1" $s "$ratio" "$extra"
}
row switch 2000000
row pingpong-1 1000000
row pingpong0 1000000
row pingpong1 1000000
row timed-recv 1000000 plain
row spawn 1000000
row spawn-10k 1000000
row fanin 1000000
row threads-2 1000000
row threads-2-mixed 1000000 crossed
echo
printf '%-16s %12s %12s %12s\n' benchmark "bytes/tasklet" "create ns" "wake ns"
for n in 10000 100000 1000000; do
    out=$("$BUILD/bench" blocked "$n" 2>&1) || out="failed: $out"
    printf '%-16s %s\n' "blocked-$n" "$out"
done

# sleep-N, N tasklets sleeping once each (SLEEP_N, one million unless
# set): the median of each figure over RUNS runs.
SLEEP_N=${SLEEP_N:-1000000}
case $SLEEP_N in
1000000) label=sleep-1M ;;
*) label=sleep-$SLEEP_N ;;
esac
echo
printf '%-16s %12s %12s %12s %12s\n' benchmark "bytes/tasklet" "set ns" "fire ns" "last late us"
out=
i=0
while [ "$i" -lt "$RUNS" ]; do
    if ! line=$("$BUILD/bench" sleep "$SLEEP_N" 2>&1); then
        out="failed: $line"
        break
    fi
    out="$out$line
"
    i=$((i + 1))
done
case $out in
failed:*) printf '%-16s %s\n' "$label" "$out" ;;
*)
    printf '%-16s %12s %12s %12s %12s\n' "$label" "$(printf '%s' "$out" | median 1)" \
        "$(printf '%s' "$out" | median 2)" "$(printf '%s' "$out" | median 3)" "$(printf '%s' "$out" | median 4)"
    ;;
esac

# The timers' own cost at that scale: sleep-burst (the fire phase starts
# once every deadline has passed) against sleep-plain (the same rounds and
# order of waking, with Schedule, Remove and Insert instead of timers),
# alternating, TIMER_RUNS times each (3 unless set): the medians of each,
# and their differences, what setting and firing the timers adds.
TIMER_RUNS=${TIMER_RUNS:-3}
echo
printf '%-16s %12s %12s\n' benchmark "set ns" "fire ns"
burst=
plain=
i=0
while [ "$i" -lt "$TIMER_RUNS" ]; do
    if ! b=$("$BUILD/bench" sleep-burst "$SLEEP_N" 2>&1) || ! p=$("$BUILD/bench" sleep-plain "$SLEEP_N" 2>&1); then
        burst="failed: $b $p"
        break
    fi
    burst="$burst$b
"
    plain="$plain$p
"
    i=$((i + 1))
done
case $burst in
failed:*) printf '%-16s %s\n' "${label}-timers" "$burst" ;;
*)
    bs=$(printf '%s' "$burst" | median 2)
    bf=$(printf '%s' "$burst" | median 3)
    ps=$(printf '%s' "$plain" | median 2)
    pf=$(printf '%s' "$plain" | median 3)
    printf '%-16s %12s %12s\n' "${label}-burst" "$bs" "$bf"
    printf '%-16s %12s %12s\n' "${label}-plain" "$ps" "$pf"
    printf '%-16s %12s %12s\n' "timers' own" "$(awk -v a="$bs" -v b="$ps" 'BEGIN {printf "%.1f", a - b}')" \
        "$(awk -v a="$bf" -v b="$pf" 'BEGIN {printf "%.1f", a - b}')"
    ;;
esac

# idle: a thread whose 10 tasklets all sleep 1 s, three times, with
# another thread alive in the runtime: its CPU time per second (µs).
echo
printf '%-16s %12s\n' benchmark "cpu us/s"
out=$(runs "$BUILD/bench" idle 2>&1) || out="failed: $out"
case $out in
failed:*) printf '%-16s %s\n' idle "$out" ;;
*) printf '%-16s %12s\n' idle "$(printf '%s\n' "$out" | median 1)" ;;
esac

# echo: examples/echo_server on one thread, loaded by bench/echo with
# ECHO_CONNS connections (100 and 10,000 unless set) for ECHO_SECONDS (3)
# each, 64-byte messages, loopback only; once each (connections are
# reset, never left in TIME_WAIT). Then the same load against
# bench/epoll_echo, an echo server written directly on epoll: the
# baseline.
for prog in examples/echo_server bench/epoll_echo; do
    ${CC:-cc} -O2 -std=c11 -Wall -Wextra -Wpedantic -Werror -Iinclude "$prog.c" \
        -o "$BUILD/$(basename "$prog")" target/release/libstackless.a -pthread -ldl -lm
done
${CC:-cc} -O2 -std=c11 -Wall -Wextra -Wpedantic -Werror -Iinclude bench/echo.c \
    -o "$BUILD/echo" target/release/libstackless.a -pthread -ldl -lm
echo_rows() { # row name prefix, server program
    "$BUILD/$2" 0 >"$BUILD/$2.out" &
    server=$!
    tries=0
    until port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$BUILD/$2.out") && [ -n "$port" ]; do
        tries=$((tries + 1))
        if [ "$tries" -gt 100 ]; then
            echo "$1: the server did not start"
            kill "$server"
            exit 1
        fi
        sleep 0.1
    done
    for conns in ${ECHO_CONNS:-100 10000}; do
        out=$("$BUILD/echo" "127.0.0.1:$port" "$conns" "${ECHO_SECONDS:-3}" 64 "$server" 2>&1) || out="failed: $out"
        printf '%-16s %s\n' "$1-$conns" "$out"
    done
    kill -TERM "$server"
    wait "$server"
}
echo
echo_rows echo echo_server
echo_rows epoll-echo epoll_echo
