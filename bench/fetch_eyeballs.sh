#!/usr/bin/env bash
# Benchmark: connecting to a name whose IPv6 address is black-holed (it
# resolves, and the packets vanish) and whose IPv4 address works, the case
# Happy Eyeballs is for. In a network and mount namespace of its own
# (`unshare -nm`, so it needs root): loopback up, a tun device that no
# process reads with 2001:db8::1/64 (packets to 2001:db8::2 go nowhere), and
# /etc/hosts bind-mounted with `2001:db8::2 eyeballs.test` before
# `127.0.0.1 eyeballs.test`. A 1 KiB file served on 127.0.0.1 by python3's
# http.server inside it is fetched by `sockdemo fetch` (release build) and
# curl with default timeouts, ROUNDS paired runs with the order alternating,
# and, as the floor, from `v4only.test` (127.0.0.1 alone). Medians of each,
# and sockdemo's ratio to curl. Nothing leaves the namespace; no DNS query
# is made. Not a test: run it by hand on a quiet machine.
#
#   sudo bash bench/fetch_eyeballs.sh      # ROUNDS=10 by default
#
# Needs: root, cargo, unshare and mount (util-linux), ip (iproute2), curl,
# python3; it says which is missing and how to install it, and installs
# nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

ROUNDS=${ROUNDS:-10}

if [[ ${1:-} != --inside ]]; then
    PATH=$PATH:/usr/sbin:/sbin # where Debian puts ip, outside a user's PATH
    require cargo "https://rustup.rs"
    require unshare "apt-get install util-linux"
    require ip "apt-get install iproute2"
    require curl "apt-get install curl"
    require python3 "apt-get install python3"
    if [[ $(id -u) != 0 ]]; then
        echo "$0: needs root, to make a network namespace (unshare -nm)" >&2
        exit 1
    fi
    cargo build --release --locked --quiet --bin sockdemo
    exec unshare -nm -- env PATH="$PATH" ROUNDS="$ROUNDS" bash "$0" --inside
fi

# Inside the namespace, where only loopback and the tun device exist.
ip link set lo up
ip tuntap add dev t0 mode tun
ip link set t0 up
ip addr add 2001:db8::1/64 dev t0 nodad
make_workdir fetch-eyeballs
printf '127.0.0.1 localhost\n2001:db8::2 eyeballs.test\n127.0.0.1 eyeballs.test\n127.0.0.1 v4only.test\n' \
    >"$WORK/hosts"
mount --bind "$WORK/hosts" /etc/hosts
head -c 1024 /dev/urandom >"$WORK/www/1k.bin"
PORT=$(free_port)
python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$WORK/www" >"$WORK/logs/http.log" 2>&1 &
server_pid=$!
wait_for "the file server" curl -sf -o /dev/null "http://127.0.0.1:$PORT/1k.bin"

echo "$(curl --version | head -1 | cut -d' ' -f1-2), python3 http.server, $ROUNDS paired rounds"
python3 - "$ROUNDS" "$PWD/target/release/sockdemo" "$PORT" <<'PY'
import statistics, subprocess, sys, time

rounds, sockdemo, port = int(sys.argv[1]), sys.argv[2], sys.argv[3]

def run(command):
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start

print("| name | sockdemo (ms) | curl (ms) | sockdemo / curl |")
print("|---|---:|---:|---:|")
for name, label in [("eyeballs.test", "IPv6 black-holed, IPv4 works"), ("v4only.test", "IPv4 only")]:
    url = f"http://{name}:{port}/1k.bin"
    ours = [sockdemo, "fetch", "-s", "-o", "-", url]
    theirs = ["curl", "-s", "-o", "/dev/null", url]
    times = {"ours": [], "theirs": []}
    for i in range(rounds):
        pair = [("ours", ours), ("theirs", theirs)]
        for who, command in pair if i % 2 == 0 else reversed(pair):
            times[who].append(run(command))
    a, b = statistics.median(times["ours"]), statistics.median(times["theirs"])
    print(f"| {label} | {a * 1000:.0f} | {b * 1000:.0f} | {a / b:.2f}x |")
PY
