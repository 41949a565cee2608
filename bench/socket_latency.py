#!/usr/bin/env python3
"""p50/p99/max of N requests over one keep-alive connection to a Unix socket (wrk speaks TCP only).

    socket_latency.py SOCKET PATH N
"""
import socket
import sys
import time

path, target, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
request = f"GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()
connection = socket.socket(socket.AF_UNIX)
connection.connect(path)
samples = []
statuses = {}
for _ in range(count):
    started = time.perf_counter()
    connection.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        data += connection.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    while len(body) < length:
        body += connection.recv(65536)
    samples.append(time.perf_counter() - started)
    status = head.split(b" ")[1].decode()
    statuses[status] = statuses.get(status, 0) + 1
samples.sort()
print(f"socket: {count} requests, p50 {samples[count // 2] * 1e6:.0f} µs, p99 {samples[int(count * 0.99)] * 1e6:.0f} µs, "
      f"max {samples[-1] * 1e6:.0f} µs, statuses {statuses}")
