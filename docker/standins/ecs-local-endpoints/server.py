"""Stand-in for amazon/amazon-ecs-local-container-endpoints: the paths a task's containers use.

Serves on port 80 (the compose file gives it 169.254.170.2):
  /creds                 the profile's credentials, in the ECS credentials format (the real
                         image calls STS GetSessionToken with them; moto accepts any signed call,
                         so the profile's keys are vended as they are, with its session token if
                         it has one)
  /role/NAME             the same (the real image assumes the role NAME)
  /v3, /v3/task, /v2/metadata and friends
                         task and container metadata shaped as the real image's
Reads $HOME/.aws/credentials, profile $AWS_PROFILE (default "default"); never logs a key.
"""

import configparser
import datetime
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REGION = os.environ.get("AWS_REGION", "us-east-1")


def credentials():
    profile = os.environ.get("AWS_PROFILE", "default")
    path = os.path.join(os.environ.get("HOME", "/home"), ".aws", "credentials")
    parser = configparser.RawConfigParser()
    parser.read(path)
    if not parser.has_section(profile) or not parser.has_option(profile, "aws_access_key_id"):
        return None, f"no credentials for profile {profile} in {path}"
    expiration = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    return {
        "AccessKeyId": parser.get(profile, "aws_access_key_id"),
        "SecretAccessKey": parser.get(profile, "aws_secret_access_key", fallback=""),
        "Token": parser.get(profile, "aws_session_token", fallback="local-session-token"),
        "Expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }, None


def container_metadata():
    return {
        "DockerId": os.environ.get("HOSTNAME", "local"),
        "Name": "local",
        "DockerName": "local",
        "Image": "local",
        "ImageID": "sha256:local",
        "Labels": {},
        "DesiredStatus": "RUNNING",
        "KnownStatus": "RUNNING",
        "Limits": {"CPU": 0, "Memory": 0},
        "Type": "NORMAL",
        "Networks": [{"NetworkMode": "bridge", "IPv4Addresses": ["127.0.0.1"]}],
    }


def task_metadata():
    return {
        "Cluster": "ecs-local-cluster",
        "TaskARN": f"arn:aws:ecs:{REGION}:111111111111:task/ecs-local-cluster/local",
        "Family": "local",
        "Revision": "1",
        "DesiredStatus": "RUNNING",
        "KnownStatus": "RUNNING",
        "Containers": [container_metadata()],
        "AvailabilityZone": f"{REGION}a",
    }


class Handler(BaseHTTPRequestHandler):
    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        if path == "/creds" or path.startswith("/role/"):
            body, error = credentials()
            if body is None:
                self.answer(500, {"code": "NoCredentials", "message": error})
            else:
                self.answer(200, body)
        elif path in ("/v3/task", "/v2/metadata", "/v4/task") or path.endswith("/task"):
            self.answer(200, task_metadata())
        elif path in ("/v3", "/v4") or path.startswith("/v2/metadata/") or path.startswith("/v3/"):
            self.answer(200, container_metadata())
        elif path.endswith("/stats") or path == "/v2/stats":
            self.answer(200, {})
        else:
            self.answer(404, {"code": "NotFound", "message": f"no such path {path}"})

    def log_message(self, format, *args):
        sys.stderr.write("ecs-local-endpoints: %s %s\n" % (self.command, self.path.split("?", 1)[0]))


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "80"))
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
