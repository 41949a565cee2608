#!/usr/bin/env python3
"""Two floods a client without the SSRF token can send to the sidecar's TCP port, bounded in time:
1. CONNECTIONS connections each send pipelined `GET /ping` requests for SECONDS and never read
   an answer;
2. one connection at a time sends REFUSALS requests whose paths are 30 KB long (refused: no token),
   reading each answer.
Prints one JSON line with what was sent, then exits (closing every connection)."""
import json
import socket
import sys
import threading
import time

port, connections, seconds, refusals = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
ping = b"GET /ping HTTP/1.1\r\nHost: localhost\r\n\r\n" * 256
sent = [0] * connections
held = []


def pipeline(index):
    connection = socket.create_connection(("127.0.0.1", port), timeout=5)
    held.append(connection)
    connection.settimeout(0.2)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            sent[index] += connection.send(ping)
        except socket.timeout:
            continue
        except OSError:
            return


threads = [threading.Thread(target=pipeline, args=(index,)) for index in range(connections)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()

answered = 0
long_path = "/v1/" + "x" * 30_000
deadline = time.monotonic() + max(seconds, 10)
for index in range(refusals):
    if time.monotonic() > deadline:
        break
    try:
        connection = socket.create_connection(("127.0.0.1", port), timeout=5)
        connection.sendall(f"GET {long_path}{index} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        if connection.recv(4096):
            answered += 1
        connection.close()
    except OSError:
        pass
print(json.dumps({"pipelinedBytes": sum(sent), "refusalsAnswered": answered}), flush=True)
for connection in held:
    connection.close()
