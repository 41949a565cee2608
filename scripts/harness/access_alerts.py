#!/usr/bin/env python3
"""The access alerts of task-definitions/cloudformation (access-alerts.yaml, and the same rules in
secrets-injector.yaml) against CloudTrail-shaped Secrets Manager events, on moto's EventBridge.

Renders both templates for a sample account (the task role pipeline-pulse-task, a rotation role,
one operator role, the Pipeline Pulse secrets under pipeline-pulse/prod/ and one shared secret by
ARN), proves their rules equal, creates the rules on a moto_server (loopback, a free port) with an
SQS queue each as target, puts one synthetic event per case and reads which queues got it. Each
event also goes through a second matcher written here from EventBridge's documented semantics
(moto's TestEventPattern answers no Result: when a moto answers one, it is used as well), so a
moto quirk cannot pass a case alone.

Prints one JSON report and exits 0 when every case holds, 1 otherwise:

    python3 scripts/harness/access_alerts.py            # the report (AccessAlertTests reads it)
    python3 scripts/harness/access_alerts.py --demo     # a stranger's read and the rule it raises

moto runs every rule whatever its State; on AWS a read (a read-only management event) reaches only a
rule in state ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS, so the report also states each rule's
State from the template (`states`), which the tests assert.
"""
import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import uuid

import boto3
from botocore.config import Config

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
import deploy_checks  # noqa: E402  the templates' renderer (Stack), shared with DeploymentTests
from aws_peers import free_port, stop_servers, wait_for_port  # noqa: E402

REGION = deploy_checks.REGION
ACCOUNT = deploy_checks.ACCOUNT
FOLDER = os.path.join(ROOT, "task-definitions", "cloudformation")
STANDALONE = os.path.join(FOLDER, "access-alerts.yaml")
STACK = os.path.join(FOLDER, "secrets-injector.yaml")

TASK_ROLE = f"arn:aws:iam::{ACCOUNT}:role/pipeline-pulse-task"
ROTATION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/pipeline-pulse-rotate-database-role"
OPERATOR_ROLE = f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_PlatformOperator_0a1b2c3d4e5f6a7b"
STRANGER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/service-role/data-export"
SECRET_ARN_PREFIX = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:"
DATABASE = "pipeline-pulse/prod/database"
DATABASE_ARN = f"{SECRET_ARN_PREFIX}{DATABASE}{deploy_checks.ARN_SUFFIX}"
# A secret outside the prefix, watched because SecretArns names it (by its full ARN only).
SHARED_ARN = f"{SECRET_ARN_PREFIX}shared/prod/smtp-Qw3rTy"
OTHER_APP = "billing/prod/stripe"
OTHER_APP_ARN = f"{SECRET_ARN_PREFIX}{OTHER_APP}-Zx8CvB"

SECRET_ARNS = deploy_checks.EXAMPLE_SECRET_ARNS + [SHARED_ARN]
STANDALONE_PARAMETERS = {"TaskRoleArn": TASK_ROLE, "RotationRoleArn": ROTATION_ROLE,
                         "OperatorPrincipalArns": OPERATOR_ROLE, "SecretArns": ",".join(SECRET_ARNS),
                         "AlertEmail": "platform@example.com"}
STACK_PARAMETERS = {**deploy_checks.TEST_PARAMETERS, "RotationRoleArn": ROTATION_ROLE,
                    "OperatorPrincipalArns": OPERATOR_ROLE, "SecretArns": ",".join(SECRET_ARNS),
                    "AlertEmail": "platform@example.com"}
# The rules' logical ids, and their names as rendered for AppName pipeline-pulse.
RULES = {"SecretReadsRule": "pipeline-pulse-secret-reads", "SecretDeniedRule": "pipeline-pulse-secret-denied",
         "SecretRotationFailedRule": "pipeline-pulse-secret-rotation-failed",
         "SecretProtectionRule": "pipeline-pulse-secret-protection"}
READ_RULES = ["SecretReadsRule", "SecretDeniedRule"]
PATTERN_LIMIT = 4096  # EventBridge's maximum EventPattern length (PutRule, AWS::Events::Rule)


# -- CloudTrail records, in the shapes AWS documents (userIdentity, requestParameters, service events)

def assumed_role(role_arn, session):
    name = role_arn.rsplit("/", 1)[1]
    return {"type": "AssumedRole", "principalId": f"AROAEXAMPLEROLEID:{session}",
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/{session}", "accountId": ACCOUNT,
            "accessKeyId": "ASIAEXAMPLEKEYID0001",
            "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEROLEID",
                                                 "arn": role_arn, "accountId": ACCOUNT, "userName": name},
                               "attributes": {"creationDate": "2026-12-06T08:00:00Z", "mfaAuthenticated": "false"}}}


def iam_user(name, console=False):
    identity = {"type": "IAMUser", "principalId": "AIDAEXAMPLEUSERID01", "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
                "accountId": ACCOUNT, "accessKeyId": "AKIAEXAMPLEKEYID0001", "userName": name}
    if console:  # a console session: attributes, no session issuer
        identity["sessionContext"] = {"attributes": {"creationDate": "2026-12-06T08:00:00Z", "mfaAuthenticated": "true"}}
    return identity


ROOT_USER = {"type": "Root", "principalId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:root", "accountId": ACCOUNT,
             "accessKeyId": "ASIAEXAMPLEKEYID0002"}
TASK = assumed_role(TASK_ROLE, "1f0e2d3c4b5a69788796a5b4c3d2e1f0")
ROTATION = assumed_role(ROTATION_ROLE, "pipeline-pulse-rotate-database")
OPERATOR = assumed_role(OPERATOR_ROLE, "alice@example.com")
STRANGER = assumed_role(STRANGER_ROLE, "export-2026")


def api_call(name, identity, parameters, read_only=True, error=None, response=None):
    record = {"eventVersion": "1.09", "userIdentity": identity, "eventTime": "2026-12-06T09:15:02Z",
              "eventSource": "secretsmanager.amazonaws.com", "eventName": name, "awsRegion": REGION,
              "sourceIPAddress": "203.0.113.7", "userAgent": "aws-cli/2.22.0",
              "requestParameters": parameters, "responseElements": response,
              "requestID": str(uuid.uuid4()), "eventID": str(uuid.uuid4()), "readOnly": read_only,
              "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": ACCOUNT,
              "eventCategory": "Management",
              "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                             "clientProvidedHostHeader": f"secretsmanager.{REGION}.amazonaws.com"}}
    if error:
        record["errorCode"], record["errorMessage"] = error
    return "AWS API Call via CloudTrail", record


def denied(identity, secret_id, action="GetSecretValue"):
    return ("AccessDeniedException",
            f"User: {identity['arn']} is not authorized to perform: secretsmanager:{action} on resource: {secret_id} "
            f"because no identity-based policy allows the secretsmanager:{action} action")


def rotation_failed(secret_arn):
    return "AWS Service Event via CloudTrail", {
        "eventVersion": "1.09", "userIdentity": {"accountId": ACCOUNT, "invokedBy": "secretsmanager.amazonaws.com"},
        "eventTime": "2026-12-06T09:20:00Z", "eventSource": "secretsmanager.amazonaws.com",
        "eventName": "RotationFailed", "awsRegion": REGION, "sourceIPAddress": "secretsmanager.amazonaws.com",
        "userAgent": "secretsmanager.amazonaws.com",
        "errorMessage": f"Error when executing lambda arn:aws:lambda:{REGION}:{ACCOUNT}:function:pipeline-pulse-rotate-database during setSecret step",
        "requestParameters": None, "responseElements": None, "additionalEventData": {"SecretId": secret_arn},
        "requestID": f"Rotation-{secret_arn}-{uuid.uuid4()}", "eventID": str(uuid.uuid4()), "readOnly": False,
        "eventType": "AwsServiceEvent", "managementEvent": True, "recipientAccountId": ACCOUNT,
        "eventCategory": "Management"}


POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::210987654321:root"},
                                                             "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]})
NEW_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"

# Each case: the event, and the rules it must raise (none: silent).
CASES = {
    "task-role-read-by-name": (api_call("GetSecretValue", TASK, {"secretId": DATABASE}), []),
    "task-role-batch-read": (api_call("BatchGetSecretValue", TASK, {"secretIdList": [DATABASE, "pipeline-pulse/prod/jwt"]}), []),
    "rotation-role-read-by-arn": (api_call("GetSecretValue", ROTATION, {"secretId": DATABASE_ARN, "versionStage": "AWSPENDING"}), []),
    "operator-read": (api_call("GetSecretValue", OPERATOR, {"secretId": DATABASE}), []),
    "stranger-read-by-arn": (api_call("GetSecretValue", STRANGER, {"secretId": DATABASE_ARN}), ["SecretReadsRule"]),
    "stranger-read-by-name": (api_call("GetSecretValue", STRANGER, {"secretId": "pipeline-pulse/prod/zoho"}), ["SecretReadsRule"]),
    "stranger-read-by-partial-arn": (api_call("GetSecretValue", STRANGER, {"secretId": f"{SECRET_ARN_PREFIX}{DATABASE}"}), ["SecretReadsRule"]),
    "stranger-batch-read": (api_call("BatchGetSecretValue", STRANGER, {"secretIdList": ["billing/prod/stripe", DATABASE_ARN]}), ["SecretReadsRule"]),
    # A batch by filters names no secret: its envelope raises nothing; the GetSecretValue that
    # Secrets Manager logs for each secret it returns does (stranger-read-by-arn's shape).
    "stranger-batch-read-by-filters": (api_call("BatchGetSecretValue", STRANGER, {"filters": [{"key": "tag-key", "values": ["app"]}]}), []),
    "stranger-read-of-listed-arn": (api_call("GetSecretValue", STRANGER, {"secretId": SHARED_ARN}), ["SecretReadsRule"]),
    "iam-user-read": (api_call("GetSecretValue", iam_user("mallory"), {"secretId": DATABASE}), ["SecretReadsRule"]),
    "console-iam-user-read": (api_call("GetSecretValue", iam_user("mallory", console=True), {"secretId": DATABASE}), ["SecretReadsRule"]),
    "root-read": (api_call("GetSecretValue", ROOT_USER, {"secretId": DATABASE_ARN}), ["SecretReadsRule"]),
    "stranger-denied-read": (api_call("GetSecretValue", STRANGER, {"secretId": DATABASE}, error=denied(STRANGER, DATABASE)), ["SecretDeniedRule"]),
    "task-role-denied-read": (api_call("GetSecretValue", TASK, {"secretId": DATABASE_ARN}, error=denied(TASK, DATABASE_ARN)), ["SecretDeniedRule"]),
    "rotation-failed": (rotation_failed(DATABASE_ARN), ["SecretRotationFailedRule"]),
    "put-resource-policy": (api_call("PutResourcePolicy", OPERATOR, {"secretId": DATABASE, "resourcePolicy": POLICY, "blockPublicPolicy": True},
                                     read_only=False, response={"arn": DATABASE_ARN, "name": DATABASE}), ["SecretProtectionRule"]),
    # The shape some events had before February 2024: the ARN as responseElements.aRN.
    "put-resource-policy-aRN": (api_call("PutResourcePolicy", STRANGER, {"secretId": DATABASE_ARN, "resourcePolicy": POLICY},
                                         read_only=False, response={"aRN": DATABASE_ARN, "name": DATABASE}), ["SecretProtectionRule"]),
    "delete-resource-policy": (api_call("DeleteResourcePolicy", STRANGER, {"secretId": DATABASE}, read_only=False,
                                        response={"arn": DATABASE_ARN, "name": DATABASE}), ["SecretProtectionRule"]),
    "delete-secret": (api_call("DeleteSecret", OPERATOR, {"secretId": DATABASE, "recoveryWindowInDays": 7}, read_only=False,
                               response={"arn": DATABASE_ARN, "name": DATABASE, "deletionDate": "Dec 13, 2026 9:15:02 AM"}), ["SecretProtectionRule"]),
    "remove-regions-from-replication": (api_call("RemoveRegionsFromReplication", OPERATOR, {"secretId": DATABASE_ARN, "removeReplicaRegions": ["ap-south-1"]},
                                                 read_only=False, response={"aRN": DATABASE_ARN}), ["SecretProtectionRule"]),
    "update-secret-new-kms-key": (api_call("UpdateSecret", STRANGER, {"secretId": DATABASE, "kmsKeyId": NEW_KEY}, read_only=False,
                                           response={"arn": DATABASE_ARN, "name": DATABASE}), ["SecretProtectionRule"]),
    "update-secret-description": (api_call("UpdateSecret", OPERATOR, {"secretId": DATABASE, "description": "Pipeline Pulse database"},
                                           read_only=False, response={"arn": DATABASE_ARN, "name": DATABASE}), []),
    "other-app-read": (api_call("GetSecretValue", STRANGER, {"secretId": OTHER_APP_ARN}), []),
    "other-app-read-by-name": (api_call("GetSecretValue", iam_user("mallory"), {"secretId": OTHER_APP}), []),
    "other-app-denied-read": (api_call("GetSecretValue", STRANGER, {"secretId": OTHER_APP}, error=denied(STRANGER, OTHER_APP)), []),
    "other-app-rotation-failed": (rotation_failed(OTHER_APP_ARN), []),
    "other-app-put-resource-policy": (api_call("PutResourcePolicy", STRANGER, {"secretId": OTHER_APP, "resourcePolicy": POLICY},
                                               read_only=False, response={"arn": OTHER_APP_ARN, "name": OTHER_APP}), []),
}


# -- EventBridge's documented matching, for the operators the rules use ---------------------------

MISSING = object()


def field(event, path):
    node = event
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return MISSING
        node = node[key]
    return node


def leaf_matches(value, condition):
    """One condition of a leaf's list against a present scalar value."""
    if isinstance(condition, dict):
        (operator, argument), = condition.items()
        if operator == "prefix":
            return isinstance(value, str) and value.startswith(argument)
        if operator == "anything-but":
            excluded = argument if isinstance(argument, list) else [argument]
            return value not in excluded
        raise ValueError(f"no model of {operator}")
    return value == condition


def matches(pattern, event, path=()):
    """A pattern object against the event: every key must match; `$or` one of its branches; a leaf
    (a list) matches when the field is present and one of its conditions holds for the value (or for
    one element of an array value), except `exists: false`, which matches the absent field only."""
    for key, node in pattern.items():
        if key == "$or":
            if not any(matches(branch, event, path) for branch in node):
                return False
        elif isinstance(node, dict):
            if not matches(node, event, path + (key,)):
                return False
        else:
            value = field(event, path + (key,))
            held = False
            for condition in node:
                if isinstance(condition, dict) and "exists" in condition:
                    held = (value is not MISSING and not isinstance(value, dict)) == condition["exists"]
                elif value is MISSING or isinstance(value, dict):
                    held = False
                elif isinstance(value, list):
                    held = any(leaf_matches(item, condition) for item in value)
                else:
                    held = leaf_matches(value, condition)
                if held:
                    break
            if not held:
                return False
    return True


# -- the templates -------------------------------------------------------------------------------

def rendered_rules(path, parameters):
    stack = deploy_checks.Stack(deploy_checks.load_template(path), parameters)
    return stack.resources("AWS::Events::Rule")


def compare_templates():
    """The standalone template's rules against the stack's, rendered for the same deployment."""
    standalone = rendered_rules(STANDALONE, STANDALONE_PARAMETERS)
    stack = rendered_rules(STACK, STACK_PARAMETERS)
    differences = []
    for name in sorted(set(standalone) | set(stack)):
        if name not in standalone or name not in stack:
            differences.append(f"{name}: only in {'the stack' if name in stack else 'access-alerts.yaml'}")
            continue
        for key in ("EventPattern", "State", "Name", "Description"):
            if standalone[name].get(key) != stack[name].get(key):
                where, left, right = deploy_checks.first_difference(standalone[name].get(key), stack[name].get(key))
                differences.append(f"{name}.{key}.{where}: access-alerts.yaml has {json.dumps(left)[:200]}, "
                                   f"secrets-injector.yaml has {json.dumps(right)[:200]}")
    return standalone, differences


def pattern_lengths():
    """Each rule's EventPattern length (compact JSON) for a large deployment: 10 secrets by ARN
    outside the prefix, and 6 operators by their (long) SSO role ARNs."""
    arns = [f"{SECRET_ARN_PREFIX}team-shared/production/service-{n:02d}-credentials-AbCdEf" for n in range(10)]
    operators = [f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Operator{n}_0a1b2c3d4e5f6a7b"
                 for n in range(6)]
    large = rendered_rules(STANDALONE, {**STANDALONE_PARAMETERS, "SecretArns": ",".join(arns),
                                        "OperatorPrincipalArns": ",".join(operators)})
    return {name: len(json.dumps(rule["EventPattern"], separators=(",", ":"))) for name, rule in large.items()}


# -- moto ----------------------------------------------------------------------------------------

def run_on_moto(rules, endpoint):
    """Each rule on moto's default bus with a queue of its own; each case's event put once; which
    queues received which case (by the event's detail.eventID)."""
    client = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="alerts",
                  aws_secret_access_key="alerts", config=Config(retries={"mode": "standard", "total_max_attempts": 3}))
    events = boto3.client("events", **client)
    sqs = boto3.client("sqs", **client)
    queues = {}
    for name, rule in rules.items():
        events.put_rule(Name=rule["Name"], EventPattern=json.dumps(rule["EventPattern"]), State=rule["State"],
                        Description=rule["Description"])
        url = sqs.create_queue(QueueName=rule["Name"])["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_targets(Rule=rule["Name"], Targets=[{"Id": "queue", "Arn": arn}])
        queues[name] = url
    stored = {name: events.describe_rule(Name=rule["Name"])["State"] for name, rule in rules.items()}
    by_event = {}
    for case, ((detail_type, record), _) in CASES.items():
        by_event[record["eventID"]] = case
        answer = events.put_events(Entries=[{"Source": "aws.secretsmanager", "DetailType": detail_type,
                                             "Detail": json.dumps(record)}])
        if answer["FailedEntryCount"]:
            sys.exit(f"put_events refused {case}: {answer['Entries']}")
    delivered = {case: [] for case in CASES}
    envelopes = {}
    for name, url in queues.items():
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            if not messages:
                break
            for message in messages:
                event = json.loads(message["Body"])
                case = by_event[event["detail"]["eventID"]]
                delivered[case].append(name)
                envelopes[case] = event
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    # moto's TestEventPattern: used when it answers a Result (moto 5.2 answers none).
    tested = {}
    for case, ((detail_type, record), _) in CASES.items():
        event = envelope(detail_type, record)
        results = []
        for name, rule in rules.items():
            answer = events.test_event_pattern(EventPattern=json.dumps(rule["EventPattern"]), Event=json.dumps(event))
            if "Result" not in answer:
                tested = None
                break
            if answer["Result"]:
                results.append(name)
        if tested is None:
            break
        tested[case] = sorted(results)
    return delivered, envelopes, stored, tested


def envelope(detail_type, record):
    """The EventBridge event CloudTrail's record becomes."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": detail_type, "source": "aws.secretsmanager",
            "account": ACCOUNT, "time": record["eventTime"], "region": REGION, "resources": [], "detail": record}


def start_moto():
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="moto-", suffix=".log", delete=False)
    moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)],
                            env=dict(os.environ, MOTO_ACCOUNT_ID=ACCOUNT), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    wait_for_port(port, moto)
    return moto, log, f"http://127.0.0.1:{port}"


def stop_moto(moto, log):
    stop_servers([moto])
    log.close()
    os.unlink(log.name)


def run_on_own_moto(rules):
    """run_on_moto against a moto server of its own, stopped however the run ends."""
    moto, log, endpoint = start_moto()
    try:
        return run_on_moto(rules, endpoint)
    finally:
        stop_moto(moto, log)


def report():
    rules, differences = compare_templates()
    delivered, envelopes, stored, tested = run_on_own_moto(rules)
    cases = {}
    for case, ((detail_type, record), expected) in CASES.items():
        event = envelopes.get(case) or envelope(detail_type, record)
        independent = sorted(name for name, rule in rules.items() if matches(rule["EventPattern"], copy.deepcopy(event)))
        entry = {"expected": sorted(expected), "delivered": sorted(delivered[case]), "matched": independent}
        if tested is not None:
            entry["testEventPattern"] = tested[case]
        entry["ok"] = entry["delivered"] == entry["expected"] == entry["matched"] == entry.get("testEventPattern", entry["expected"])
        cases[case] = entry
    lengths = pattern_lengths()
    states = {name: rule["State"] for name, rule in rules.items()}
    ok = (not differences and all(entry["ok"] for entry in cases.values())
          and all(states[name] == "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS" for name in READ_RULES)
          and all(length < PATTERN_LIMIT for length in lengths.values()) and set(rules) == set(RULES))
    return {"ok": ok, "templateDifferences": differences, "rules": {name: rule["Name"] for name, rule in rules.items()},
            "states": states, "motoStates": stored, "patternLengths": lengths, "patternLimit": PATTERN_LIMIT,
            "testEventPattern": tested is not None, "cases": cases}


def demo():
    rules, _ = compare_templates()
    delivered, envelopes, _, _ = run_on_own_moto(rules)
    case = "stranger-read-by-arn"
    record = envelopes[case]["detail"]
    issuer = record["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"]
    print(f"CloudTrail: {record['eventName']} of {record['requestParameters']['secretId']}")
    print(f"  by {record['userIdentity']['arn']} (role {issuer}) from {record['sourceIPAddress']}")
    for name in delivered[case]:
        print(f"EventBridge rule {rules[name]['Name']} ({rules[name]['State']}) matched it: an alert to the SNS topic")
    silent = [c for c in ("task-role-read-by-name", "rotation-role-read-by-arn", "operator-read") if not delivered[c]]
    print(f"The task role's, the rotation function's and the operator's reads raised none ({len(silent)} of 3 silent)")
    return bool(delivered[case]) and len(silent) == 3


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--demo", action="store_true", help="a few human lines: a stranger's read and the rule it raises")
    args = parser.parse_args()
    if args.demo:
        sys.exit(0 if demo() else 1)
    result = report()
    print(json.dumps(result, indent=2, sort_keys=True))
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
