#!/usr/bin/env python3
"""The product's image, its ECS task definitions and its docker-compose.yml under a real Docker
engine, checked black-box from outside the containers (scripts/docker-check builds the images and
runs this; so does scripts/test).

    python3 scripts/harness/real_stack.py [image] [tasks] [exec] [compose]     (default: all four)

Needs DOCKER_HOST (scripts/docker-engine), the images scripts/docker-images makes, and the
product's images built from the Dockerfile: IMAGE (the compose file's `image:`) and IMAGE's name
with the tag `tools` (`docker build --target tools`). Every compose project it starts is taken
down with its volumes, also when a check fails. Prints one line per check; exits 1 when any fails.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
IMAGE = re.search(r"^\s*image: (secrets-injector:\S+)", COMPOSE_FILE.read_text(), re.M).group(1)
TOOLS_IMAGE = IMAGE.split(":")[0] + ":tools"
SECRET_IDS = [f"pipeline-pulse/prod/{name}" for name in ("database", "zoho", "currency", "jwt")]
# The compose override: the refresh interval, shortened so that a rotation arrives in seconds.
# Nothing else of the product's services changes (docs/deploying.md, "under a real Docker engine").
INTERVAL = 20
OVERRIDE = f"""services:
  injector:
    environment:
      SECRETS_INJECTOR_REFRESH_SECONDS: "{INTERVAL}"
"""
# What the task definitions' app container runs here instead of the app's image (which does not
# exist here): it reads every file it is told of, as the app's user, and prints their digests.
READER = r"""set -eu
cd /run/secrets
echo "uid $(id -u) gid $(id -g) folder $(stat -c '%u:%g %a' .)"
for file in "$@"; do [ -s "$file" ] && [ -r "$file" ] || { echo "cannot read $file"; exit 1; }; done
for file in "$@"; do echo "file $file $(sha256sum < "$file" | cut -d' ' -f1) $(sed -n 's/=.*//p' "$file" | tr '\n' ',')"; done
"""

failures = []
scratch = Path(tempfile.mkdtemp(prefix="real-stack-"))


def check(condition, what, detail=""):
    print(("ok    " if condition else "FAIL  ") + what + (f": {detail}" if detail and not condition else ""), flush=True)
    if not condition:
        failures.append(what)
    return condition


def run(arguments, *, timeout=600, env=None, ok=(0,)):
    result = subprocess.run(arguments, capture_output=True, text=True, timeout=timeout, env=env)
    if ok is not None and result.returncode not in ok:
        raise RuntimeError(f"{' '.join(arguments[:6])} exited {result.returncode}: {result.stderr.strip()[-2000:]}")
    return result


def inspect(kind, name, template):
    return run(["docker", kind, "inspect", "-f", template, name]).stdout.strip()


# ---------------------------------------------------------------------------------------------
# Compose projects: a HOME holding a test ~/.aws profile (the compose file mounts ${HOME}/.aws).

home = scratch / "home"
(home / ".aws").mkdir(parents=True)
(home / ".aws" / "credentials").write_text(
    "[default]\naws_access_key_id = AKIALOCALSTACKTEST01\naws_secret_access_key = local-stack-test-key\n")
compose_environment = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, "HOME": str(home)}


class Project:
    def __init__(self, name, files):
        self.name = name
        self.files = [str(file) for file in files]

    def compose(self, *arguments, ok=(0,), timeout=600):
        command = ["docker-compose", "--project-directory", str(REPO), "-p", self.name]
        for file in self.files:
            command += ["-f", file]
        return run(command + list(arguments), env=compose_environment, ok=ok, timeout=timeout)

    def container(self, service):
        identifier = self.compose("ps", "-a", "-q", service).stdout.split()
        return identifier[0] if identifier else None

    def state(self, service, field="{{.State.Status}} {{.State.ExitCode}}"):
        container = self.container(service)
        return inspect("container", container, field) if container else "absent"

    def wait(self, service, done, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            state = self.state(service, "{{.State.Status}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{end}}")
            if done(state):
                return state
            time.sleep(0.5)
        return self.state(service, "{{.State.Status}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{end}}")

    def account(self):
        """Every configured secret as moto holds it now, read through the aws-cli image."""
        script = "for id in " + " ".join(SECRET_IDS) + "; do aws --endpoint-url http://moto:5000 secretsmanager get-secret-value --secret-id $id --query SecretString --output text; done"
        lines = self.compose("run", "--rm", "--no-deps", "--entrypoint", "sh", "seed", "-c", script).stdout.splitlines()
        return dict(zip(SECRET_IDS, lines))

    def put(self, secret_id, value):
        self.compose("run", "--rm", "--no-deps", "--entrypoint", "aws", "seed", "--endpoint-url", "http://moto:5000",
                     "secretsmanager", "put-secret-value", "--secret-id", secret_id, "--secret-string", value)

    def logs(self):
        return self.compose("logs", "--no-color").stdout

    def down(self):
        self.compose("down", "-v", "--remove-orphans", "-t", "5", ok=None)
        label = f"label=com.docker.compose.project={self.name}"
        left = {kind: run(["docker", kind, "ls", "-q", "--filter", label] if kind != "container" else
                          ["docker", "ps", "-a", "-q", "--filter", label]).stdout.split()
                for kind in ("container", "volume", "network")}
        return {kind: names for kind, names in left.items() if names}


def leaves(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from leaves(item)
    elif isinstance(value, str):
        yield value


def values_in(text, secrets, shown=()):
    """The secret strings (6 characters or more, none the demo app prints on purpose) found in text."""
    found = []
    for secret in secrets.values():
        for value in leaves(json.loads(secret)):
            if len(value) >= 6 and value not in shown and value in text:
                found.append(value[:3] + "…")
    return found


def digest(data):
    return hashlib.sha256(data.encode()).hexdigest()


def configured_files(environment):
    configuration = json.loads(environment["SECRETS_INJECTOR_CONFIG"])
    files = [secret["file"] for secret in configuration.get("secrets", []) if "file" in secret]
    files += [template["file"] for template in configuration.get("templates", [])]
    env = configuration.get("env")
    files += [entry["file"] for entry in (env if isinstance(env, list) else [env] if env else [])]
    return configuration, files


# ---------------------------------------------------------------------------------------------
# The image itself.

def exported_names(image, command=()):
    """Every path in the image's file system (docker export of a container never started; an image
    with no CMD is given `command`)."""
    container = run(["docker", "create", image, *command]).stdout.strip()
    try:
        archive = scratch / "export.tar"
        run(["docker", "export", "-o", str(archive), container])
        with tarfile.open(archive) as tar:
            names = {member.name.lstrip("./") for member in tar.getmembers()}
        archive.unlink()
        return names
    finally:
        run(["docker", "rm", container])


# What the image FROM scratch holds, and nothing else (scripts/image-files names each file's origin).
IMAGE_FILES = {
    "usr/local/bin/secrets-injector", "usr/local/bin/secrets-injector-portable",
    "etc/ssl/certs/ca-certificates.crt", "etc/os-release", "etc/passwd", "etc/group",
    "usr/local/share/doc/secrets-injector/linked",
    *(f"var/lib/dpkg/status.d/{package}" for package in (
        "libc6-dev", "libssl-dev", "libstdc++-12-dev", "libgcc-12-dev", "ca-certificates", "base-files",
        "secrets-injector-libcurl")),
}
IMAGE_LIMIT = 30_000_000


def check_image():
    sizes = {image: int(inspect("image", image, "{{.Size}}")) for image in (IMAGE, TOOLS_IMAGE)}
    for image, size in sizes.items():
        print(f"size  {image}: {size / 1e6:.1f} MB uncompressed")
    check(sizes[IMAGE] <= IMAGE_LIMIT, f"runtime image at most {IMAGE_LIMIT / 1e6:.0f} MB uncompressed",
          f"{sizes[IMAGE]:,} bytes")
    dockerfile = (REPO / "Dockerfile").read_text()
    check(re.search(r"^FROM scratch AS runtime$", dockerfile, re.M) is not None, "the runtime stage is FROM scratch")
    listing = run([str(REPO / "scripts/image-files"), IMAGE], ok=None)
    check(listing.returncode == 0, "scripts/image-files names every file's origin", listing.stderr.strip())
    print("      " + listing.stdout.strip().splitlines()[-1])
    entries = [line.split(None, 4) for line in listing.stdout.splitlines() if not line.startswith("==")]
    paths = {entry[3].lstrip("/"): entry for entry in entries}
    check(set(paths) == IMAGE_FILES, "runtime image holds the injector, the CA bundle, passwd, group and its records only",
          f"more: {sorted(set(paths) - IMAGE_FILES)}; missing: {sorted(IMAGE_FILES - set(paths))}")
    programs = sorted(path for path, entry in paths.items() if entry[0][0] in "-h" and int(entry[0][1:], 8) & 0o111)
    check(programs == ["usr/local/bin/secrets-injector", "usr/local/bin/secrets-injector-portable"]
          and sorted(paths[program][0][0] for program in programs) == ["-", "h"],
          "runtime image: no program but the injector (secrets-injector-portable a hard link to it), no shell",
          ", ".join(programs))
    shell = run(["docker", "run", "--rm", "--entrypoint", "/bin/sh", IMAGE, "-c", "true"], ok=None)
    check(shell.returncode != 0, "docker run --entrypoint /bin/sh IMAGE fails: there is no shell", f"exit {shell.returncode}")
    version = run(["docker", "run", "--rm", "--read-only", "--user", "10001:10001", IMAGE, "version"], ok=None)
    check(version.returncode == 0 and version.stdout.strip(), "docker run --read-only --user 10001:10001 IMAGE version",
          f"exit {version.returncode}: {version.stderr.strip()}")
    health = run(["docker", "run", "--rm", IMAGE, "health"], ok=None)
    output = (health.stdout + health.stderr).strip()
    check(health.returncode == 1 and len(output.splitlines()) == 1, "docker run IMAGE health, no sidecar: exit 1, one line",
          f"exit {health.returncode}: {output!r}")
    print(f"      health says: {output}")
    check_image_peers()
    scan = run(["docker", "run", "--rm", "--read-only", "-v", f"{REPO / 'examples/migration'}:/in:ro", TOOLS_IMAGE,
                "scan", "--format", "json", "/in"], ok=None)
    findings = json.loads(scan.stdout or "{}").get("findings", []) if scan.stdout.strip().startswith("{") else []
    check(scan.returncode == 1 and findings, "tools image: scan finds the example task definition's secrets",
          f"exit {scan.returncode}: {scan.stderr.strip()[:300]}")


def check_image_peers():
    """What only the host's test peers can show: HTTPS trusting the image's own CA store, and the
    error for a root-owned output folder. The peers listen on loopback; the container shares the
    host's network."""
    peers = subprocess.Popen([sys.executable, str(REPO / "scripts/harness/aws_peers.py")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        ready = json.loads(peers.stdout.readline())
        token = scratch / "ecs-token"
        token.write_text(Path(ready["tokenFile"]).read_text())
        token.chmod(0o444)
        container = run(["docker", "create", IMAGE]).stdout.strip()
        bundle = scratch / "ca-certificates.crt"
        run(["docker", "cp", f"{container}:/etc/ssl/certs/ca-certificates.crt", str(bundle)])
        run(["docker", "rm", container])
        check(bundle.stat().st_size > 100_000, "runtime image carries Debian's CA bundle")
        bundle.write_text(bundle.read_text() + Path(ready["tlsCABundle"]).read_text())
        bundle.chmod(0o444)
        rootowned = scratch / "rootowned"
        rootowned.mkdir(mode=0o755)
        common = ["docker", "run", "--rm", "--network", "host", "--read-only", "--user", "10001:1000",
                  "-v", f"{token}:/run/ecs-token:ro",
                  "-e", f"AWS_REGION={ready['region']}",
                  "-e", f"AWS_CONTAINER_CREDENTIALS_FULL_URI={ready['credentials']}pipeline-pulse-task",
                  "-e", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/run/ecs-token",
                  "-e", f"SECRETS_INJECTOR_CONFIG={(REPO / 'examples/pipeline-pulse.json').read_text()}"]
        https = ["-e", f"AWS_ENDPOINT_URL_SECRETS_MANAGER={ready['tlsEndpoint']}"]
        trusted = run(common + https + ["-v", f"{bundle}:/etc/ssl/certs/ca-certificates.crt:ro", IMAGE, "init"], ok=None)
        check(trusted.returncode == 0, "init over HTTPS, trusting the image's CA store (with the test authority added)",
              f"exit {trusted.returncode}: {trusted.stderr.strip()[-400:]}")
        untrusted = run(common + https + [IMAGE, "init"], ok=None)
        check(untrusted.returncode != 0, "init over HTTPS refuses the test authority the image's store lacks",
              f"exit {untrusted.returncode}")
        refused = run(common + ["-e", f"AWS_ENDPOINT_URL_SECRETS_MANAGER={ready['endpoint']}",
                                "-e", "SECRETS_INJECTOR_OUTPUT_DIR=/run/rootowned", "-v", f"{rootowned}:/run/rootowned",
                                IMAGE, "init"], ok=None)
        check(refused.returncode == 5 and "install -d -m 0750 -o 10001 /run/rootowned" in refused.stderr,
              "init into a root-owned 0755 folder: exit 5, naming the fix",
              f"exit {refused.returncode}: {refused.stderr.strip()[-400:]}")
        check(not any(rootowned.iterdir()), "nothing written into the refused folder")
    finally:
        peers.stdin.close()
        peers.wait(timeout=60)


# ---------------------------------------------------------------------------------------------
# The task definitions, as ECS orders their containers.

def play(task_definition, project_name, volumes_from=None, expect_files=True):
    task = json.loads((REPO / task_definition).read_text())
    injector = next(c for c in task["containerDefinitions"] if c["image"].split("/")[-1].startswith("secrets-injector"))
    app = next(c for c in task["containerDefinitions"] if c is not injector)
    environment = {variable["name"]: variable["value"] for variable in injector["environment"]}
    _, files = configured_files(environment)
    generated = scratch / f"{project_name}.json"
    arguments = [sys.executable, str(REPO / "scripts/harness/ecs_local.py"), str(REPO / task_definition),
                 "--injector-image", IMAGE, "--image", f"{injector['name']}={IMAGE}",
                 "--image", f"{app['name']}=curlimages/curl:8.11.1",
                 "--command", f"{app['name']}={json.dumps(['sh', '-c', READER, 'reader', *files])}"]
    if volumes_from:
        arguments += ["--volumes-from", str(REPO / volumes_from)]
    generated.write_text(run(arguments).stdout)
    project = Project(project_name, [COMPOSE_FILE, generated])
    title = f"{task_definition}" + (f" with {volumes_from}'s volume" if volumes_from else "")
    try:
        project.compose("up", "-d", app["name"], timeout=300)
        state = project.wait(app["name"], lambda s: s.startswith("exited"), 120)
        output = project.compose("logs", "--no-color", app["name"]).stdout
        secrets = project.account()
        if not expect_files:
            check(not state.startswith("exited 0"), f"{title}: the app finds no files (the defect the fix removes)", state)
            return
        check(state.startswith("exited 0"), f"{title}: the app ({app.get('user')}) reads every file", f"{state}\n{output[-1500:]}")
        read = dict(re.findall(r"file (\S+) ([0-9a-f]{64})", output))
        for secret in json.loads(environment["SECRETS_INJECTOR_CONFIG"])["secrets"]:
            check(read.get(secret["file"]) == digest(secrets[secret["id"]]),
                  f"{title}: {secret['file']} holds {secret['id']} as Secrets Manager does")
        check("DATABASE_URL," in output, f"{title}: app.env defines DATABASE_URL")
        injector_state = project.state(injector["name"], "{{.State.Status}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{end}}")
        dependency = next(d["condition"] for d in app["dependsOn"] if d["containerName"] == injector["name"])
        expected = {"SUCCESS": "exited 0", "HEALTHY": "running 0 healthy"}[dependency]
        check(injector_state.strip() == expected, f"{title}: the injector is `{expected}` ({dependency})", injector_state)
        leaked = values_in(project.logs(), secrets)
        check(not leaked, f"{title}: no secret value in the containers' logs", ", ".join(leaked))
    finally:
        left = project.down()
        check(not left, f"{title}: down -v leaves nothing", str(left))


def check_tasks():
    play("task-definitions/init-container.json", "si-task-init")
    play("task-definitions/sidecar.json", "si-task-sidecar")
    play("task-definitions/fargate.json", "si-task-fargate")
    # The same init container on the sidecar's tmpfs volume: what the init container had before.
    play("task-definitions/init-container.json", "si-task-tmpfs", volumes_from="task-definitions/sidecar.json",
         expect_files=False)


# ---------------------------------------------------------------------------------------------
# exec's layout: `install` in an init container, the app's image unchanged, `exec` its entryPoint.

# The variables the exec task definition's configuration defines, and where each comes from.
EXEC_VARIABLES = {
    "JWT_SECRET": ("pipeline-pulse/prod/jwt", "secret"), "JWT_ALGORITHM": ("pipeline-pulse/prod/jwt", "algorithm"),
    "JWT_EXPIRE_MINUTES": ("pipeline-pulse/prod/jwt", "expire_minutes"),
    "DB_PASSWORD": ("pipeline-pulse/prod/database", "password"),
    "ZOHO_CLIENT_SECRET": ("pipeline-pulse/prod/zoho", "client_secret"),
    "CURRENCY_API_KEY": ("pipeline-pulse/prod/currency", "api_key"),
}


def fnv1a(data):
    value = 14695981039346656037
    for byte in data:
        value = ((value ^ byte) * 1099511628211) % 2**64
    return f"{value:016x}"


def exec_app_images():
    """The app images `exec` is put into, none with OpenSSL: Debian 12 slim as it is, Debian 11
    (glibc 2.31), and one with only glibc and the CA bundle (FROM scratch). Each gets
    docker/exec-apps/envhash.c as its app: static in the Debian ones, linked with the image's own
    glibc in the last (this machine's, bookworm's)."""
    context = scratch / "exec-apps"
    context.mkdir(exist_ok=True)
    source = REPO / "docker/exec-apps/envhash.c"
    run(["cc", "-O2", "-static", "-o", str(context / "envhash-static"), str(source)])
    run(["cc", "-O2", "-o", str(context / "envhash-dynamic"), str(source)])
    for library in ("/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2", "/etc/ssl/certs/ca-certificates.crt"):
        shutil.copy(library, context / Path(library).name)  # with its mode: the loader must be executable
    recipes = {
        "si-exec-app:bookworm": ("debian:bookworm-slim", "FROM debian:bookworm-slim\nCOPY envhash-static /usr/local/bin/envhash\n"),
        "si-exec-app:bullseye": ("debian:bullseye-slim (Debian 11, glibc 2.31)", "FROM debian:bullseye-slim\nCOPY envhash-static /usr/local/bin/envhash\n"),
        "si-exec-app:glibc": ("only glibc and CA certificates", "FROM scratch\n"
                              "COPY libc.so.6 /lib/x86_64-linux-gnu/libc.so.6\nCOPY ld-linux-x86-64.so.2 /lib64/ld-linux-x86-64.so.2\n"
                              "COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt\nCOPY envhash-dynamic /usr/local/bin/envhash\n"),
    }
    for tag, (title, dockerfile) in recipes.items():
        (context / "Dockerfile").write_text(dockerfile)
        run(["docker", "build", "-q", "-t", tag, str(context)], timeout=300)
        names = exported_names(tag, ["/usr/local/bin/envhash"])
        check(not any(re.search(r"lib(ssl|crypto)\.so\.3", name) for name in names),
              f"exec app image {title}: no OpenSSL 3 (libssl3) in it")
    return [(tag, title) for tag, (title, _) in recipes.items()]


def play_exec(app_image, title, task_definition="task-definitions/exec.json"):
    task = json.loads((REPO / task_definition).read_text())
    installer = next(c for c in task["containerDefinitions"] if c.get("command", [])[:1] == ["install"])
    app = next(c for c in task["containerDefinitions"] if c is not installer)
    names = [*EXEC_VARIABLES, "DATABASE_URL"]
    generated = scratch / "si-task-exec.json"
    generated.write_text(run([sys.executable, str(REPO / "scripts/harness/ecs_local.py"), str(REPO / task_definition),
                              "--injector-image", IMAGE, "--image", f"{installer['name']}={IMAGE}",
                              "--image", f"{app['name']}={app_image}",
                              "--arguments", f"{app['name']}={json.dumps(['/usr/local/bin/envhash', *names])}"]).stdout)
    project = Project("si-task-exec", [COMPOSE_FILE, generated])
    title = f"{task_definition} in {title}"
    try:
        # Judged by the containers' states: compose's own exit says only that one did not succeed.
        project.compose("up", "-d", app["name"], timeout=300, ok=None)
        state = project.wait(app["name"], lambda s: s.startswith("exited"), 120)
        output = project.compose("logs", "--no-color", app["name"]).stdout
        installed_state = project.state(installer["name"]).strip()
        check(installed_state == "exited 0", f"{title}: `install` exits 0 (dependsOn SUCCESS)",
              installed_state + "\n" + project.compose("logs", "--no-color", installer["name"]).stdout[-600:])
        check(state.startswith("exited 0"), f"{title}: exec starts the app and exits with its status", f"{state}\n{output[-1500:]}")
        secrets = project.account()
        seen = dict(re.findall(r"\| (\w+) (\d+ [0-9a-f]{16}|unset)$", output, re.M))
        for name, (secret_id, key) in EXEC_VARIABLES.items():
            value = json.loads(secrets[secret_id])[key]
            data = (value if isinstance(value, str) else json.dumps(value)).encode()
            check(seen.get(name) == f"{len(data)} {fnv1a(data)}", f"{title}: {name} is {secret_id}'s {key}, byte for byte")
        check(seen.get("DATABASE_URL", "unset") != "unset", f"{title}: the dotenv template's DATABASE_URL is defined")
        check(re.search(r"uid 1000 gid 1000 parent 1$", output, re.M) is not None,
              f"{title}: the app runs as the container's user 1000:1000, exec (PID 1) its parent", output[-600:])
        leaked = values_in(project.logs(), secrets)
        check(not leaked, f"{title}: no secret value in the containers' logs", ", ".join(leaked))
    finally:
        left = project.down()
        check(not left, f"{title}: down -v leaves nothing", str(left))


def check_exec():
    for tag, title in exec_app_images():
        play_exec(tag, title)


# ---------------------------------------------------------------------------------------------
# docker-compose.yml, as an operator runs it.

def volume_folder(project):
    volume = f"{project.name}_secrets"
    return Path(inspect("volume", volume, "{{.Mountpoint}}"))


def database_password(app_env):
    url = next(line for line in app_env.splitlines() if line.startswith("DATABASE_URL="))
    return urllib.parse.unquote(urllib.parse.urlsplit(url.split("=", 1)[1]).password)


def check_compose():
    override = scratch / "docker-compose.override.yml"
    override.write_text(OVERRIDE)
    project = Project("si-compose", [COMPOSE_FILE, override])
    try:
        project.compose("up", "-d", timeout=600)
        demo = project.wait("demo-app", lambda s: s.startswith("exited"), 180)
        check(project.state("seed").startswith("exited 0"), "compose: seed completes", project.state("seed"))
        check(project.state("injector-init").startswith("exited 0"), "compose: injector-init exits 0", project.state("injector-init"))
        health = project.state("injector", "{{.State.Health.Status}}")
        check(health == "healthy", "compose: injector is healthy through its own healthcheck", health)
        check(demo.startswith("exited 0"), "compose: demo-app ran", demo + project.compose("logs", "--no-color", "demo-app").stdout[-1500:])
        injector = project.container("injector")
        environment = dict(item.split("=", 1) for item in json.loads(inspect("container", injector, "{{json .Config.Env}}")))
        _, files = configured_files(environment)
        reader = project.compose("run", "--rm", "--no-deps", "--entrypoint", "sh", "demo-app", "-c", READER, "reader", *files, ok=None)
        secrets = project.account()
        read = dict(re.findall(r"file (\S+) ([0-9a-f]{64})", reader.stdout))
        check(reader.returncode == 0 and "uid 1000 gid 1000 folder 10001:1000 750" in reader.stdout and len(read) == len(files),
              "compose: demo-app, as uid 1000, reads every file; the volume is 10001:1000, mode 0750",
              reader.stdout + reader.stderr)
        configuration = json.loads(environment["SECRETS_INJECTOR_CONFIG"])
        for secret in configuration["secrets"]:
            check(read.get(secret["file"]) == digest(secrets[secret["id"]]), f"compose: {secret['file']} holds {secret['id']}")
        held = inspect("container", injector, "{{.HostConfig.ReadonlyRootfs}} {{json .HostConfig.CapDrop}} {{.Config.User}}")
        check(held == 'true ["ALL"] 10001:1000', "compose: the injector runs read_only, cap_drop ALL, user 10001:1000", held)
        processes = run(["docker", "top", injector, "-eo", "pid,uid,gid,comm"]).stdout
        check(re.search(r"^\s*\d+\s+10001\s+1000\s+secrets-injecto", processes, re.M) is not None,
              "compose: the injector's process runs as 10001:1000", processes)
        # The engine's own tiny init (init: true) is the one file Docker adds to the container, with
        # its folder (the image FROM scratch has no /sbin).
        changes = [line for line in run(["docker", "diff", injector]).stdout.splitlines()
                   if line not in ("A /sbin", "A /sbin/docker-init")]
        check(not changes, "compose: the injector wrote nothing outside its volume (docker diff is empty)", " ".join(changes))
        folder = volume_folder(project)
        app_env = (folder / "app.env").read_text()
        old = json.loads(secrets["pipeline-pulse/prod/database"])
        check(database_password(app_env) == old["password"], "compose: app.env's DATABASE_URL carries the database password")

        # A rotation, picked up by the next round (the override's interval).
        rotated = dict(old, password="rotated p@ss/w~rd:1 é")
        project.put("pipeline-pulse/prod/database", json.dumps(rotated))
        changed = time.monotonic()
        deadline = changed + INTERVAL * 1.1 + 5
        while time.monotonic() < deadline and (folder / "database.json").read_text() != json.dumps(rotated):
            time.sleep(0.2)
        took = time.monotonic() - changed
        check((folder / "database.json").read_text() == json.dumps(rotated) and took <= INTERVAL * 1.1 + 5,
              f"compose: a put-secret-value reaches database.json within one interval ({took:.1f} s, interval {INTERVAL} s ±10 %)")
        check(database_password((folder / "app.env").read_text()) == rotated["password"], "compose: ... and app.env")

        # And at once through `secrets-injector refresh` in the injector's container, once the
        # round's check is older than refresh.minRefreshSeconds (5 s plus up to half of it), and
        # with the next round more than 10 s away.
        time.sleep(max(0, changed + took + 8 - time.monotonic()))
        again = dict(old, password="second rotation \"$HOME\" `x`")
        project.put("pipeline-pulse/prod/database", json.dumps(again))
        refreshed = project.compose("exec", "-T", "injector", "/usr/local/bin/secrets-injector", "refresh",
                                    "--secret", "pipeline-pulse/prod/database", ok=None)
        check(refreshed.returncode == 0 and "last check's result" not in refreshed.stdout and (folder / "database.json").read_text() == json.dumps(again)
              and database_password((folder / "app.env").read_text()) == again["password"],
              "compose: `secrets-injector refresh` in the injector's container brings it at once",
              f"exit {refreshed.returncode}: {refreshed.stdout.strip()} {refreshed.stderr.strip()}")
        secrets["rotated"] = json.dumps(rotated)
        secrets["again"] = json.dumps(again)
        logs = project.logs()
        database = json.loads(secrets["pipeline-pulse/prod/database"])
        shown = {database["username"], database["host"], database["database"]}  # demo-app prints DATABASE_URL masked
        leaked = values_in(logs + refreshed.stdout + refreshed.stderr, secrets, shown)
        check(not leaked, "compose: no secret value in docker-compose logs", ", ".join(leaked))
        injector_logs = project.compose("logs", "--no-color", "injector", "injector-init").stdout
        leaked = values_in(injector_logs, secrets)
        check(not leaked and "rotated" not in injector_logs, "compose: the injector's logs name no value at all", ", ".join(leaked))
    finally:
        left = project.down()
        check(not left, "compose: docker-compose down -v leaves no container, volume or network", str(left))


def main():
    parts = sys.argv[1:] or ["image", "tasks", "exec", "compose"]
    for part in parts:
        started = time.monotonic()
        try:
            {"image": check_image, "tasks": check_tasks, "exec": check_exec, "compose": check_compose}[part]()
        except Exception as error:  # a step that could not run is a failure, named
            check(False, f"{part}: {error}")
        print(f"time  {part}: {time.monotonic() - started:.0f} s", flush=True)
    if failures:
        print(f"real-stack: {len(failures)} check(s) failed: " + "; ".join(failures), file=sys.stderr)
        sys.exit(1)
    print("real-stack: every check passed")


if __name__ == "__main__":
    main()
