#!/usr/bin/env python3
"""A Secrets Manager that misbehaves on purpose, on loopback, for the runbook's cases:

    fake_secretsmanager.py throttle     every call answers 400 ThrottlingException
    fake_secretsmanager.py silent       accepts connections and never answers (a timeout)
    fake_secretsmanager.py plaintext    every secret's value is plain text, not JSON
    fake_secretsmanager.py nokms        Parameter Store, to a role that may not use the SecureString
                                        key: GetParametersByPath answers AccessDeniedException
                                        (kms:Decrypt) when asked WithDecryption, the names otherwise

Prints {"port": N}, then serves until stdin closes.
"""
import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

mode = sys.argv[1]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        target = self.headers.get("X-Amz-Target", "").split(".")[-1]
        if mode == "throttle":
            return self.answer(400, {"__type": "ThrottlingException", "message": "Rate exceeded"})
        if mode == "nokms":
            if target != "GetParametersByPath":
                return self.answer(400, {"__type": "AccessDeniedException", "message": f"not authorized: ssm:{target}"})
            if body.get("WithDecryption"):
                return self.answer(400, {"__type": "AccessDeniedException", "message":
                                         "not authorized to perform: kms:Decrypt on resource: arn:aws:kms:"
                                         "ap-southeast-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"})
            return self.answer(200, {"Parameters": [
                {"Name": "/pipeline-pulse/prod/db-pass", "Type": "SecureString", "Version": 1,
                 "Value": "AQICAHhciphertext-not-a-value", "ARN": "arn:aws:ssm:ap-southeast-1:123456789012:"
                 "parameter/pipeline-pulse/prod/db-pass"}]})
        ids = body.get("SecretIdList") or [body.get("SecretId")]
        values = [{"ARN": f"arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:{name}-AbCdEf", "Name": name,
                   "VersionId": "00000000-0000-4000-8000-000000000001", "SecretString": "plain text, not JSON",
                   "VersionStages": ["AWSCURRENT"]} for name in ids]
        if target == "BatchGetSecretValue":
            return self.answer(200, {"SecretValues": values, "Errors": []})
        return self.answer(200, values[0])

    def answer(self, status, document):
        data = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


if mode == "silent":
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held = []
    threading.Thread(target=lambda: [held.append(listener.accept()) for _ in iter(int, 1)], daemon=True).start()
    print(json.dumps({"port": listener.getsockname()[1]}), flush=True)
else:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"port": server.server_address[1]}), flush=True)
sys.stdin.read()
