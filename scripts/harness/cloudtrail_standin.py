#!/usr/bin/env python3
"""A CloudTrail `LookupEvents` stand-in on loopback (moto has no LookupEvents), for `review access`.

It answers as CloudTrail's event history does: AWS JSON 1.1 (`X-Amz-Target:
com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents`, `Content-Type:
application/x-amz-json-1.1`), a SigV4 `Authorization` header required, exactly one lookup attribute
(only `EventSource` here), events inside StartTime..EndTime and the last 90 days, most recent first,
pages of at most 50 with a `NextToken` valid only with the same parameters, `ThrottlingException`
(HTTP 400) above two requests a second per account, and `AccessDeniedException` for the access
key of `--deny-role`. Each event's `CloudTrailEvent` is the record as a JSON string, shaped as
CloudTrail's record of a Secrets Manager call.

The records are seeded relative to now, naming the Pipeline Pulse secrets of the moto server
that scripts/harness/aws_peers.py started (their ARNs are read from it with the admin keys):

    --scenario findings  the task role's reads (ECS task-id session names; most through a VPC
                         endpoint, some not), a stranger role's read, an IAM user's read, a denied
                         read, a batch read, a secret nobody read (jwt), >50 events, one event older
                         than 90 days, and Secrets Manager calls that are not reads
    --scenario clean     only the task role, through a VPC endpoint, reading every secret

Environment: AWS_ENDPOINT_URL_SECRETS_MANAGER, ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY (the
peers' admin keys), and with --deny-role: CREDENTIALS_URL and CREDENTIALS_TOKEN (the peers' fake
ECS credential endpoint). Prints one JSON line when ready ({"endpoint", "control", "secrets"}),
then serves until stdin closes. GET /control/requests: every request's arrival time (monotonic
seconds) and what each was answered.
"""
import argparse
import base64
import datetime
import hashlib
import json
import os
import sys
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3

REGION = "ap-southeast-1"
ACCOUNT = "123456789012"
TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"
TASK_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ecs/pipeline-pulse-task"  # with a path, as roles may have
VPCE = "vpce-0a1b2c3d4e5f60718"
SDK_AGENT = "secrets-injector/1.0 (Linux; x86_64)"


def iso(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def task_id(n):
    return hashlib.md5(f"task-{n}".encode()).hexdigest()


def assumed_role(role_arn, session):
    name = role_arn.rsplit("/", 1)[-1]
    return {
        "type": "AssumedRole", "principalId": f"AROAEXAMPLEROLEID:{session}",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/{session}", "accountId": ACCOUNT,
        "accessKeyId": "ASIAEXAMPLEKEY",
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEROLEID", "arn": role_arn,
                              "accountId": ACCOUNT, "userName": name},
            "attributes": {"creationDate": "2026-01-01T00:00:00Z", "mfaAuthenticated": "false"},
        },
    }


def iam_user(name):
    return {"type": "IAMUser", "principalId": "AIDAEXAMPLEUSERID", "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
            "accountId": ACCOUNT, "accessKeyId": "AKIAEXAMPLEKEY", "userName": name}


def record(when, name, identity, request, source_ip, agent, vpce=None, error=None, response=None, read_only=True):
    """A CloudTrail record of a Secrets Manager call (eventVersion 1.09 envelope)."""
    event = {
        "eventVersion": "1.09", "userIdentity": identity, "eventTime": iso(when),
        "eventSource": "secretsmanager.amazonaws.com", "eventName": name, "awsRegion": REGION,
        "sourceIPAddress": source_ip, "userAgent": agent, "requestParameters": request,
        "responseElements": response, "requestID": str(uuid.uuid4()), "eventID": str(uuid.uuid4()),
        "readOnly": read_only, "eventType": "AwsApiCall", "managementEvent": True,
        "recipientAccountId": ACCOUNT, "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                       "clientProvidedHostHeader": f"secretsmanager.{REGION}.amazonaws.com"},
    }
    if vpce:
        event["vpcEndpointId"] = vpce
        event["vpcEndpointAccountId"] = ACCOUNT
    if error:
        event["errorCode"], event["errorMessage"] = error
    return event


def seed(scenario, arns, now):
    """The records, with CloudTrail's summary fields beside each."""
    names = {name.rsplit("/", 1)[-1]: name for name in arns}  # database, zoho, currency, jwt
    events = []

    def add(hours_ago, name, identity, request, source_ip, agent, **extra):
        events.append(record(now - datetime.timedelta(hours=hours_ago), name, identity, request, source_ip, agent,
                             **extra))

    def partial(arn):
        return arn[:-7]  # without the random suffix

    task = lambda n: assumed_role(TASK_ROLE, task_id(n))
    if scenario == "clean":
        for n in range(60):
            secret = list(names.values())[n % 4]
            add(2 + n * 3, "GetSecretValue", task(n % 5), {"secretId": secret}, "10.0.1.23", SDK_AGENT, vpce=VPCE)
        for n in range(5):
            add(1 + n * 7, "DescribeSecret", task(n), {"secretId": names["database"]}, "10.0.1.23", SDK_AGENT,
                vpce=VPCE)
        return events

    database, zoho, currency, jwt = (names[key] for key in ("database", "zoho", "currency", "jwt"))
    # The task role: the database secret by name, by full ARN and by partial ARN, through the VPC endpoint.
    for n in range(30):
        form = [database, arns[database], partial(arns[database])][n % 3]
        add(1 + n * 5, "GetSecretValue", task(n % 6), {"secretId": form}, "10.0.1.23", SDK_AGENT, vpce=VPCE)
    for n in range(12):
        add(3 + n * 11, "GetSecretValue", task(n % 6), {"secretId": zoho}, "10.0.1.23", SDK_AGENT, vpce=VPCE)
    # ...and a few reads from a task outside the VPC endpoint's reach (through a NAT gateway).
    for n in range(4):
        add(5 + n * 13, "GetSecretValue", task(40 + n), {"secretId": database}, "54.251.10.20", SDK_AGENT)
    # A batch read by the task role: the batch's own record, and one GetSecretValue record per secret.
    add(26, "BatchGetSecretValue", task(7), {"secretIdList": [currency, zoho]}, "10.0.1.23", SDK_AGENT, vpce=VPCE)
    for secret in (currency, zoho):
        add(26, "GetSecretValue", task(7), {"secretId": arns[secret]}, "10.0.1.23", SDK_AGENT, vpce=VPCE)
    # A batch by filters (names no secret).
    add(27, "BatchGetSecretValue", task(8), {"filters": [{"key": "tag-key", "values": ["team"]}]}, "10.0.1.23",
        SDK_AGENT, vpce=VPCE)
    # A stranger role (with a path) and an IAM user read secrets.
    stranger = assumed_role(f"arn:aws:iam::{ACCOUNT}:role/service-role/data-export", "export-2026")
    add(50, "GetSecretValue", stranger, {"secretId": arns[database]}, "203.0.113.7", "aws-cli/2.15.0 Python/3.11")
    add(75, "GetSecretValue", stranger, {"secretId": database}, "203.0.113.7", "aws-cli/2.15.0 Python/3.11")
    add(60, "GetSecretValue", iam_user("alice"), {"secretId": zoho}, "198.51.100.4", "Boto3/1.34.0 Python/3.12")
    # A denied read of the jwt secret, which nobody reads.
    add(30, "GetSecretValue", assumed_role(f"arn:aws:iam::{ACCOUNT}:role/ci-deployer", "gha-run-42"),
        {"secretId": jwt}, "192.0.2.10", "aws-sdk-js/3.500.0",
        error=("AccessDeniedException",
               f"User: arn:aws:sts::{ACCOUNT}:assumed-role/ci-deployer/gha-run-42 is not authorized to perform: "
               f"secretsmanager:GetSecretValue on resource: {jwt} because no identity-based policy allows the "
               "secretsmanager:GetSecretValue action"))
    # A read that failed otherwise is no read.
    add(31, "GetSecretValue", task(9), {"secretId": jwt, "versionStage": "AWSPENDING"}, "10.0.1.23", SDK_AGENT,
        vpce=VPCE, error=("ResourceNotFoundException", "Secrets Manager can't find the specified secret value"))
    # Calls that are not reads: DescribeSecret, ListSecrets, and a change recorded with the old `aRN` key.
    for n in range(8):
        add(2 + n * 9, "DescribeSecret", task(n), {"secretId": jwt}, "10.0.1.23", SDK_AGENT, vpce=VPCE)
    add(4, "ListSecrets", task(1), {"filters": [{"key": "name", "values": ["pipeline-pulse/"]}]}, "10.0.1.23",
        SDK_AGENT, vpce=VPCE)
    add(90, "PutSecretValue", iam_user("rotation-admin"), {"secretId": jwt}, "198.51.100.9", "aws-cli/2.15.0",
        response={"aRN": arns[jwt], "name": jwt, "versionId": str(uuid.uuid4())}, read_only=False)
    # Older than CloudTrail's 90 days: never returned.
    add(24 * 120, "GetSecretValue", task(3), {"secretId": jwt}, "10.0.1.23", SDK_AGENT, vpce=VPCE)
    return events


class State:
    lock = threading.Lock()
    events = []  # (epoch seconds, summary event), most recent first
    arrivals = []  # monotonic seconds of every request
    answers = []  # what each request was answered: "page", "throttled", "denied", "rejected: <code>"
    tokens = {}  # NextToken -> (parameters, offset)
    denied_keys = set()
    throttle_requests = set()  # request numbers (1-based) answered with ThrottlingException once


class Handler(BaseHTTPRequestHandler):
    server_version = "CloudTrailStandIn/1.0"

    def log_message(self, *args):
        pass

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, code, message, answer=None, status=400):
        with State.lock:
            State.answers.append(answer or f"rejected: {code}")
        self._send(status, {"__type": code, "message": message})

    def do_GET(self):
        if self.path == "/control/requests":
            with State.lock:
                return self._send(200, {"arrivals": State.arrivals, "answers": State.answers})
        self._send(404, {"message": "not found"})

    def do_POST(self):
        arrived = time.monotonic()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with State.lock:
            State.arrivals.append(arrived)
            number = len(State.arrivals)
            recent = [t for t in State.arrivals[:-1] if arrived - t < 1.0]
        if self.headers.get("X-Amz-Target") != TARGET:
            return self._error("UnknownOperationException", f"unknown X-Amz-Target {self.headers.get('X-Amz-Target')}")
        if self.headers.get("Content-Type") != "application/x-amz-json-1.1":
            return self._error("SerializationException", "Content-Type must be application/x-amz-json-1.1")
        authorization = self.headers.get("Authorization") or ""
        if not authorization.startswith("AWS4-HMAC-SHA256 Credential="):
            return self._error("MissingAuthenticationTokenException", "Request is missing Authentication Token")
        scope = authorization.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        if len(scope) != 5 or scope[3] != "cloudtrail" or scope[2] != REGION or not self.headers.get("X-Amz-Date"):
            return self._error("InvalidSignatureException", f"credential scope {'/'.join(scope[1:])} is not cloudtrail's")
        # Two requests a second per account and region (every request counts, as it arrives).
        if len(recent) >= 2:
            return self._error("ThrottlingException", "Rate exceeded", "throttled")
        if number in State.throttle_requests:
            State.throttle_requests.discard(number)
            return self._error("ThrottlingException", "Rate exceeded", "throttled")
        if scope[0] in State.denied_keys:
            return self._error(
                "AccessDeniedException",
                f"User: arn:aws:sts::{ACCOUNT}:assumed-role/denied/session is not authorized to perform: "
                "cloudtrail:LookupEvents because no identity-based policy allows the cloudtrail:LookupEvents action",
                "denied")
        try:
            request = json.loads(body)
        except ValueError:
            return self._error("SerializationException", "the body is not JSON")
        attributes = request.get("LookupAttributes") or []
        if len(attributes) != 1 or set(attributes[0]) != {"AttributeKey", "AttributeValue"}:
            return self._error("InvalidLookupAttributesException", "exactly one lookup attribute is allowed")
        if attributes[0]["AttributeKey"] != "EventSource":
            return self._error("InvalidLookupAttributesException", "this stand-in answers EventSource lookups only")
        start, end = request.get("StartTime"), request.get("EndTime")
        if not all(isinstance(value, (int, float)) for value in (start, end)) or start > end:
            return self._error("InvalidTimeRangeException", "StartTime and EndTime must be epoch seconds, start first")
        limit = request.get("MaxResults", 50)
        if not isinstance(limit, int) or not 1 <= limit <= 50:
            return self._error("InvalidMaxResultsException", "MaxResults must be 1 to 50")
        parameters = json.dumps([attributes, start, end, limit], sort_keys=True)
        offset = 0
        if request.get("NextToken") is not None:
            with State.lock:
                issued = State.tokens.get(request["NextToken"])
            if issued is None or issued[0] != parameters:
                return self._error("InvalidNextTokenException", "the token is not valid with these parameters")
            offset = issued[1]
        oldest = time.time() - 90 * 86400
        matching = [event for moment, event in State.events
                    if event["EventSource"] == attributes[0]["AttributeValue"]
                    and max(start, oldest) <= moment <= end]
        page = matching[offset:offset + limit]
        answer = {"Events": page}
        if offset + limit < len(matching):
            token = base64.b64encode(os.urandom(24)).decode()
            with State.lock:
                State.tokens[token] = (parameters, offset + limit)
            answer["NextToken"] = token
        with State.lock:
            State.answers.append("page")
        self._send(200, answer)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", choices=["findings", "clean"], default="findings")
    parser.add_argument("--deny-role", action="append", default=[], help="deny LookupEvents to this role's keys")
    parser.add_argument("--throttle-request", type=int, action="append", default=[],
                        help="answer the Nth request (1-based) with ThrottlingException, once")
    parser.add_argument("--hold", type=float, default=900)
    args = parser.parse_args()

    sm = boto3.client("secretsmanager", endpoint_url=os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"],
                      region_name=REGION, aws_access_key_id=os.environ["ADMIN_ACCESS_KEY_ID"],
                      aws_secret_access_key=os.environ["ADMIN_SECRET_ACCESS_KEY"])
    arns = {entry["Name"]: entry["ARN"] for entry in sm.list_secrets()["SecretList"]
            if entry["Name"].startswith("pipeline-pulse/prod/")}
    for role in args.deny_role:
        request = urllib.request.Request(os.environ["CREDENTIALS_URL"] + role,
                                         headers={"Authorization": os.environ["CREDENTIALS_TOKEN"]})
        with urllib.request.urlopen(request, timeout=10) as answer:
            State.denied_keys.add(json.load(answer)["AccessKeyId"])
    State.throttle_requests = set(args.throttle_request)

    now = datetime.datetime.now(datetime.timezone.utc)
    for event in seed(args.scenario, arns, now):
        moment = datetime.datetime.strptime(event["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
        identity = event["userIdentity"]
        State.events.append((moment, {
            "EventId": event["eventID"], "EventName": event["eventName"],
            "ReadOnly": "true" if event["readOnly"] else "false", "AccessKeyId": identity.get("accessKeyId", ""),
            "EventTime": moment, "EventSource": event["eventSource"],
            "Username": identity.get("userName") or identity.get("arn", "").rsplit("/", 1)[-1],
            "Resources": [], "CloudTrailEvent": json.dumps(event),
        }))
    State.events.sort(key=lambda pair: -pair[0])

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    print(json.dumps({"endpoint": f"http://127.0.0.1:{port}", "control": f"http://127.0.0.1:{port}/control/",
                      "secrets": arns, "events": len(State.events)}), flush=True)
    stopper = threading.Thread(target=sys.stdin.read, daemon=True)
    stopper.start()
    stopper.join(timeout=args.hold)
    server.shutdown()


if __name__ == "__main__":
    main()
