#!/usr/bin/env bash
# Server CPU time per round trip: the companion of bench/serve.sh that the
# machine's other load disturbs least. Throughput on a shared 2-core machine
# swings by tens of percent from run to run; the CPU time a server spends on
# a fixed number of round trips hardly does.
#
# For each concurrency N, REPEATS times, each server in turn: start it, run
# `sockdemo client --connections N --rounds M` (M = 200,000/N, at least 10)
# against it, then read its user and system time (/proc/PID/stat, all
# threads) and its peak RSS before stopping it.
#
# Usage: bench/server_cpu.sh
#   environment: REPEATS=3 LEVELS="1 16 256 1000 10000" SERVERS="sockdemo floor python"
#   (the Python server at 10,000 connections takes minutes per run, and fails);
#   SERVE_ARGS: more flags for `sockdemo serve` (e.g. --idle-timeout 0)
# Prints one line per run: N repeat server cpu_us_per_round_trip user_s sys_s rss_kib rate
set -euo pipefail
cd "$(dirname "$0")/.."

repeats=${REPEATS:-3}
levels=${LEVELS:-1 16 256 1000 10000}
servers=${SERVERS:-sockdemo floor python}
out=target/bench/cpu
peers=../shared/peers
mkdir -p "$out"
cargo build --release --locked --quiet --bin sockdemo --example floor_server
sockdemo=target/release/sockdemo
ulimit -n "$(ulimit -Hn)"
ticks=$(getconf CLK_TCK)

start_server() {
    local log=$out/server.log
    : >"$log"
    case $1 in
    # shellcheck disable=SC2086 # SERVE_ARGS is a list of flags
    sockdemo) "$sockdemo" serve --listen 127.0.0.1:0 ${SERVE_ARGS:-} >"$log" 2>"$out/server.stderr" & ;;
    floor) target/release/examples/floor_server 127.0.0.1:0 >"$log" 2>&1 & ;;
    python)
        local port
        port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        python3 "$peers/seed_server.py" --port "$port" --delay 0 --backlog 4096 >"$log" 2>&1 &
        ;;
    esac
    server_pid=$!
    for _ in $(seq 1000); do
        grep -qE '^(listening on|Waiting for connection)' "$log" && break
        sleep 0.01
    done
    addr=$(sed -n 's/^listening on //p' "$log")
    [[ -n $addr ]] || addr=127.0.0.1:$port
}

{
echo "N repeat server cpu_us_per_round_trip user_s sys_s rss_kib rate"
for level in $levels; do
    rounds=$((200000 / level > 10 ? 200000 / level : 10))
    for repeat in $(seq "$repeats"); do
        for server in $servers; do
            [[ $server != python || -f $peers/seed_server.py ]] || continue
            start_server "$server"
            line=$("$sockdemo" client --connect "$addr" --connections "$level" --rounds "$rounds" \
                --timeout 60s 2>>"$out/load.stderr" || true)
            read -r user sys < <(awk '{ print $14, $15 }' "/proc/$server_pid/stat")
            rss=$(awk '/^VmHWM:/ { print $2 }' "/proc/$server_pid/status")
            kill -TERM "$server_pid"
            wait "$server_pid" 2>/dev/null || true
            trips=$(sed -nE 's/.*round trips: ([0-9]+) in.*/\1/p' <<<"$line")
            rate=$(sed -nE 's/.* ([0-9]+)\/s.*/\1/p' <<<"$line")
            awk -v n="$level" -v r="$repeat" -v s="$server" -v u="$user" -v y="$sys" -v t="$ticks" \
                -v trips="${trips:-0}" -v rss="$rss" -v rate="${rate:-0}" 'BEGIN {
                    per = trips ? (u + y) / t / trips * 1e6 : 0
                    printf "%s %s %s %.2f %.2f %.2f %s %s\n", n, r, s, per, u / t, y / t, rss, rate
                }'
        done
    done
done
} | tee "$out/runs.txt"
