#!/usr/bin/env bash
# The serve benchmark: the same load on `sockdemo serve`, on the floor
# (bench/floor_server.rs: a bare std::net thread-per-connection server), and
# on the tutorial's Python server (bench/tutorial/seed_server.py), from two
# load generators: `sockdemo client --connections N`, and bench/loadgen.c,
# which shares no code with sockdemo (one thread, epoll).
#
# The load, at each concurrency N: N connections held open at once, each
# greeted, then ROUNDS round trips on each in the protocol's raw mode (one
# message in flight per connection), every reply checked, then `exit`. Only
# the round trips are timed. Each run gets a fresh server, whose peak RSS
# (VmHWM) is read just before it is stopped. The servers take turns in an
# order that rotates with each repeat; the report gives medians. A server
# that failed connections at a level is not run again at that level: such a
# run already says what it can say, and the Python server at 10,000
# connections takes minutes to fail each time.
#
# Usage: bench/serve.sh
#   environment: REPEATS=5 LEVELS="1 16 256 1000 10000" SERVERS="sockdemo floor python"
# Needs: cargo, cc, python3. Writes target/bench/serve/{runs.tsv,report.md}.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

require cargo "https://rustup.rs"
require cc "apt-get install gcc"
require python3 "apt-get install python3"

repeats=${REPEATS:-5}
levels=${LEVELS:-1 16 256 1000 10000}
servers=${SERVERS:-sockdemo floor python}
out=target/bench/serve
mkdir -p "$out"

cargo build --release --locked --quiet --bin sockdemo --example floor_server
cc -O2 -Wall -o "$out/loadgen" bench/loadgen.c
sockdemo=target/release/sockdemo
loadgen=$out/loadgen

# 10,000 connections need 10,000 descriptors on each side.
ulimit -n "$(ulimit -Hn)"

generators="client loadgen"

# Round trips per connection: about 100,000 round trips per run (a second
# or two on the Rust servers), at least 10.
rounds_for() {
    local rounds=$(((100000 + $1 - 1) / $1))
    echo $((rounds > 10 ? rounds : 10))
}

# Starts server $1; sets server_pid and addr.
start() {
    start_greeting_server "$1" "$out/server.log"
}

# Runs generator $1 with N=$2 connections, $3 rounds against $addr; prints
# "ok failed round_trips rate p50 p99 max" (times in ms).
run_load() {
    local line
    case $1 in
    client)
        line=$("$sockdemo" client --connect "$addr" --connections "$2" --rounds "$3" \
            --timeout 60s 2>>"$out/load.stderr" || true)
        sed -nE 's/^connections: ([0-9]+) ok, ([0-9]+) failed; round trips: ([0-9]+) in [0-9.]+ s, ([0-9]+)\/s(; latency p50 ([0-9.]+) ms, p90 [0-9.]+ ms, p99 ([0-9.]+) ms, max ([0-9.]+) ms)?$/\1 \2 \3 \4 \6 \7 \8/p' <<<"$line"
        ;;
    loadgen)
        line=$("$loadgen" "$addr" "$2" "$3" 180 2>>"$out/load.stderr" || true)
        sed -nE 's/^ok=([0-9]+) failed=([0-9]+) round_trips=([0-9]+) seconds=[0-9.]+ rate=([0-9]+) p50_ms=([0-9.]+) p90_ms=[0-9.]+ p99_ms=([0-9.]+) max_ms=([0-9.]+)$/\1 \2 \3 \4 \5 \6 \7/p' <<<"$line"
        ;;
    esac
}

runs=$out/runs.tsv
printf 'level\trounds\trepeat\tserver\tgenerator\tok\tfailed\tround_trips\trate\tp50_ms\tp99_ms\tmax_ms\trss_kib\n' >"$runs"
: >"$out/load.stderr"
read -ra server_list <<<"$servers"
declare -A failed_at
for level in $levels; do
    rounds=$(rounds_for "$level")
    for repeat in $(seq "$repeats"); do
        # Rotate the order of the servers with each repeat.
        count=${#server_list[@]}
        for k in $(seq 0 $((count - 1))); do
            server=${server_list[$(((k + repeat) % count))]}
            for generator in $generators; do
                [[ -z ${failed_at[$server.$generator.$level]:-} ]] || continue
                start "$server"
                result=$(run_load "$generator" "$level" "$rounds")
                rss=$(peak_rss_kib "$server_pid")
                stop_server
                [[ -n $result ]] || result="0 $level 0 0 - - -"
                read -r ok failed trips rate p50 p99 max <<<"$result"
                ((failed == 0)) || failed_at[$server.$generator.$level]=1
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$level" "$rounds" "$repeat" \
                    "$server" "$generator" "$ok" "$failed" "$trips" "$rate" "${p50:--}" \
                    "${p99:--}" "${max:--}" "$rss" | tee -a "$runs"
                sleep 1
            done
        done
    done
done

echo "runs: $runs"
python3 bench/report.py serve "$runs" | tee "$out/report.md"
