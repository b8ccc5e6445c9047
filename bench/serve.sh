#!/usr/bin/env bash
# The serve benchmark: the same load on `sockdemo serve`, on the floor
# (examples/floor_server.rs: a bare std::net thread-per-connection server),
# and on the tutorial's Python server when ../shared/peers/seed_server.py is
# there, from two load generators: `sockdemo client --connections N`, and
# bench/loadgen.c, which shares no code with sockdemo (one thread, epoll).
#
# The load, at each concurrency N: N connections held open at once, each
# greeted, then ROUNDS round trips on each in the protocol's raw mode (one
# message in flight per connection), every reply checked, then `exit`. Only
# the round trips are timed. Each run gets a fresh server, whose peak RSS
# (VmHWM) is read just before it is stopped. The servers take turns in an
# order that rotates with each repeat; the report gives medians.
#
# Usage: bench/serve.sh
#   environment: REPEATS=5 LEVELS="1 16 256 1000 10000" SERVERS="sockdemo floor python"
# Needs: cargo, cc, python3. Writes target/bench/serve/{runs.tsv,report.md}.
set -euo pipefail
cd "$(dirname "$0")/.."

repeats=${REPEATS:-5}
levels=${LEVELS:-1 16 256 1000 10000}
out=target/bench/serve
peers=../shared/peers
mkdir -p "$out"

cargo build --release --locked --quiet --bin sockdemo --example floor_server
cc -O2 -Wall -o "$out/loadgen" bench/loadgen.c
sockdemo=target/release/sockdemo
floor=target/release/examples/floor_server
loadgen=$out/loadgen

# 10,000 connections need 10,000 descriptors on each side.
ulimit -n "$(ulimit -Hn)"

servers="sockdemo floor"
if [[ -f $peers/seed_server.py ]]; then
    servers="$servers python"
fi
servers=${SERVERS:-$servers}
generators="client loadgen"

# Round trips per connection: about 50,000 round trips per run, at least 10.
rounds_for() {
    case $1 in
    1) echo 20000 ;;
    16) echo 3000 ;;
    *) echo $(((50000 + $1 - 1) / $1 > 10 ? (50000 + $1 - 1) / $1 : 10)) ;;
    esac
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits up to 10 s for a line matching $2 in file $1.
wait_for_line() {
    for _ in $(seq 1000); do
        if grep -q "$2" "$1" 2>/dev/null; then return 0; fi
        sleep 0.01
    done
    echo "server did not start: $(cat "$1")" >&2
    return 1
}

# Starts server $1; sets server_pid and addr.
start_server() {
    local log=$out/server.log
    : >"$log"
    case $1 in
    sockdemo)
        "$sockdemo" serve --listen 127.0.0.1:0 >"$log" 2>"$out/server.stderr" &
        server_pid=$!
        wait_for_line "$log" '^listening on '
        addr=$(sed -n 's/^listening on //p' "$log")
        ;;
    floor)
        "$floor" 127.0.0.1:0 >"$log" 2>&1 &
        server_pid=$!
        wait_for_line "$log" '^listening on '
        addr=$(sed -n 's/^listening on //p' "$log")
        ;;
    python)
        local port
        port=$(free_port)
        python3 "$peers/seed_server.py" --port "$port" --delay 0 --backlog 4096 >"$log" 2>&1 &
        server_pid=$!
        wait_for_line "$log" '^Waiting for connection'
        addr=127.0.0.1:$port
        ;;
    esac
}

# Stops the server; sets rss to its peak RSS in KiB.
stop_server() {
    rss=$(awk '/^VmHWM:/ { print $2 }' "/proc/$server_pid/status")
    kill -TERM "$server_pid"
    for _ in $(seq 1000); do
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.01
    done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
}

# Runs generator $1 with N=$2 connections, $3 rounds against $addr; prints
# "ok failed round_trips rate p50 p99 max" (times in ms).
run_load() {
    local line
    case $1 in
    client)
        line=$("$sockdemo" client --connect "$addr" --connections "$2" --rounds "$3" \
            --timeout 120s 2>>"$out/load.stderr" || true)
        sed -nE 's/^connections: ([0-9]+) ok, ([0-9]+) failed; round trips: ([0-9]+) in [0-9.]+ s, ([0-9]+)\/s(; latency p50 ([0-9.]+) ms, p90 [0-9.]+ ms, p99 ([0-9.]+) ms, max ([0-9.]+) ms)?$/\1 \2 \3 \4 \6 \7 \8/p' <<<"$line"
        ;;
    loadgen)
        line=$("$loadgen" "$addr" "$2" "$3" 600 2>>"$out/load.stderr" || true)
        sed -nE 's/^ok=([0-9]+) failed=([0-9]+) round_trips=([0-9]+) seconds=[0-9.]+ rate=([0-9]+) p50_ms=([0-9.]+) p90_ms=[0-9.]+ p99_ms=([0-9.]+) max_ms=([0-9.]+)$/\1 \2 \3 \4 \5 \6 \7/p' <<<"$line"
        ;;
    esac
}

runs=$out/runs.tsv
printf 'level\trepeat\tserver\tgenerator\tok\tfailed\tround_trips\trate\tp50_ms\tp99_ms\tmax_ms\trss_kib\n' >"$runs"
: >"$out/load.stderr"
read -ra server_list <<<"$servers"
for level in $levels; do
    rounds=$(rounds_for "$level")
    for repeat in $(seq "$repeats"); do
        # Rotate the order of the servers with each repeat.
        count=${#server_list[@]}
        for k in $(seq 0 $((count - 1))); do
            server=${server_list[$(((k + repeat) % count))]}
            for generator in $generators; do
                start_server "$server"
                result=$(run_load "$generator" "$level" "$rounds")
                stop_server
                [[ -n $result ]] || result="0 $level 0 0 - - -"
                read -r ok failed trips rate p50 p99 max <<<"$result"
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$level" "$repeat" \
                    "$server" "$generator" "$ok" "$failed" "$trips" "$rate" "${p50:--}" \
                    "${p99:--}" "${max:--}" "$rss" | tee -a "$runs"
                sleep 1
            done
        done
    done
done

python3 bench/report.py "$runs" | tee "$out/report.md"
