#!/usr/bin/env bash
# Benchmark: download a large file from a local nginx with `sockdemo fetch`
# (release build), curl, wget, and the tutorial's seed_fetch.py
# (bench/tutorial/), into a file and into a pipe to /dev/null. Wall time and
# peak RSS; the tools alternate, each round in a rotated order, and the
# medians over the rounds are compared as ratios to curl measured in the
# same run. Not a test: run it by hand on a quiet machine.
#
#   bash bench/fetch.sh            # 1 GiB, 5 rounds
#   SIZE_MIB=256 ROUNDS=3 bash bench/fetch.sh
#
# Into a file, sockdemo fsyncs before it renames the file into place and
# curl does not, so the like-for-like reference is "curl, then sync FILE";
# the plain curl ratio is printed too.
#
# Needs: cargo, nginx, curl, wget, GNU time (/usr/bin/time), bc, python3; it
# says which is missing and how to install it, and installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

PATH=$PATH:/usr/sbin # where Debian puts nginx, outside a user's PATH
require cargo "https://rustup.rs"
require nginx "apt-get install nginx"
require curl "apt-get install curl"
require wget "apt-get install wget"
require /usr/bin/time "apt-get install time"
require bc "apt-get install bc"
require python3 "apt-get install python3"

SIZE_MIB=${SIZE_MIB:-1024}
ROUNDS=${ROUNDS:-5}
SEED_FETCH=$PWD/$tutorial/seed_fetch.py

cargo build --release --locked --quiet --bin sockdemo
SOCKDEMO=$PWD/target/release/sockdemo

make_workdir fetch-bench
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom >"$WORK/www/big.bin"
PORT=$(free_port)
URL=http://127.0.0.1:$PORT/big.bin
start_nginx "sendfile on;" "listen 127.0.0.1:$PORT;"
wait_for "nginx to serve $URL" curl -sf -o /dev/null -r 0-0 "$URL"
cat "$WORK/www/big.bin" >/dev/null # served from the page cache, like the later runs

OUT=$WORK/out.bin
RESULTS=$WORK/results.tsv

# measure NAME MODE COMMAND...: runs COMMAND (a shell snippet) once, after
# flushing earlier runs' dirty pages, and records wall seconds and the peak
# RSS of the process /usr/bin/time runs in it (marked TIME in the snippet).
measure() {
    local name=$1 mode=$2 snippet=$3
    rm -f "$OUT"
    sync
    local start end
    start=$(date +%s.%N)
    TIME="/usr/bin/time -v -o $WORK/rusage" bash -c "$snippet"
    end=$(date +%s.%N)
    local rss
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/rusage")
    printf '%s\t%s\t%s\t%s\n' "$name" "$mode" "$(echo "$end - $start" | bc)" "$rss" >>"$RESULTS"
}

TOOLS=(sockdemo curl curl+sync wget seed_fetch.py)

run_tool() {
    local tool=$1 mode=$2
    case "$tool:$mode" in
    sockdemo:file) measure "$tool" "$mode" "\$TIME $SOCKDEMO fetch -q --fail -o $OUT $URL >/dev/null" ;;
    sockdemo:pipe) measure "$tool" "$mode" "\$TIME $SOCKDEMO fetch -q --fail -o - $URL | cat >/dev/null" ;;
    curl:file) measure "$tool" "$mode" "\$TIME curl -sf -o $OUT $URL" ;;
    curl:pipe) measure "$tool" "$mode" "\$TIME curl -sf $URL | cat >/dev/null" ;;
    curl+sync:file) measure "$tool" "$mode" "\$TIME curl -sf -o $OUT $URL && sync $OUT" ;;
    curl+sync:pipe) ;; # the same as curl
    wget:file) measure "$tool" "$mode" "\$TIME wget -q -O $OUT $URL" ;;
    wget:pipe) measure "$tool" "$mode" "\$TIME wget -q -O - $URL | cat >/dev/null" ;;
    seed_fetch.py:file) measure "$tool" "$mode" "\$TIME python3 $SEED_FETCH 127.0.0.1 --port $PORT --path /big.bin --out $OUT >/dev/null" ;;
    seed_fetch.py:pipe) measure "$tool" "$mode" "\$TIME python3 $SEED_FETCH 127.0.0.1 --port $PORT --path /big.bin --out /dev/stdout | cat >/dev/null" ;;
    esac
}

for round in $(seq "$ROUNDS"); do
    # Rotate the order each round, so no tool always runs first or last.
    n=${#TOOLS[@]}
    for i in $(seq 0 $((n - 1))); do
        tool=${TOOLS[$(((i + round) % n))]}
        for mode in pipe file; do
            run_tool "$tool" "$mode"
        done
    done
    echo "round $round of $ROUNDS done" >&2
done

# A byte-identical copy, checked once outside the timings.
"$SOCKDEMO" fetch -q --fail -o "$OUT" "$URL" >/dev/null
cmp "$OUT" "$WORK/www/big.bin"

python3 bench/report.py fetch "$RESULTS" "$SIZE_MIB" "$ROUNDS"
