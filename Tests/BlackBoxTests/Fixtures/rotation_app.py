#!/usr/bin/env python3
"""The app of RotationTests: queries PostgreSQL continuously as an app behind the sidecar would.

    rotation_app.py ENV_FILE PID_FILE REPORT [--rate 25] [--lifetime 1] [--refresh SOCKET SECRET_ID]
    rotation_app.py - PID_FILE REPORT --from-environment

- With --from-environment (the app `secrets-injector exec` starts): DATABASE_URL comes from its
  environment, read once at start as such an app reads it, and the report goes to REPORT.PID, one
  per start; it has no refresh or signal code (SIGHUP is ignored).
- Reads DATABASE_URL from ENV_FILE (the injector's template output) with python-dotenv, as an app
  started with it would, and runs RATE queries a second (an INSERT that names current_user).
- Reconnects on SIGHUP (the sidecar's onChange signal; its pid is in PID_FILE), and when its
  connection is LIFETIME seconds old, as a pool retires connections, so it opens new connections
  all the time and a rotation that breaks new logins shows.
- With --refresh, on an authentication failure: POST /refresh?secretId=SECRET_ID on the sidecar's
  socket, read ENV_FILE again, and retry once (docs/rotation.md).
- On SIGTERM, writes REPORT (JSON): queries that succeeded and failed, each failed login's time,
  the first login of each user, the refreshes it asked for and their answers. Never a password.
"""
import argparse
import http.client
import json
import os
import signal
import socket
import time
import urllib.parse

import psycopg
from dotenv import dotenv_values


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=30)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(self.path)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("env_file")
    parser.add_argument("pid_file")
    parser.add_argument("report")
    parser.add_argument("--rate", type=float, default=25)
    parser.add_argument("--lifetime", type=float, default=1)
    parser.add_argument("--refresh", nargs=2, metavar=("SOCKET", "SECRET_ID"))
    parser.add_argument("--from-environment", action="store_true")
    args = parser.parse_args()
    if args.from_environment:
        args.report = f"{args.report}.{os.getpid()}"
        environment_url = os.environ["DATABASE_URL"]

    state = {"changed": False, "stop": False}
    signal.signal(signal.SIGHUP, signal.SIG_IGN if args.from_environment else lambda *_: state.update(changed=True))
    signal.signal(signal.SIGTERM, lambda *_: state.update(stop=True))
    signal.siginterrupt(signal.SIGHUP, False)
    # A child of the test process inherits the blocked signals of the thread that started it; an app
    # that ECS starts has none blocked.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP, signal.SIGTERM})
    with open(args.pid_file + ".tmp", "w") as handle:
        handle.write(f"{os.getpid()}\n")
    os.rename(args.pid_file + ".tmp", args.pid_file)

    report = {"started": time.time(), "stopped": 0.0, "ok": 0, "failedQueries": 0, "failedLogins": [], "firstLogin": {}, "signals": 0, "refreshes": []}

    def login():
        url = environment_url if args.from_environment else dotenv_values(args.env_file)["DATABASE_URL"]
        user = urllib.parse.unquote(urllib.parse.urlsplit(url).username or "")
        try:
            conn = psycopg.connect(url, connect_timeout=5, autocommit=True)
        except psycopg.OperationalError as error:
            authentication = "password authentication failed" in str(error)
            report["failedLogins"].append({"at": time.time(), "user": user, "authentication": authentication})
            return None, authentication
        report["firstLogin"].setdefault(user, time.time())
        return conn, False

    def refresh():
        connection = UnixConnection(args.refresh[0])
        path = "/refresh?secretId=" + urllib.parse.quote(args.refresh[1], safe="")
        connection.request("POST", path)
        answer = connection.getresponse()
        body = json.loads(answer.read() or b"{}")
        connection.close()
        report["refreshes"].append({"at": time.time(), "status": answer.status, "result": body.get("result"),
                                    "cached": body.get("cached")})

    conn, opened = None, 0.0
    tick = 1 / args.rate
    next_query = time.monotonic()
    while not state["stop"]:
        if state["changed"] or conn is None or time.monotonic() - opened > args.lifetime:
            if state["changed"]:
                report["signals"] += 1
            state["changed"] = False
            if conn is not None:
                conn.close()
            conn, authentication = login()
            if conn is None and authentication and args.refresh:
                refresh()
                conn, _ = login()
            opened = time.monotonic()
        if conn is None:
            report["failedQueries"] += 1
        else:
            try:
                conn.execute("INSERT INTO heartbeat (at, who) VALUES (now(), current_user)")
                report["ok"] += 1
            except psycopg.Error:
                report["failedQueries"] += 1
                conn.close()
                conn = None
        next_query += tick
        time.sleep(max(0.0, next_query - time.monotonic()))

    report["stopped"] = time.time()
    with open(args.report + ".tmp", "w") as handle:
        json.dump(report, handle)
    os.rename(args.report + ".tmp", args.report)


if __name__ == "__main__":
    main()
