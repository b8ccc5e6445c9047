#!/usr/bin/env bash
# The churn benchmark: how fast `sockdemo serve` gets through connections
# that come and go, when they are health-check probes (connect, then close
# at once without reading: `nc -z`, a load balancer's TCP check) against
# when they are polite clients (read the welcome, send `exit`, wait for the
# close). The polite clients are the reference, measured in the same run.
#
# The load: THREADS threads of bench/churn.c opening one connection after
# another for SECONDS, against a fresh server with `--max-connections MAX`.
# First polite clients, as fast as they go: their rate R. Then probes,
# offered at that same rate R (a probe does not wait for the server, so
# unpaced probes would only measure the listen queue overflowing). The
# figure is connections the server admitted (gave a thread, rather than
# the busy line) per second, from its own summary line: a probe that held
# its place for the 2 s of a lingering close would leave the next ones only
# the busy line. The report gives medians and the median of the paired
# ratios, polite ÷ probe.
#
# Usage: bench/serve_churn.sh
#   environment: REPEATS=5 THREADS=32 SECONDS_EACH=5 MAX=500
#                BINARY=target/release/sockdemo (another build to compare)
# Needs: cargo, cc, python3. Writes target/bench/serve_churn/{runs.tsv,report.md}.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

require cargo "https://rustup.rs"
require cc "apt-get install gcc"
require python3 "apt-get install python3"

repeats=${REPEATS:-5}
threads=${THREADS:-32}
seconds=${SECONDS_EACH:-5}
max=${MAX:-500}
out=target/bench/serve_churn
mkdir -p "$out"

cargo build --release --locked --quiet --bin sockdemo
cc -O2 -Wall -pthread -o "$out/churn" bench/churn.c
binary=${BINARY:-target/release/sockdemo}
require "$binary" "cargo build --release"

ulimit -n "$(ulimit -Hn)"

# run MODE [RATE]: one fresh server, one churn; prints the runs.tsv fields
# after the repeat.
run() {
    local mode=$1 log=$out/server.log line summary served refused
    start_server "$log" '^listening on ' "$binary" serve --listen 127.0.0.1:0 \
        --max-connections "$max"
    addr=$(listening_addr "$log")
    line=$("$out/churn" "$addr" "$mode" "$threads" "$seconds" "${2:-0}")
    stop_server
    summary=$(grep -o 'connections served: [0-9]*, refused: [0-9]*' "$log.stderr" | tail -1)
    served=$(sed -E 's/.*served: ([0-9]+),.*/\1/' <<<"$summary")
    refused=$(sed -E 's/.*refused: ([0-9]+)/\1/' <<<"$summary")
    # mode=M connections=N seconds=S rate=R welcomed=W busy=B failed=F
    read -r _ n s rate _ busy failed <<<"$(tr '=' ' ' <<<"$line" | awk '{ print $2, $4, $6, $8, $10, $12, $14 }')"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$n" "$s" "$rate" "$served" "$refused" \
        "$(awk -v a="$served" -v b="$s" 'BEGIN { printf "%.0f", a / b }')" "$failed"
}

runs=$out/runs.tsv
printf 'repeat\tmode\tconnections\tseconds\tclient_rate\tserved\trefused\tserved_per_s\tfailed\n' >"$runs"
for repeat in $(seq "$repeats"); do
    polite=$(run polite)
    printf '%s\t%s\n' "$repeat" "$polite" >>"$runs"
    rate=$(cut -f4 <<<"$polite")
    printf '%s\t%s\n' "$repeat" "$(run probe "$rate")" >>"$runs"
done

python3 - "$runs" >"$out/report.md" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
by = {}
for row in rows:
    by.setdefault(row["repeat"], {})[row["mode"]] = row
def med(mode, field):
    return statistics.median(float(r[mode][field]) for r in by.values())
ratios = [float(r["polite"]["served_per_s"]) / max(float(r["probe"]["served_per_s"]), 1) for r in by.values()]
print("| clients | admitted/s | refused (median) | client connections/s |")
print("|---|---:|---:|---:|")
for mode in ("polite", "probe"):
    print(f"| {mode} | {med(mode, 'served_per_s'):,.0f} | {med(mode, 'refused'):,.0f} | {med(mode, 'client_rate'):,.0f} |")
print()
print(f"polite ÷ probe, admitted/s (median of {len(ratios)} paired ratios): {statistics.median(ratios):.2f}x")
PY
cat "$out/report.md"
