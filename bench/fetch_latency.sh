#!/usr/bin/env bash
# Benchmark: the latency of a small download. A 1 KiB file from a local nginx,
# over HTTPS (a self-signed certificate made by `openssl req -x509`, given with
# --cacert to both tools) and over plain HTTP, fetched by `sockdemo fetch`
# (release build) and curl into /dev/null. ROUNDS paired runs, the order
# alternating each round; the median wall time of each tool and their ratio.
# Not a test: run it by hand on a quiet machine.
#
#   bash bench/fetch_latency.sh        # ROUNDS=20 by default
#
# Needs: cargo, nginx, curl, openssl, python3; it says which is missing and
# how to install it, and installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

PATH=$PATH:/usr/sbin # where Debian puts nginx, outside a user's PATH
require cargo "https://rustup.rs"
require nginx "apt-get install nginx"
require curl "apt-get install curl"
require openssl "apt-get install openssl"
require python3 "apt-get install python3"

ROUNDS=${ROUNDS:-20}

cargo build --release --locked --quiet --bin sockdemo
SOCKDEMO=$PWD/target/release/sockdemo

make_workdir fetch-latency
head -c 1024 /dev/urandom >"$WORK/www/1k.bin"
# The usual self-signed certificate: openssl marks it CA:TRUE.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
HTTP_PORT=$(free_port)
HTTPS_PORT=$(free_port)
start_nginx "" "listen 127.0.0.1:$HTTP_PORT;
        listen 127.0.0.1:$HTTPS_PORT ssl;
        ssl_certificate $WORK/cert.pem;
        ssl_certificate_key $WORK/key.pem;"
HTTPS_URL=https://localhost:$HTTPS_PORT/1k.bin
HTTP_URL=http://127.0.0.1:$HTTP_PORT/1k.bin
wait_for "nginx to serve $HTTPS_URL" curl -sf -o /dev/null --cacert "$WORK/cert.pem" "$HTTPS_URL"

echo "nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), $(curl --version | head -1 | cut -d' ' -f1-2), $ROUNDS paired rounds"
python3 - "$ROUNDS" "$SOCKDEMO" "$WORK/cert.pem" "$HTTPS_URL" "$HTTP_URL" <<'PY'
import statistics, subprocess, sys, time

rounds, sockdemo, cert, https_url, http_url = int(sys.argv[1]), *sys.argv[2:]
cases = {
    "https": ([sockdemo, "fetch", "-s", "-o", "-", "--cacert", cert, https_url],
              ["curl", "-s", "-o", "/dev/null", "--cacert", cert, https_url]),
    "http": ([sockdemo, "fetch", "-s", "-o", "-", http_url],
             ["curl", "-s", "-o", "/dev/null", http_url]),
}

def run(command):
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start

print("| fetch of 1 KiB | sockdemo (ms) | curl (ms) | sockdemo / curl |")
print("|---|---:|---:|---:|")
for name, (ours, theirs) in cases.items():
    times = {"ours": [], "theirs": []}
    for i in range(rounds):
        pair = [("ours", ours), ("theirs", theirs)]
        for who, command in pair if i % 2 == 0 else reversed(pair):
            times[who].append(run(command))
    a, b = statistics.median(times["ours"]), statistics.median(times["theirs"])
    print(f"| {name} | {a * 1000:.1f} | {b * 1000:.1f} | {a / b:.2f}x |")
PY
