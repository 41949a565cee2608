#!/usr/bin/env python3
"""Pipelined clients of the sidecar (the second attacker review, finding 11). Each prints one JSON line.

read ADDRESS COUNT PATH TOKEN PAUSE
    One connection to ADDRESS (a port on 127.0.0.1, or a Unix socket's path) sends COUNT
    `GET PATH` requests (with the SSRF token when TOKEN is not "-") in one write, waits PAUSE
    seconds (the answers pile up unread meanwhile), then reads every answer it was sent, each to
    the end of its Content-Length, for at most 60 s. Prints how many answers came, by status, and
    whether the server closed the connection before the last.

flood PORT BYTES SECONDS
    One connection to 127.0.0.1:PORT writes BYTES of pipelined `GET /ping` and never reads an
    answer, for at most SECONDS. Prints the bytes the kernel took, whether and how the server
    closed the connection, and for how long the writes had stalled when it did."""
import json
import socket
import sys
import time


def connect(address):
    if address.isdigit():
        return socket.create_connection(("127.0.0.1", int(address)), timeout=5)
    connection = socket.socket(socket.AF_UNIX)
    connection.settimeout(5)
    connection.connect(address)
    return connection


def read(address, count, path, token, pause):
    header = "" if token == "-" else f"X-Aws-Parameters-Secrets-Token: {token}\r\n"
    request = f"GET {path} HTTP/1.1\r\nHost: localhost\r\n{header}\r\n".encode()
    connection = connect(address)
    connection.sendall(request * count)
    time.sleep(pause)
    connection.settimeout(1)
    statuses, buffer, closed = {}, bytearray(), False
    deadline = time.monotonic() + 60
    answered = 0
    while answered < count and time.monotonic() < deadline:
        # Every complete answer in the buffer first, then more bytes.
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            head = bytes(buffer[:end]).decode("latin-1").split("\r\n")
            length = next(
                (int(line.split(":", 1)[1]) for line in head if line.lower().startswith("content-length:")), 0
            )
            if len(buffer) >= end + 4 + length:
                status = head[0].split(" ")[1]
                statuses[status] = statuses.get(status, 0) + 1
                answered += 1
                del buffer[: end + 4 + length]
                continue
        try:
            chunk = connection.recv(1 << 20)
        except socket.timeout:
            continue
        except OSError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        buffer += chunk
    connection.close()
    print(json.dumps({"answered": answered, "statuses": statuses, "closedEarly": closed and answered < count}))


def flood(port, total, seconds):
    chunk = b"GET /ping HTTP/1.1\r\nHost: localhost\r\n\r\n" * 25_000  # about 1 MB
    connection = connect(str(port))
    connection.settimeout(0.5)
    sent, closed = 0, None
    start = time.monotonic()
    last_progress = start
    while sent < total and time.monotonic() - start < seconds:
        try:
            sent += connection.send(chunk[: min(len(chunk), total - sent)])
            last_progress = time.monotonic()
        except socket.timeout:
            continue
        except OSError as error:
            closed = type(error).__name__
            break
    end = time.monotonic()
    connection.close()
    print(json.dumps({
        "sent": sent, "closed": closed, "seconds": round(end - start, 1),
        "stalledFor": round(end - last_progress, 1),
    }))


if sys.argv[1] == "read":
    read(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], float(sys.argv[6]))
else:
    flood(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
