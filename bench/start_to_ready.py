#!/usr/bin/env python3
"""Start to ready, in the image and bare (scripts/bench start): `init` from start to exit, and `run`
from start to its `outputDir/.ready` marker, against the AWS test peers (scripts/harness/aws_peers.py,
whose environment scripts/bench exports). The container shares the host's network, so both reach
the same moto_server on loopback.

    python3 bench/start_to_ready.py IMAGE BINARY RUNS TOKEN_FILE CONFIG_FILE

CONFIG_FILE's outputDir is /run/secrets (the container's volume) and its socket is in it; the bare
runs get a folder of their own in its place.

BINARY is the image's own binary, copied out of it (the same bytes), run as the same user
(setpriv 10001:1000, as the task definitions run the injector). Runs alternate, so that a noisy
neighbour touches all alike. Measured:
  docker   a container created beforehand (as ECS creates it before it starts it), from the start
           request to the engine (the Engine API on DOCKER_HOST's socket, no CLI in between) to
           the engine's answer that it exited (init: POST /containers/ID/wait), or to the moment
           `.ready` appears (run): the engine's start (namespaces, mounts, runc) and the
           injector's own. `version` the same way, as the engine's floor.
  bare     from just before the process is spawned to its exit, or to `.ready`
`.ready` is seen through inotify on the output folder (a bind mount in the container's case: the
same inode), not by polling or its (coarse, clock-tick) timestamp.
"""
import ctypes
import http.client
import json
import os
import select
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

IMAGE, BINARY, RUNS, TOKEN, CONFIG = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
USER = (10001, 1000)
libc = ctypes.CDLL(None, use_errno=True)
IN_CREATE, IN_MOVED_TO = 0x100, 0x80


def fresh_folder():
    folder = tempfile.mkdtemp(prefix="start-", dir=WORK)
    os.chown(folder, *USER)
    os.chmod(folder, 0o750)
    return folder


class ReadyWatch:
    """inotify on the folder; `wait()` returns the time `.ready` was created or renamed into it."""

    def __init__(self, folder):
        self.fd = libc.inotify_init1(os.O_CLOEXEC)
        if self.fd < 0 or libc.inotify_add_watch(self.fd, folder.encode(), IN_CREATE | IN_MOVED_TO) < 0:
            raise OSError(ctypes.get_errno(), "inotify")
        self.folder = folder

    def wait(self, seconds=30):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            readable, _, _ = select.select([self.fd], [], [], 0.5)
            if not readable:
                continue
            now = time.time_ns()
            data = os.read(self.fd, 65536)
            offset = 0
            while offset < len(data):
                _, _, _, length = struct.unpack_from("iIII", data, offset)
                name = data[offset + 16:offset + 16 + length].rstrip(b"\0")
                offset += 16 + length
                if name == b".ready":
                    return now
        raise RuntimeError(f"no .ready in {self.folder} within {seconds} s")

    def close(self):
        os.close(self.fd)


def docker(*arguments):
    return subprocess.run(["docker", *arguments], capture_output=True, text=True, check=True).stdout.strip()


class Engine(http.client.HTTPConnection):
    """The Docker Engine API on DOCKER_HOST's Unix socket."""

    def __init__(self):
        super().__init__("localhost", timeout=60)

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").removeprefix("unix://"))

    def call(self, method, path, body=None, expect=(200, 201, 204)):
        self.request(method, "/v1.41" + path, body=json.dumps(body) if body is not None else None,
                     headers={"Content-Type": "application/json"})
        answer = self.getresponse()
        data = answer.read()
        if answer.status not in expect:
            raise RuntimeError(f"{method} {path}: {answer.status} {data[:300]!r}")
        return json.loads(data) if data else None


def create(folder, command):
    environment = [f"{name}={os.environ[name]}" for name in
                   ("AWS_REGION", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_CONTAINER_CREDENTIALS_FULL_URI")]
    environment += ["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/run/ecs-token", f"SECRETS_INJECTOR_CONFIG={CONFIG_TEXT}"]
    body = {"Image": IMAGE, "Cmd": [command], "User": f"{USER[0]}:{USER[1]}", "Env": environment,
            "HostConfig": {"NetworkMode": "host", "ReadonlyRootfs": True,
                           "Binds": [f"{TOKEN}:/run/ecs-token:ro", f"{folder}:/run/secrets"]}}
    return ENGINE.call("POST", "/containers/create", body)["Id"]


def in_docker(command):
    folder = fresh_folder()
    container = create(folder, command)
    watch = ReadyWatch(folder) if command == "run" else None
    try:
        begun = time.time_ns()
        ENGINE.call("POST", f"/containers/{container}/start")
        if watch:
            done = watch.wait()
        else:
            status = ENGINE.call("POST", f"/containers/{container}/wait")["StatusCode"]
            done = time.time_ns()
            if status != 0 or (command == "init" and not os.path.exists(f"{folder}/app.env")):
                raise RuntimeError(f"docker {command} exited {status}")
    finally:
        if watch:
            watch.close()
        ENGINE.call("DELETE", f"/containers/{container}?force=1")
    shutil.rmtree(folder)
    return (done - begun) / 1e6


def bare(command):
    folder = fresh_folder()
    configuration = json.loads(CONFIG_TEXT)
    configuration["outputDir"] = folder
    configuration["server"]["socketPath"] = f"{folder}/injector.sock"
    environment = {**os.environ, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": TOKEN,
                   "SECRETS_INJECTOR_CONFIG": json.dumps(configuration)}
    setpriv = ["setpriv", f"--reuid={USER[0]}", f"--regid={USER[1]}", "--clear-groups"]
    watch = ReadyWatch(folder) if command == "run" else None
    begun = time.time_ns()
    process = subprocess.Popen([*setpriv, BINARY, command], env=environment,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if watch:
            done = watch.wait()
        else:
            process.wait(timeout=30)
            done = time.time_ns()
            if process.returncode != 0:
                raise RuntimeError(f"bare {command} exited {process.returncode}: {process.stderr.read()[-500:]}")
    finally:
        if watch:
            watch.close()
            process.terminate()
        process.wait(timeout=30)
    shutil.rmtree(folder)
    return (done - begun) / 1e6


WORK = tempfile.mkdtemp(prefix="bench-start-")
os.chmod(WORK, 0o755)
CONFIG_TEXT = open(CONFIG).read()
ENGINE = Engine()
kinds = ("version", "init", "run")
samples = {f"{where} {kind}": [] for kind in kinds for where in ("docker", "bare")}
try:
    for _ in range(RUNS):
        for kind in kinds:
            samples[f"docker {kind}"].append(in_docker(kind))
            samples[f"bare {kind}"].append(bare(kind))
finally:
    shutil.rmtree(WORK, ignore_errors=True)

median = {key: statistics.median(values) for key, values in samples.items()}
spread = {key: f"min {min(values):.1f}, max {max(values):.1f}" for key, values in samples.items()}
print(f"== {IMAGE} ({int(docker('image', 'inspect', '-f', '{{.Size}}', IMAGE)) / 1e6:.1f} MB), median of {RUNS} runs each, ms; "
      f"load average {os.getloadavg()[0]:.1f}")
for kind, what in (("version", "version, start to exit (the floor)"), ("init", "init, start to exit"),
                   ("run", "run, start to .ready")):
    print(f"{what:36} docker {median['docker ' + kind]:6.1f} ({spread['docker ' + kind]}); "
          f"bare {median['bare ' + kind]:6.1f} ({spread['bare ' + kind]})")
