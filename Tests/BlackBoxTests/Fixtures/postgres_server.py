#!/usr/bin/env python3
"""A PostgreSQL 15 server of its own for RotationTests: a cluster in a temporary folder, listening
on 127.0.0.1 on a free port (its Unix socket in the same folder), password logins only
(scram-sha-256), with the app's role `pp_app` owning database `pipeline_pulse` and its table
`heartbeat`.

Prints one JSON line when ready: {"host", "port", "superuser", "superPassword", "user", "password",
"dbname"} (test-only passwords, made here), then runs until stdin closes, and then stops the server
(fast shutdown) and removes the folder. As root, the cluster runs as the `postgres` user, since
PostgreSQL refuses to run as root.
"""
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time


def binaries():
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(folder, "postgres")):
            return folder
    sys.exit("postgres_server: no PostgreSQL server (Debian: apt-get install postgresql-15)")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main():
    bin_dir = binaries()
    folder = tempfile.mkdtemp(prefix="rotation-pg-")
    run_as = []
    if os.getuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        run_as = ["setpriv", f"--reuid={owner.pw_uid}", f"--regid={owner.pw_gid}", "--init-groups"]
    os.chmod(folder, 0o700)
    data = os.path.join(folder, "data")
    password_file = os.path.join(folder, "superuser-password")
    super_password = secrets.token_urlsafe(18)
    with open(password_file, "w") as handle:
        handle.write(super_password + "\n")
    if run_as:
        os.chown(password_file, owner.pw_uid, owner.pw_gid)
    server = None
    try:
        subprocess.run(run_as + [f"{bin_dir}/initdb", "-D", data, "-U", "postgres", "--auth=scram-sha-256",
                                 f"--pwfile={password_file}", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        port = free_port()
        server = subprocess.Popen(
            run_as + [f"{bin_dir}/postgres", "-D", data, "-p", str(port), "-c", "listen_addresses=127.0.0.1",
                      "-c", f"unix_socket_directories={folder}", "-c", "fsync=off", "-c", "max_connections=200",
                      "-c", "log_min_messages=fatal"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        environment = dict(os.environ, PGPASSWORD=super_password)
        deadline = time.time() + 60
        while subprocess.run([f"{bin_dir}/pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port)]).returncode != 0:
            if server.poll() is not None or time.time() > deadline:
                sys.exit("postgres_server: the server did not start")
            time.sleep(0.1)
        password = secrets.token_urlsafe(18)

        def psql(database, statement):
            subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(port),
                            "-U", "postgres", "-d", database, "-c", statement],
                           env=environment, check=True, stdout=subprocess.DEVNULL)

        psql("postgres", f"CREATE ROLE pp_app WITH LOGIN PASSWORD '{password}'")
        psql("postgres", "CREATE DATABASE pipeline_pulse OWNER pp_app")
        psql("pipeline_pulse", "CREATE TABLE heartbeat (at timestamptz NOT NULL, who name NOT NULL); "
                               "ALTER TABLE heartbeat OWNER TO pp_app")
        print(json.dumps({"host": "127.0.0.1", "port": port, "superuser": "postgres", "superPassword": super_password,
                          "user": "pp_app", "password": password, "dbname": "pipeline_pulse"}), flush=True)
        sys.stdin.read()
    except subprocess.CalledProcessError as error:
        sys.exit(f"postgres_server: {' '.join(error.cmd[:1])} failed: {(error.stderr or b'').decode()[-300:]}")
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGINT)  # fast shutdown
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
