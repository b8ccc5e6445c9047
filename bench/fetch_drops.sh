#!/usr/bin/env bash
# Benchmark: a download over a link that drops the connection every 100 MiB
# finishes with --retry in little more time than an uninterrupted one,
# because each retry resumes (Range, If-Range) at once instead of starting
# over or backing off. The same server (bench/drop_server.py, sendfile, on
# 127.0.0.1) serves the file both ways; the runs alternate, and the medians
# are compared. Not a test: run it by hand on a quiet machine.
#
#   bash bench/fetch_drops.sh                       # 1 GiB, drops every 100 MiB, 5 rounds
#   SIZE_MIB=256 DROP_MIB=50 ROUNDS=3 bash bench/fetch_drops.sh
#
# Needs: cargo, python3, bc; it says which is missing, and installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

require cargo "https://rustup.rs"
require python3 "apt-get install python3"
require bc "apt-get install bc"

SIZE_MIB=${SIZE_MIB:-1024}
DROP_MIB=${DROP_MIB:-100}
ROUNDS=${ROUNDS:-5}

cargo build --release --locked --quiet --bin sockdemo
SOCKDEMO=$PWD/target/release/sockdemo

make_workdir fetch-drops

head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom >"$WORK/big.bin"
cat "$WORK/big.bin" >/dev/null # served from the page cache, like the later runs

# start NAME DROP_MIB: a drop server; sets the URL variable named NAME.
start() {
    start_server "$WORK/$1.log" '^listening on ' \
        python3 bench/drop_server.py "$WORK/big.bin" --drop-mib "$2"
    servers+=("$server_pid")
    printf -v "$1" 'http://%s/big.bin' "$(listening_addr "$WORK/$1.log")"
}
start STEADY 0
start FLAKY "$DROP_MIB"

OUT=$WORK/out.bin
RESULTS=$WORK/results.tsv
: >"$RESULTS"

# measure LINK URL: one download into a new file, timed; checks the copy.
measure() {
    local link=$1 url=$2 start end
    rm -f "$OUT"
    sync
    start=$(date +%s.%N)
    "$SOCKDEMO" fetch -q --fail -o "$OUT" "$url" >/dev/null 2>"$WORK/stderr" ||
        { cat "$WORK/stderr" >&2; return 1; }
    end=$(date +%s.%N)
    cmp -s "$OUT" "$WORK/big.bin" || { echo "$0: the $link copy differs" >&2; return 1; }
    printf '%s\t%s\n' "$link" "$(echo "$end - $start" | bc)" >>"$RESULTS"
}

for round in $(seq "$ROUNDS"); do
    if ((round % 2)); then
        measure steady "$STEADY"
        measure drops "$FLAKY"
    else
        measure drops "$FLAKY"
        measure steady "$STEADY"
    fi
    echo "round $round of $ROUNDS done" >&2
done

# The requests of one flaky download: the first, then one resume per drop.
requests=$(( (SIZE_MIB + DROP_MIB - 1) / DROP_MIB ))
python3 - "$RESULTS" "$SIZE_MIB" "$DROP_MIB" "$requests" <<'PY'
import statistics, sys
path, size, drop, requests = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
times = {}
for line in open(path):
    link, seconds = line.split("\t")
    times.setdefault(link, []).append(float(seconds))
steady, drops = statistics.median(times["steady"]), statistics.median(times["drops"])
print(f"{size} MiB, the link dropped every {drop} MiB ({requests} requests a download), "
      f"{len(times['steady'])} rounds, medians:")
print("| link | median s | MB/s | ratio |")
print("|---|---:|---:|---:|")
for name, t in (("steady", steady), ("drops", drops)):
    print(f"| {name} | {t:.2f} | {size * 1.048576 / t:.0f} | {t / steady:.2f}x |")
PY
