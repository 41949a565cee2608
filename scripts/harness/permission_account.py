#!/usr/bin/env python3
"""An AWS account for `review permissions` on loopback: a moto_server of its own (no signature
checks; IAM, Secrets Manager and KMS), with the Pipeline Pulse secrets, a task role that reads
exactly them, and with --seed findings one of each finding the review reports.

Prints one JSON line when ready (endpoint, region, account, the task role, and `details`: the
account's GetAccountAuthorizationDetails as boto3 returns it, documents decoded, in a file), then
runs until stdin closes (or --hold seconds) and stops moto.

    python3 scripts/harness/permission_account.py --seed clean
    python3 scripts/harness/permission_account.py --seed findings
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading

import boto3

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aws_peers import ACCOUNT, PIPELINE_PULSE, REGION, free_port, stop_servers, wait_for_port  # noqa: E402

OTHER_ACCOUNT = "444455556666"
KEY_ACCOUNT = "777788889999"


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def seed(endpoint, findings):
    keys = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="seed", aws_secret_access_key="seed")
    iam = boto3.client("iam", **keys)
    sm = boto3.client("secretsmanager", **keys)
    kms = boto3.client("kms", **keys)
    root = f"arn:aws:iam::{ACCOUNT}:root"
    task = f"arn:aws:iam::{ACCOUNT}:role/pipeline-pulse-task"
    trust = policy({"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"})
    for role in ["pipeline-pulse-task", "pipeline-pulse-reports"]:
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)
    iam.put_role_policy(RoleName="pipeline-pulse-reports", PolicyName="reports", PolicyDocument=policy(
        {"Effect": "Allow", "Action": ["s3:GetObject", "secretsmanager:ListSecrets"], "Resource": "*"}))

    key_arn = None
    if findings:
        # The jwt secret's customer managed key: the account's root (IAM decides), a role that may
        # decrypt but not read the secret, and another account.
        key_arn = kms.create_key(Policy=policy(
            {"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": root},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "Decrypters", "Effect": "Allow",
             "Principal": {"AWS": [task, f"arn:aws:iam::{ACCOUNT}:role/pipeline-pulse-decrypter", KEY_ACCOUNT]},
             "Action": "kms:Decrypt", "Resource": "*"}))["KeyMetadata"]["Arn"]
    arns = {}
    for name, value in PIPELINE_PULSE.items():
        extra = {"KmsKeyId": key_arn} if key_arn and name.endswith("/jwt") else {}
        arns[name] = sm.create_secret(Name=name, SecretString=json.dumps(value), **extra)["ARN"]
    iam.put_role_policy(RoleName="pipeline-pulse-task", PolicyName="read-secrets", PolicyDocument=policy(
        {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
         "Resource": sorted(arns.values())}))
    if findings:
        # A group's managed policy reaches its user: an unexpected reader.
        iam.create_group(GroupName="deployers")
        read = iam.create_policy(PolicyName="read-pipeline-pulse", PolicyDocument=policy(
            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
             "Resource": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:pipeline-pulse/*"}))["Policy"]["Arn"]
        iam.attach_group_policy(GroupName="deployers", PolicyArn=read)
        iam.create_user(UserName="ci-bot")
        iam.add_user_to_group(GroupName="deployers", UserName="ci-bot")
        # A group's inline policy reads every secret: its user reads (what cloudsplaining calls data
        # exfiltration on all resources).
        iam.create_group(GroupName="operators")
        iam.put_group_policy(GroupName="operators", PolicyName="read-all", PolicyDocument=policy(
            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}))
        iam.create_user(UserName="ops-alice")
        iam.add_user_to_group(GroupName="operators", UserName="ops-alice")
        # Everything on everything: a broad grant, and an unexpected reader.
        iam.create_role(RoleName="pipeline-pulse-admin", AssumeRolePolicyDocument=trust)
        iam.put_role_policy(RoleName="pipeline-pulse-admin", PolicyName="all", PolicyDocument=policy(
            {"Effect": "Allow", "Action": "*", "Resource": "*"}))
        # May decrypt with the jwt key, may not read the secret.
        iam.create_role(RoleName="pipeline-pulse-decrypter", AssumeRolePolicyDocument=trust)
        iam.put_role_policy(RoleName="pipeline-pulse-decrypter", PolicyName="decrypt", PolicyDocument=policy(
            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}))
        # The database secret admits another account; zoho admits anyone (under a condition).
        sm.put_resource_policy(SecretId=arns["pipeline-pulse/prod/database"], ResourcePolicy=policy(
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"},
             "Action": "secretsmanager:GetSecretValue", "Resource": "*"}))
        sm.put_resource_policy(SecretId=arns["pipeline-pulse/prod/zoho"], ResourcePolicy=policy(
            {"Effect": "Allow", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*",
             "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-0123456789abcdef0"}}}))

    # The account's details as boto3 gives them (documents decoded), for cloudsplaining.
    details = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": []}
    for page in iam.get_paginator("get_account_authorization_details").paginate():
        for name in details:
            details[name] += page.get(name, [])
    # moto leaves out a managed policy's PolicyName and PolicyId, which AWS sends and cloudsplaining reads.
    for entry in details["Policies"]:
        entry.setdefault("PolicyName", entry["Arn"].rsplit("/", 1)[-1])
        entry.setdefault("PolicyId", "ANPA" + entry["PolicyName"].upper().replace("-", "")[:17])
        entry.setdefault("PermissionsBoundaryUsageCount", 0)
    return task, arns, key_arn, details


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", choices=["clean", "findings"], required=True)
    parser.add_argument("--hold", type=float, default=900, help="seconds to run at most")
    args = parser.parse_args()
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="moto-permissions-", suffix=".log", delete=False)
    moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)],
                            env=dict(os.environ, MOTO_ACCOUNT_ID=ACCOUNT), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    folder = tempfile.mkdtemp(prefix="permission-account-")
    try:
        wait_for_port(port, moto)
        endpoint = f"http://127.0.0.1:{port}"
        task, arns, key_arn, details = seed(endpoint, args.seed == "findings")
        details_file = os.path.join(folder, "account.json")
        with open(details_file, "w") as out:
            json.dump(details, out, default=str)
        print(json.dumps({
            "endpoint": endpoint, "region": REGION, "account": ACCOUNT, "taskRole": task, "secrets": arns,
            "key": key_arn or "", "details": details_file, "folder": folder,
            "values": {name: json.dumps(value) for name, value in PIPELINE_PULSE.items()},
        }), flush=True)
        stopper = threading.Thread(target=sys.stdin.read, daemon=True)
        stopper.start()
        stopper.join(timeout=args.hold)
    finally:
        stop_servers([moto])
        os.unlink(log.name)
        subprocess.run(["rm", "-rf", folder])


if __name__ == "__main__":
    main()
