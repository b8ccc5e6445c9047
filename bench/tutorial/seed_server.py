#!/usr/bin/env python3
"""The tutorial's threaded TCP server, made runnable (reference peer for interop tests and benchmarks).

Usage: seed_server.py [--host 127.0.0.1] [--port 9999] [--delay 1.0]
The tutorial sleeps 1 s after every recv; --delay 0 removes that for load tests.
"""
import argparse, socket, threading, time

def tcplink(sock, addr, delay):
    print('Accept new connection from %s:%s...' % addr[:2], flush=True)
    sock.send(b'Welcome!')
    while True:
        data = sock.recv(1024)
        if delay:
            time.sleep(delay)
        if not data or data.decode('utf-8') == 'exit':
            break
        sock.send(('Hello, %s!' % data.decode('utf-8')).encode('utf-8'))
    sock.close()
    print('Connection from %s:%s closed.' % addr[:2], flush=True)

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, default=9999)
    p.add_argument('--delay', type=float, default=1.0)
    p.add_argument('--backlog', type=int, default=5)
    a = p.parse_args()
    fam = socket.AF_INET6 if ':' in a.host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a.host, a.port))
    s.listen(a.backlog)
    print('Waiting for connection...', flush=True)
    while True:
        sock, addr = s.accept()
        t = threading.Thread(target=tcplink, args=(sock, addr, a.delay), daemon=True)
        t.start()

if __name__ == '__main__':
    main()
