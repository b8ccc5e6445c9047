#!/usr/bin/env bash
# Benchmark: many files in one run from a local nginx, `sockdemo fetch`
# (release build) against curl measured in the same run, over HTTP and
# HTTPS. Each round runs every pair back to back, in an order that flips
# with each round; the report gives each tool's median and the median of
# the per-round ratios sockdemo/curl. Not a test: run it by hand on a quiet
# machine.
#
#   bash bench/fetch_many.sh            # 5 rounds
#   ROUNDS=1 BIG_MIB=16 bash bench/fetch_many.sh   # a quick check
#
# Cases:
#   seq        200 x 1 KiB, one after another: sockdemo URL... vs
#              curl --remote-name-all URL...
#   Z50        the same with -Z, at equal connection counts: sockdemo
#              -Z --parallel-max-host 50 vs curl -Z (up to 50 connections)
#   Z6         sockdemo -Z at its default of 6 per host, vs curl -Z
#   big        8 x BIG_MIB MiB (default 128) with -Z, vs curl -Z
# each over http and https (big over http only), then one run of 1,000
# URLs with -Z: peak RSS and the most threads seen.
#
# sockdemo fsyncs each file (and its directory) before renaming it into
# place and curl does not. The small-file cases run twice: into a directory
# on disk (/var/tmp), as a user's would, where the fsyncs cost what they
# cost, and into a tmpfs (/dev/shm), where fsync is free and what remains
# is the protocol and the connections. The column "curl+sync" runs
# `sync -f` on the directory after curl (one flush for all the files,
# still less than sockdemo's one per file).
#
# Needs: cargo, nginx, curl, openssl, GNU time, python3; it says which is
# missing and how to install it, and installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

PATH=$PATH:/usr/sbin # where Debian puts nginx, outside a user's PATH
require cargo "https://rustup.rs"
require nginx "apt-get install nginx"
require curl "apt-get install curl"
require openssl "apt-get install openssl"
require /usr/bin/time "apt-get install time"
require python3 "apt-get install python3"

ROUNDS=${ROUNDS:-5}
BIG_MIB=${BIG_MIB:-128}
SMALL=200
MANY=1000

cargo build --release --locked --quiet --bin sockdemo
SOCKDEMO=$PWD/target/release/sockdemo

make_workdir fetch-many-bench
SHM=$(mktemp -d /dev/shm/fetch-many-bench.XXXXXX)
trap 'rm -rf "$SHM"; cleanup_workdir' EXIT
for i in $(seq 1 $MANY); do head -c 1024 /dev/urandom >"$WORK/www/s$(printf %04d "$i").bin"; done
for i in $(seq 1 8); do head -c "$((BIG_MIB * 1024 * 1024))" /dev/urandom >"$WORK/www/big$(printf %04d "$i").bin"; done
cat "$WORK"/www/* >/dev/null # served from the page cache, like the later runs
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -days 2 2>/dev/null
PORT=$(free_port)
TLS_PORT=$(free_port)
NGINX_CONNECTIONS=1024 start_nginx "sendfile on; keepalive_requests 100000;" \
    "listen 127.0.0.1:$PORT; listen 127.0.0.1:$TLS_PORT ssl; ssl_certificate $WORK/cert.pem; ssl_certificate_key $WORK/key.pem;"
wait_for "nginx to serve" curl -sf -o /dev/null "http://127.0.0.1:$PORT/s0001.bin"

RESULTS=$WORK/results.tsv
: >"$RESULTS"

# urls SCHEME PORT FIRST COUNT PREFIX: the URLs of files PREFIX<n>.bin.
urls() {
    local scheme=$1 port=$2 first=$3 count=$4 prefix=$5 i
    for i in $(seq "$first" "$((first + count - 1))"); do
        printf '%s://127.0.0.1:%s/%s%04d.bin\n' "$scheme" "$port" "$prefix" "$i"
    done
}

# measure CASE TOOL EXPECT COMMAND...: runs COMMAND in a fresh output
# directory under $base, records its wall seconds, and checks it saved
# EXPECT files.
measure() {
    local case=$1 tool=$2 expect=$3
    shift 3
    local out=$base/out
    rm -rf "$out"
    mkdir "$out"
    sync
    local start end
    start=$(date +%s.%N)
    (cd "$out" && "$@") >/dev/null 2>&1 || true
    if [[ $tool == curl+sync ]]; then sync -f "$out"; fi
    end=$(date +%s.%N)
    local got
    got=$(find "$out" -maxdepth 1 -type f -name '*.bin' | wc -l)
    [[ $got == "$expect" ]] || { echo "$0: $case $tool saved $got of $expect files" >&2; exit 1; }
    printf '%s\t%s\t%s\n' "$case" "$tool" "$(python3 -c "print($end - $start)")" >>"$RESULTS"
}

# pair CASE EXPECT SOCKDEMO_ARGS -- CURL_ARGS: both tools, in an order
# flipped each round (curl+sync right after curl).
pair() {
    local case=$1 expect=$2 round=$3
    shift 3
    local sock=() curl=() seen=
    for arg in "$@"; do
        if [[ $arg == -- ]]; then seen=1; continue; fi
        if [[ -z $seen ]]; then sock+=("$arg"); else curl+=("$arg"); fi
    done
    run_sock() { measure "$case" sockdemo "$expect" "$SOCKDEMO" fetch -q --cacert "$WORK/cert.pem" "${sock[@]}"; }
    run_curl() {
        measure "$case" curl "$expect" curl -sf --cacert "$WORK/cert.pem" "${curl[@]}"
        measure "$case" curl+sync "$expect" curl -sf --cacert "$WORK/cert.pem" "${curl[@]}"
    }
    if ((round % 2)); then run_sock; run_curl; else run_curl; run_sock; fi
}

for round in $(seq "$ROUNDS"); do
    for where in disk tmpfs; do
        base=$WORK
        [[ $where == tmpfs ]] && base=$SHM
        for scheme in http https; do
            port=$PORT
            [[ $scheme == https ]] && port=$TLS_PORT
            mapfile -t small < <(urls "$scheme" "$port" 1 $SMALL s)
            pair "$where $scheme seq" $SMALL "$round" "${small[@]}" -- --remote-name-all "${small[@]}"
            pair "$where $scheme Z50" $SMALL "$round" -Z --parallel-max-host 50 "${small[@]}" -- -Z --remote-name-all "${small[@]}"
            pair "$where $scheme Z6" $SMALL "$round" -Z "${small[@]}" -- -Z --remote-name-all "${small[@]}"
        done
    done
    base=$WORK
    mapfile -t big < <(urls http "$PORT" 1 8 big)
    pair "disk http big" 8 "$round" -Z "${big[@]}" -- -Z --remote-name-all "${big[@]}"
    echo "round $round of $ROUNDS done" >&2
done

# 1,000 URLs with -Z, at the default caps and at 50 to the host: peak RSS
# (GNU time) and the most threads seen in /proc while it runs.
mapfile -t many < <(urls http "$PORT" 1 $MANY s)
MANY_RESULTS=$WORK/many.tsv
: >"$MANY_RESULTS"
for flags in "-Z" "-Z --parallel-max-host 50"; do
    rm -rf "$WORK/out" && mkdir "$WORK/out"
    # shellcheck disable=SC2086 # the flags are words
    (cd "$WORK/out" && exec /usr/bin/time -v -o "$WORK/rusage" "$SOCKDEMO" fetch -q $flags "${many[@]}") &
    timer=$!
    threads=0
    while kill -0 "$timer" 2>/dev/null; do
        pid=$(pgrep -P "$timer" -x sockdemo || true)
        if [[ -n $pid ]]; then
            now=$(awk '/^Threads:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
            ((now > threads)) && threads=$now
        fi
        sleep 0.005
    done
    wait "$timer"
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/rusage")
    saved=$(find "$WORK/out" -maxdepth 1 -type f | wc -l)
    printf '%s\t%s\t%s\t%s\n' "$flags" "$rss" "$threads" "$saved" >>"$MANY_RESULTS"
done

python3 - "$RESULTS" "$ROUNDS" "$MANY_RESULTS" <<'PY'
import csv, statistics, sys
from collections import defaultdict
path, rounds, many = sys.argv[1:]
times = defaultdict(list)
for case, tool, seconds in csv.reader(open(path), delimiter="\t"):
    times[(case, tool)].append(float(seconds))
cases = list(dict.fromkeys(case for case, _ in times))
print(f"{rounds} rounds; medians in seconds; ratio = median of the per-round ratios sockdemo/curl\n")
print("| case | sockdemo | curl | curl+sync | sockdemo/curl | sockdemo/curl+sync |")
print("|---|---:|---:|---:|---:|---:|")
for case in cases:
    s, c, cs = (times[(case, t)] for t in ("sockdemo", "curl", "curl+sync"))
    r = statistics.median(a / b for a, b in zip(s, c))
    rs = statistics.median(a / b for a, b in zip(s, cs))
    print(f"| {case} | {statistics.median(s):.3f} | {statistics.median(c):.3f} | "
          f"{statistics.median(cs):.3f} | {r:.2f}x | {rs:.2f}x |")
print("\n| 1,000 URLs | peak RSS | most threads | files saved |")
print("|---|---:|---:|---:|")
for flags, rss, threads, saved in csv.reader(open(many), delimiter="\t"):
    print(f"| `{flags}` | {int(rss) / 1024:.1f} MiB | {threads} | {saved} |")
PY
