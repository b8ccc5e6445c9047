# What the benchmark scripts share: checking their preconditions, finding a
# free port, starting a server and waiting until it listens, reading its peak
# memory, and stopping it. Sourced by serve.sh, server_cpu.sh and fetch.sh,
# from the repository root.

# The tutorial's programs, which the benchmarks measure against.
tutorial=bench/tutorial

# require TOOL INSTALL: exits with a message naming TOOL and the command that
# installs it when TOOL (a command name, or a path) is missing. The scripts
# install nothing themselves.
require() {
    local tool=$1 install=$2
    if [[ $tool == */* ]]; then
        [[ -x $tool ]] && return 0
    else
        command -v "$tool" >/dev/null 2>&1 && return 0
    fi
    echo "$0: needs $tool, which is missing; install it with: $install" >&2
    exit 1
}

# free_port: prints a TCP port on 127.0.0.1 that was free a moment ago, for a
# server that cannot pick its own (the tutorial's takes --port).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server LOG PATTERN COMMAND...: starts COMMAND in the background, its
# stdout into LOG and its stderr into LOG.stderr, and waits until a line of
# LOG matches PATTERN (an extended regular expression). Sets server_pid.
start_server() {
    local log=$1 pattern=$2
    shift 2
    : >"$log"
    "$@" >"$log" 2>"$log.stderr" &
    server_pid=$!
    wait_for "$1 to print a line like '$pattern'" grep -qE "$pattern" "$log" ||
        { cat "$log" "$log.stderr" >&2; return 1; }
}

# wait_for WHAT COMMAND...: runs COMMAND every 10 ms until it succeeds, for
# up to 10 s. Fails, saying it waited for WHAT, when the time runs out or
# when the server (server_pid) has exited meanwhile.
wait_for() {
    local what=$1 _
    shift
    for _ in $(seq 1000); do
        "$@" >/dev/null 2>&1 && return 0
        if ! kill -0 "$server_pid" 2>/dev/null; then
            echo "$0: the server exited while waiting for $what" >&2
            return 1
        fi
        sleep 0.01
    done
    echo "$0: waited 10 s for $what in vain" >&2
    return 1
}

# start_greeting_server NAME LOG: starts the greeting server NAME (sockdemo,
# floor or python: `sockdemo serve` with SERVE_ARGS, bench/floor_server.rs,
# or the tutorial's seed_server.py) from the release builds, logging into LOG;
# sets server_pid and addr.
start_greeting_server() {
    local log=$2
    case $1 in
    sockdemo)
        # shellcheck disable=SC2086 # SERVE_ARGS is a list of flags
        start_server "$log" '^listening on ' target/release/sockdemo serve --listen 127.0.0.1:0 ${SERVE_ARGS:-}
        addr=$(listening_addr "$log")
        ;;
    floor)
        start_server "$log" '^listening on ' target/release/examples/floor_server 127.0.0.1:0
        addr=$(listening_addr "$log")
        ;;
    python)
        local port
        port=$(free_port)
        start_server "$log" '^Waiting for connection' \
            python3 "$tutorial/seed_server.py" --port "$port" --delay 0 --backlog 4096
        addr=127.0.0.1:$port
        ;;
    *)
        echo "$0: unknown server $1 (SERVERS: sockdemo floor python)" >&2
        exit 2
        ;;
    esac
}

# make_workdir NAME: a working directory in WORK, on disk (/var/tmp, not a
# tmpfs: where a user's download would go), with www/ and logs/ that nginx's
# workers (another user) can read. When the script exits, the servers it
# started (server_pid, and the pids in the array servers) are stopped and
# the directory is removed.
make_workdir() {
    WORK=$(mktemp -d "/var/tmp/$1.XXXXXX")
    server_pid=
    servers=()
    trap cleanup_workdir EXIT
    mkdir -p "$WORK/www" "$WORK/logs"
    chmod 755 "$WORK" "$WORK/www"
}

cleanup_workdir() {
    local pid
    for pid in "${servers[@]}" "$server_pid"; do
        [[ -n $pid ]] || continue
        server_pid=$pid
        stop_server
    done
    rm -rf "$WORK"
}

# start_nginx HTTP SERVER: writes $WORK/nginx.conf, an nginx serving
# $WORK/www with its logs and temporary files in $WORK, with HTTP added to
# its http block and SERVER (the listen lines and the like) to its one
# server block, and starts it in the background; sets server_pid. The
# caller waits for it to serve (wait_for).
start_nginx() {
    cat >"$WORK/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/logs/error.log;
events { worker_connections ${NGINX_CONNECTIONS:-64}; }
http {
    access_log off;
    client_body_temp_path $WORK/logs;
    proxy_temp_path $WORK/logs;
    fastcgi_temp_path $WORK/logs;
    uwsgi_temp_path $WORK/logs;
    scgi_temp_path $WORK/logs;
    $1
    server {
        $2
        root $WORK/www;
    }
}
CONF
    nginx -c "$WORK/nginx.conf" -p "$WORK" 2>"$WORK/logs/stderr" &
    server_pid=$!
}

# listening_addr LOG: the address of a server's `listening on ADDR` line, as
# `sockdemo serve` and the floor server print it.
listening_addr() {
    sed -n 's/^listening on //p' "$1"
}

# peak_rss_kib PID: the process's peak resident set size (VmHWM), in KiB.
peak_rss_kib() {
    awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"
}

# stop_server: sends SIGTERM to server_pid, waits up to 10 s for it to end,
# then kills it.
stop_server() {
    kill -TERM "$server_pid" 2>/dev/null || true
    local _
    for _ in $(seq 1000); do
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.01
    done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
}
