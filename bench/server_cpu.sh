#!/usr/bin/env bash
# Server CPU time per round trip: the companion of bench/serve.sh that the
# machine's other load disturbs least. Throughput on a shared 2-core machine
# swings by tens of percent from run to run; the CPU time a server spends on
# a fixed number of round trips hardly does.
#
# For each concurrency N, REPEATS times, each server in turn: start it, run
# `sockdemo client --connections N --rounds M` (M = 200,000/N, at least 10)
# against it, then read its user and system time (/proc/PID/stat, all
# threads) and its peak RSS before stopping it. The servers are those of
# bench/serve.sh: sockdemo, the floor, the tutorial's Python server.
#
# Usage: bench/server_cpu.sh
#   environment: REPEATS=3 LEVELS="1 16 256 1000 10000" SERVERS="sockdemo floor python"
#   (the Python server at 10,000 connections takes minutes per run, and fails);
#   SERVE_ARGS: more flags for `sockdemo serve` (e.g. --idle-timeout 0)
# Needs: cargo, python3. Writes target/bench/cpu/{runs.tsv,report.md}: one line
# per run, then the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

require cargo "https://rustup.rs"
require python3 "apt-get install python3"

repeats=${REPEATS:-3}
levels=${LEVELS:-1 16 256 1000 10000}
servers=${SERVERS:-sockdemo floor python}
out=target/bench/cpu
mkdir -p "$out"
cargo build --release --locked --quiet --bin sockdemo --example floor_server
sockdemo=target/release/sockdemo
ulimit -n "$(ulimit -Hn)"
ticks=$(getconf CLK_TCK)

# Starts server $1; sets server_pid and addr.
start() {
    start_greeting_server "$1" "$out/server.log"
}

runs=$out/runs.tsv
printf 'level\trepeat\tserver\tcpu_us_per_round_trip\tuser_s\tsys_s\trss_kib\trate\n' | tee "$runs"
: >"$out/load.stderr"
for level in $levels; do
    rounds=$((200000 / level > 10 ? 200000 / level : 10))
    for repeat in $(seq "$repeats"); do
        for server in $servers; do
            start "$server"
            line=$("$sockdemo" client --connect "$addr" --connections "$level" --rounds "$rounds" \
                --timeout 60s 2>>"$out/load.stderr" || true)
            read -r user sys < <(awk '{ print $14, $15 }' "/proc/$server_pid/stat")
            rss=$(peak_rss_kib "$server_pid")
            stop_server
            trips=$(sed -nE 's/.*round trips: ([0-9]+) in.*/\1/p' <<<"$line")
            rate=$(sed -nE 's/.* ([0-9]+)\/s.*/\1/p' <<<"$line")
            awk -v n="$level" -v r="$repeat" -v s="$server" -v u="$user" -v y="$sys" -v t="$ticks" \
                -v trips="${trips:-0}" -v rss="$rss" -v rate="${rate:-0}" 'BEGIN {
                    per = trips ? sprintf("%.2f", (u + y) / t / trips * 1e6) : "-"
                    printf "%s\t%s\t%s\t%s\t%.2f\t%.2f\t%s\t%s\n", n, r, s, per, u / t, y / t, rss, rate
                }' | tee -a "$runs"
        done
    done
done

echo "runs: $runs"
python3 bench/report.py cpu "$runs" | tee "$out/report.md"
