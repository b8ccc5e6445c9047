#!/usr/bin/env python3
"""A file server whose link drops: it serves one file over HTTP/1.1, honours
`Range: bytes=N-` with `If-Range` (RFC 9110), and closes each connection
after --drop-mib MiB of body (0: never), as a flaky link would. For
bench/fetch_drops.sh; loopback only. The body goes out with sendfile, so
the server costs little next to the client measured.

    python3 bench/drop_server.py FILE --port 0 --drop-mib 100

prints `listening on 127.0.0.1:PORT`, then serves until killed.
"""

import argparse
import os
import socket
import threading

ETAG = '"bench-1"'


def read_head(conn):
    head = b""
    while b"\r\n\r\n" not in head:
        data = conn.recv(4096)
        if not data:
            return None
        head += data
    return head.decode("latin-1")


def field(head, name):
    for line in head.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name:
            return value.strip()
    return None


def serve(conn, path, drop):
    with conn, open(path, "rb") as f:
        head = read_head(conn)
        if head is None:
            return
        size = os.fstat(f.fileno()).st_size
        start = 0
        wanted = field(head, "range")
        if wanted and field(head, "if-range") == ETAG and wanted.startswith("bytes="):
            first = wanted[len("bytes="):].rstrip("-")
            if first.isdigit() and int(first) < size:
                start = int(first)
        if start:
            status = "206 Partial Content"
            extra = f"Content-Range: bytes {start}-{size - 1}/{size}\r\n"
        else:
            status, extra = "200 OK", ""
        conn.sendall(
            (
                f"HTTP/1.1 {status}\r\nETag: {ETAG}\r\nAccept-Ranges: bytes\r\n{extra}"
                f"Content-Length: {size - start}\r\nConnection: close\r\n\r\n"
            ).encode()
        )
        end = size if not drop else min(size, start + drop)
        offset = start
        while offset < end:
            sent = os.sendfile(conn.fileno(), f.fileno(), offset, end - offset)
            if sent == 0:
                break
            offset += sent


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--drop-mib", type=int, default=100)
    args = parser.parse_args()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(16)
    print("listening on %s:%d" % listener.getsockname(), flush=True)
    drop = args.drop_mib * 1024 * 1024
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn, args.file, drop), daemon=True).start()


if __name__ == "__main__":
    main()
