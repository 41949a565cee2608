#!/usr/bin/env python3
"""Races a starting sidecar for its Unix socket, as a uid the socket's mode refuses (run under
setpriv): while the file GO exists (the test makes it before each start and removes it once the
socket is there), connects to PATH again and again, and on each connection that gets in asks for
SECRET_ID; otherwise it naps. Ends when the file STOP exists or SECONDS pass, and prints one JSON
line: how many connections got in and how many answers held the secret's value. Bounded in time;
nothing but the one socket path is touched."""
import json
import os
import socket
import sys
import time

path, go, stop, seconds, secret_id = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]
deadline = time.monotonic() + seconds
connected = leaked = attempts = 0
request = f"GET /secretsmanager/get?secretId={secret_id} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()
while time.monotonic() < deadline:
    attempts += 1
    if attempts % 64 == 0:
        if os.path.exists(stop):
            break
        while not os.path.exists(go) and not os.path.exists(stop) and time.monotonic() < deadline:
            time.sleep(0.005)
    connection = socket.socket(socket.AF_UNIX)
    try:
        connection.connect(path)
    except OSError:
        connection.close()
        continue
    connected += 1
    try:
        connection.settimeout(2)
        connection.sendall(request)
        answer = connection.recv(65536)
        if b"SecretString" in answer:
            leaked += 1
    except OSError:
        pass
    connection.close()
print(json.dumps({"connected": connected, "leaked": leaked}), flush=True)
