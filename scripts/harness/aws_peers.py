#!/usr/bin/env python3
"""AWS test peers on loopback: moto_server with signature verification on, seeded with the
Pipeline Pulse secrets, and a fake ECS container credential endpoint that serves STS
AssumeRole credentials and demands its Authorization token.

Prints one JSON line when ready (see `ready` below), then runs until stdin closes (or --hold
seconds, or 15 minutes), and stops everything it started.

    python3 scripts/harness/aws_peers.py            # used by the tests and the demo
    python3 scripts/harness/aws_peers.py --replica ap-south-1   # and a second region (failover tests)
"""
import argparse
import datetime
import ipaddress
import json
import os
import secrets as random_tokens
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import botocore.exceptions
from botocore.config import Config
from cryptography import x509  # moto's own dependency
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REGION = "ap-southeast-1"
ACCOUNT = "123456789012"

# The four Pipeline Pulse secrets, shaped as the product's first user stores them; the database
# secret in the shape AWS's rotation functions read (`engine`, `dbname`). The database
# password needs URL-encoding on purpose.
PIPELINE_PULSE = {
    "pipeline-pulse/prod/database": {
        "engine": "postgres",
        "username": "pp_app",
        "password": "Xq7#p@ss:w/rd?&=+ %ü",
        "host": "pipeline-pulse-db.cluster-abc.ap-southeast-1.rds.amazonaws.com",
        "port": 5432,
        "dbname": "pipeline_pulse",
    },
    "pipeline-pulse/prod/zoho": {
        "client_id": "1000.ZOHOCLIENTID7QX",
        "client_secret": "zoho-client-secret-5f3b9a",
        "redirect_uri": "https://pipeline-pulse.example.com/api/zoho/callback",
        "data_center": "in",
    },
    "pipeline-pulse/prod/currency": {
        "api_key": "cur-live-9d8e7f6a5b4c",
        "base_url": "https://api.currencyfreaks.com/v2.0",
    },
    "pipeline-pulse/prod/jwt": {
        "secret": "jwt-signing-secret-4c1d2e3f",
        "algorithm": "HS256",
        "expire_minutes": 30,
    },
}

READ_ACTIONS = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret",
                "secretsmanager:BatchGetSecretValue", "secretsmanager:ListSecrets"]
NO_GET_ACTIONS = ["secretsmanager:DescribeSecret", "secretsmanager:BatchGetSecretValue",
                  "secretsmanager:ListSecrets"]
# moto checks BatchGetSecretValue alone (AWS also needs GetSecretValue per secret), so a role
# that can read nothing is needed to see a denied BatchGetSecretValue.
DESCRIBE_ONLY_ACTIONS = ["secretsmanager:DescribeSecret", "secretsmanager:ListSecrets"]
# The migration document's policy (GetSecretValue only), and the same plus BatchGetSecretValue.
GET_ONLY_ACTIONS = ["secretsmanager:GetSecretValue"]
GET_BATCH_ACTIONS = ["secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue"]
# The Parameter Store policy of docs/outputs.md: GetParameters alone.
PARAMETER_ACTIONS = ["ssm:GetParameters"]
ROLES = {
    "pipeline-pulse-task": READ_ACTIONS + ["ssm:GetParameters", "ssm:GetParametersByPath"],
    "pipeline-pulse-parameters": PARAMETER_ACTIONS,
    "pipeline-pulse-get-only": GET_ONLY_ACTIONS,
    "pipeline-pulse-get-batch": GET_BATCH_ACTIONS,
    "pipeline-pulse-no-get": NO_GET_ACTIONS,
    "pipeline-pulse-describe-only": DESCRIBE_ONLY_ACTIONS,
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def created(call, **arguments):
    """A set-up create: "already exists" is its success when botocore retried it after a transient
    error that moto had answered after creating it."""
    try:
        return call(**arguments)
    except botocore.exceptions.ClientError as error:
        if error.response["Error"]["Code"] not in ("EntityAlreadyExists", "ResourceExistsException"):
            raise


def stop_servers(servers):
    """Every server at once, then SIGKILL for one that outlives SIGTERM (moto can): never left behind."""
    for server in servers:
        os.killpg(server.pid, signal.SIGTERM)
    for server in servers:
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def wait_for_port(port, process, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            sys.exit(f"moto_server exited with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    sys.exit("moto_server did not start in time")


class Route:
    """A TCP forwarder to moto that the tests can cut, to see Secrets Manager go away and come back.

    It counts the requests it carries by operation (their `X-Amz-Target`), and the statuses of
    the answers by operation: answers come back on a connection in the order of its requests."""

    def __init__(self, upstream_port, tls=None):
        self.upstream_port = upstream_port
        self.tls = tls  # an ssl.SSLContext: the forwarder speaks HTTPS to its clients
        self.enabled = True
        self.open = set()
        self.lock = threading.Lock()
        self.calls = {}  # Secrets Manager operation -> requests seen (X-Amz-Target)
        self.statuses = {}  # Secrets Manager operation -> {HTTP status: answers}
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            client, _ = self.listener.accept()
            if not self.enabled:
                client.close()
                continue
            if self.tls:
                try:
                    client.settimeout(5)
                    client = self.tls.wrap_socket(client, server_side=True)
                    client.settimeout(None)
                except (OSError, ssl.SSLError):  # a client that refuses our certificate
                    client.close()
                    continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.open.update((client, upstream))
            exchange = {"operations": [], "pending": b"", "body": 0}
            for source, target, reader in ((client, upstream, self._requests), (upstream, client, self._answers)):
                threading.Thread(target=self._pump, args=(source, target, reader, exchange), daemon=True).start()

    def _requests(self, exchange, data):
        """Counts complete `X-Amz-Target: secretsmanager.<Operation>` header lines."""
        *lines, rest = (exchange.setdefault("request", b"") + data).split(b"\r\n")
        exchange["request"] = rest[-4096:]
        for line in lines:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"x-amz-target":
                operation = value.strip().decode(errors="replace").rpartition(".")[2]
                with self.lock:
                    self.calls[operation] = self.calls.get(operation, 0) + 1
                    exchange["operations"].append(operation)

    def _answers(self, exchange, data):
        """Frames the answers by Content-Length and counts each one's status for its request's operation."""
        pending = exchange["pending"] + data
        while True:
            if exchange["body"]:
                taken = min(exchange["body"], len(pending))
                exchange["body"] -= taken
                pending = pending[taken:]
                if exchange["body"]:
                    break
            end = pending.find(b"\r\n\r\n")
            if end < 0:
                break
            head, pending = pending[:end].split(b"\r\n"), pending[end + 4:]
            status = head[0].split(b" ")[1].decode()
            length = next((int(line.partition(b":")[2]) for line in head[1:]
                           if line.partition(b":")[0].strip().lower() == b"content-length"), None)
            exchange["body"] = length if length is not None else float("inf")
            with self.lock:
                operation = exchange["operations"].pop(0) if exchange["operations"] else "?"
                counts = self.statuses.setdefault(operation, {})
                counts[status] = counts.get(status, 0) + 1
        exchange["pending"] = pending

    def _pump(self, source, target, reader, exchange):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                reader(exchange, data)
                target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self):
        with self.lock:
            for end in self.open:
                try:
                    end.shutdown(socket.SHUT_RDWR)
                    end.close()
                except OSError:
                    pass
            self.open.clear()


def tls_context(folder):
    """A throwaway certificate authority and a certificate it signed for 127.0.0.1 and localhost:
    the server side of an HTTPS forwarder, and the CA file a client must be told to trust."""
    now = datetime.datetime.now(datetime.timezone.utc)

    def certificate(subject, key, issuer, issuer_key, authority, names=()):
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=authority, path_length=None), critical=True))
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    authority_key = ec.generate_private_key(ec.SECP256R1())
    authority = certificate("secrets-injector test CA", authority_key, "secrets-injector test CA", authority_key, True)
    key = ec.generate_private_key(ec.SECP256R1())
    names = (x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost"))
    leaf = certificate("127.0.0.1", key, "secrets-injector test CA", authority_key, False, names)
    pem = serialization.Encoding.PEM
    ca_file, chain_file, key_file = (os.path.join(folder, name) for name in ("ca.pem", "server.pem", "server.key"))
    with open(ca_file, "wb") as out:
        out.write(authority.public_bytes(pem))
    with open(chain_file, "wb") as out:
        out.write(leaf.public_bytes(pem))
    with open(key_file, "wb") as out:
        out.write(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain_file, key_file)
    return context, ca_file


class CredentialHandler(BaseHTTPRequestHandler):
    """GET /creds/<role>: the role's STS credentials, with the ECS endpoint's shape."""
    server_version = "FakeECSAgent/1.0"
    roles = {}
    route = None
    token = ""
    requests_served = 0

    def log_message(self, *args):
        pass

    def _send(self, status, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        CredentialHandler.requests_served += 1
        if self.path == "/control/calls":
            with self.route.lock:
                return self._send(200, json.dumps(self.route.calls))
        if self.path == "/control/statuses":
            with self.route.lock:
                return self._send(200, json.dumps(self.route.statuses))
        if self.path == "/control/calls-reset":
            with self.route.lock:
                self.route.calls = {}
                self.route.statuses = {}
            return self._send(200, "{}")
        if self.path in ("/control/route-off", "/control/route-on"):
            self.route.enabled = self.path.endswith("on")
            if not self.route.enabled:
                self.route.cut()
            return self._send(200, '{"route": %s}' % ("true" if self.route.enabled else "false"))
        if self.headers.get("Authorization") != self.token:
            return self._send(401, '{"message":"bad token"}')
        name = self.path.rsplit("/", 1)[-1]
        if name == "fail500":
            return self._send(500, '{"message":"agent failure"}')
        if name == "garbage":
            return self._send(200, "<html>this is not credentials</html>")
        if name not in self.roles:
            return self._send(404, '{"message":"no such role"}')
        creds = self.roles[name]
        self._send(200, json.dumps({
            "AccessKeyId": creds["AccessKeyId"],
            "SecretAccessKey": creds["SecretAccessKey"],
            "Token": creds["SessionToken"],
            "Expiration": creds["Expiration"].astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/{name}",
        }))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hold", type=float, default=900, help="seconds to run at most")
    parser.add_argument("--replica", metavar="REGION",
                        help="also a second moto_server standing for REGION, seeded with the same names and other "
                             "values (no signature checks): replicaEndpoint, replicaRegion, replicaSecrets")
    args = parser.parse_args()
    replica = None

    port = free_port()
    # Unsigned set-up calls: each role's create + policy + AssumeRole, the secrets, and the admin user
    # the tests rotate secrets with (create, policy, access key), plus room for botocore's retries
    # of a call moto answered with a transient error (several moto servers starting at once on a
    # busy machine); what is left of the budget is spent below before anyone is told we are ready.
    setup_calls = 3 * len(ROLES) + len(PIPELINE_PULSE) + 3
    retry_room = 12
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT=str(setup_calls + retry_room), MOTO_ACCOUNT_ID=ACCOUNT)
    log = tempfile.NamedTemporaryFile(prefix="moto-", suffix=".log", delete=False)
    moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port(port, moto)
        endpoint = f"http://127.0.0.1:{port}"
        setup = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="setup",
                     aws_secret_access_key="setup", config=Config(retries={"mode": "standard", "total_max_attempts": 3}))
        iam = boto3.client("iam", **setup)
        sts = boto3.client("sts", **setup)
        sm = boto3.client("secretsmanager", **setup)

        trust = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]})
        for role, actions in ROLES.items():
            created(iam.create_role, RoleName=role, AssumeRolePolicyDocument=trust)
            iam.put_role_policy(RoleName=role, PolicyName="read-secrets", PolicyDocument=json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
        for name, value in PIPELINE_PULSE.items():
            created(sm.create_secret, Name=name, SecretString=json.dumps(value))
        created(iam.create_user, UserName="rotation-admin")
        iam.put_user_policy(UserName="rotation-admin", PolicyName="all", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        admin = iam.create_access_key(UserName="rotation-admin")["AccessKey"]
        roles = {}
        for role in ROLES:
            roles[role] = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}",
                                          RoleSessionName="secrets-injector-test")["Credentials"]

        # Spend what is left of the budget, and so prove verification is on: a call signed with
        # unknown keys is refused within it, and a call signed with the task role's keys is accepted.
        unsigned = boto3.client("secretsmanager", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="setup",
                                aws_secret_access_key="setup", config=Config(retries={"total_max_attempts": 1}))
        for _ in range(retry_room + 1):
            try:
                unsigned.list_secrets()
            except botocore.exceptions.ClientError:
                break
        else:
            sys.exit("moto accepted a call signed with unknown keys: signature verification is off")
        task = roles["pipeline-pulse-task"]
        signed = boto3.client("secretsmanager", endpoint_url=endpoint, region_name=REGION,
                              aws_access_key_id=task["AccessKeyId"], aws_secret_access_key=task["SecretAccessKey"],
                              aws_session_token=task["SessionToken"])
        signed.describe_secret(SecretId="pipeline-pulse/prod/jwt")

        route = Route(port)
        tls_folder = tempfile.mkdtemp(prefix="tls-")
        tls, tls_ca = tls_context(tls_folder)
        tls_route = Route(port, tls)
        CredentialHandler.route = route
        CredentialHandler.roles = roles
        CredentialHandler.token = "ecs-agent-token-" + random_tokens.token_hex(8)
        agent = ThreadingHTTPServer(("127.0.0.1", 0), CredentialHandler)
        agent.daemon_threads = True
        threading.Thread(target=agent.serve_forever, daemon=True).start()
        token_file = tempfile.NamedTemporaryFile("w", prefix="ecs-token-", delete=False)
        token_file.write(CredentialHandler.token)
        token_file.close()

        ready = {
            "endpoint": endpoint,
            "region": REGION,
            "credentials": f"http://127.0.0.1:{agent.server_address[1]}/creds/",
            "credentialsLocalhost": f"http://localhost:{agent.server_address[1]}/creds/",
            "token": CredentialHandler.token,
            "tokenFile": token_file.name,
            "secrets": {name: json.dumps(value) for name, value in PIPELINE_PULSE.items()},
            "motoLog": log.name,
            # Secrets Manager through a forwarder the tests can cut (GET /control/route-off, -on).
            "routedEndpoint": f"http://127.0.0.1:{route.port}",
            # Secrets Manager over HTTPS, with a certificate from a CA only tlsCABundle names.
            "tlsEndpoint": f"https://127.0.0.1:{tls_route.port}",
            "tlsCABundle": tls_ca,
            "control": f"http://127.0.0.1:{agent.server_address[1]}/control/",
            "adminAccessKeyId": admin["AccessKeyId"],
            "adminSecretAccessKey": admin["SecretAccessKey"],
        }
        if args.replica:
            replica_port = free_port()
            replica = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(replica_port)],
                                       env=dict(os.environ, MOTO_ACCOUNT_ID=ACCOUNT), stdout=subprocess.DEVNULL,
                                       stderr=subprocess.STDOUT, start_new_session=True)
            wait_for_port(replica_port, replica)
            replica_endpoint = f"http://127.0.0.1:{replica_port}"
            in_replica = boto3.client("secretsmanager", endpoint_url=replica_endpoint, region_name=args.replica,
                                      aws_access_key_id="replica", aws_secret_access_key="replica")
            replica_values = {}
            for name, value in PIPELINE_PULSE.items():
                value = dict(value)
                for key in value:
                    if isinstance(value[key], str):
                        value[key] = "replica-" + value[key]
                replica_values[name] = json.dumps(value)
                in_replica.create_secret(Name=name, SecretString=replica_values[name])
            ready.update(replicaEndpoint=replica_endpoint, replicaRegion=args.replica, replicaSecrets=replica_values)
        print(json.dumps(ready), flush=True)
        stopper = threading.Thread(target=sys.stdin.read, daemon=True)
        stopper.start()
        stopper.join(timeout=args.hold)
        agent.shutdown()
        os.unlink(token_file.name)
        shutil.rmtree(tls_folder)
    finally:
        stop_servers([server for server in (moto, replica) if server])
        os.unlink(log.name)


if __name__ == "__main__":
    main()
