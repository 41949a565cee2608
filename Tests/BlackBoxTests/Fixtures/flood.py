#!/usr/bin/env python3
"""Holds connections that never finish a request, in a process of its own (so the test process
keeps few descriptors): COUNT connections alternating between 127.0.0.1:PORT and the Unix socket
SOCKET, the first half sending half a request head, the second half announcing a body that never
comes. Waits until the server has dropped at least DROPPED of them (it is catching up), prints one
JSON line, and holds the rest until its standard input closes (or 120 s)."""
import json
import resource
import select
import socket
import sys
import time

port, path, count, dropped_wanted, token = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
held = []
for index in range(count):
    try:
        if index % 2 == 0:
            connection = socket.create_connection(("127.0.0.1", port), timeout=5)
        else:
            connection = socket.socket(socket.AF_UNIX)
            connection.settimeout(5)
            connection.connect(path)
    except OSError:
        continue
    if index < count // 2:
        connection.sendall(b"GET /secretsmanager/get?secretId=app/token HTTP/1.1\r\nHost: local")
    else:
        connection.sendall(b"GET /ping HTTP/1.1\r\nHost: localhost\r\nX-Vault-Token: " + token.encode()
                           + b"\r\nContent-Length: 100000\r\n\r\nabc")
    connection.setblocking(False)
    held.append(connection)


def closed(connection):
    try:
        return connection.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


deadline = time.time() + 30
dropped = 0
while time.time() < deadline:
    dropped = sum(1 for connection in held if closed(connection))
    if dropped >= dropped_wanted:
        break
    time.sleep(0.2)
print(json.dumps({"opened": len(held), "dropped": dropped}), flush=True)
select.select([sys.stdin], [], [], 120)
