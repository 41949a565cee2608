"""The app `secrets-injector exec` starts in ExecCommandTests: python3 exec_app.py MODE FOLDER.

Each mode leaves what it saw in FOLDER (each file written whole, by a rename), so the test reads
facts, not timings.
"""
import json
import os
import resource
import signal
import sys
import time

mode, folder = sys.argv[1], sys.argv[2]


def write(name, text):
    temporary = os.path.join(folder, name + ".tmp")
    with open(temporary, "w") as handle:
        handle.write(text)
    os.rename(temporary, os.path.join(folder, name))


def proc(pid, name):
    """/proc/PID/NAME as hex, or why it cannot be read."""
    try:
        with open(f"/proc/{pid}/{name}", "rb") as handle:
            return handle.read().hex()
    except OSError as error:
        return f"unreadable: {error.strerror}"


def process_state():
    """The descriptors this process holds (beyond 0, 1, 2) and the signals it ignores or blocks."""
    descriptors = sorted(int(fd) for fd in os.listdir("/proc/self/fd") if int(fd) > 2)
    status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\t" in line)
    return {"descriptors": len(descriptors) - 1, "ignored": status["SigIgn"].strip(), "blocked": status["SigBlk"].strip(),
            "core": list(resource.getrlimit(resource.RLIMIT_CORE))}


def sleep_forever():
    while True:
        time.sleep(3600)


if mode == "env":
    # Every variable byte for byte, and what the injector (our parent) shows in /proc.
    parent = os.getppid()
    write("env.json", json.dumps({
        "environment": {name.hex(): value.hex() for name, value in os.environb.items()},
        "parentEnviron": proc(parent, "environ"),
        "parentCmdline": proc(parent, "cmdline"),
        "pid": os.getpid(),
        "parent": parent,
        "state": process_state(),
    }))
    sys.exit(7)
elif mode == "identity":
    parent = os.getppid()
    write("identity.json", json.dumps({
        "uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "egid": os.getegid(),
        "groups": os.getgroups(), "parentEnviron": proc(parent, "environ"), "plain": os.environ.get("PLAIN"),
    }))
elif mode == "pid":
    write("state.json", json.dumps(process_state()))
    write("pid", str(os.getpid()))
elif mode == "started":
    write("started", "yes")
elif mode == "signals":
    # The app and a second member of its process group each record the signals they get; SIGTERM
    # ends both, the app with 42 once the member is gone.
    member = os.fork()
    if member == 0:
        def member_term(number, frame):
            write("member-term", "yes")
            os._exit(0)
        signal.signal(signal.SIGTERM, member_term)
        for number in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(number, signal.SIG_IGN)
        write("member-ready", str(os.getpid()))
        sleep_forever()
    seen = []

    def record(number, frame):
        seen.append(signal.Signals(number).name)
        write("signals", "\n".join(seen))
        if number == signal.SIGTERM:
            os.waitpid(member, 0)
            sys.exit(42)
    for number in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH, signal.SIGQUIT, signal.SIGTERM):
        signal.signal(number, record)
    while not os.path.exists(os.path.join(folder, "member-ready")):
        time.sleep(0.01)
    write("ready", str(os.getpid()))
    sleep_forever()
elif mode == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    write("ready", str(os.getpid()))
    sleep_forever()
elif mode == "orphan":
    # A child that starts a grandchild and exits at once: the grandchild, orphaned, records who
    # adopted it, then exits and must be reaped by that parent.
    child = os.fork()
    if child == 0:
        middle = os.getpid()
        if os.fork() == 0:
            while os.getppid() == middle:
                time.sleep(0.01)
            write("orphan", json.dumps({"pid": os.getpid(), "adoptedBy": os.getppid()}))
            os._exit(0)
        os._exit(0)
    os.waitpid(child, 0)
    write("ready", str(os.getpid()))
    sleep_forever()
elif mode == "serve":
    # Runs until SIGTERM (exit 0); each start appends "PID FROM_TEMPLATE" to `starts`, each SIGHUP
    # appends its pid to `hups`: the rotation tests read which environment each start had.
    def hup(number, frame):
        with open(os.path.join(folder, "hups"), "a") as handle:
            handle.write(f"{os.getpid()}\n")
    signal.signal(signal.SIGHUP, hup)
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(0))
    with open(os.path.join(folder, "starts"), "a") as handle:
        handle.write(f"{os.getpid()} {os.environ.get('FROM_TEMPLATE', '')}\n")
    sleep_forever()
