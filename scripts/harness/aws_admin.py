#!/usr/bin/env python3
"""Rotates secrets in the harness's moto_server with the admin keys it reported, as a person would:

    aws_admin.py create NAME VALUE  # CreateSecret; prints its ARN
    aws_admin.py create-with NAME VALUE JSON  # CreateSecret with more of its parameters (KmsKeyId,
                                    # Tags, AddReplicaRegions…) as a JSON object; prints its ARN
    aws_admin.py resource-policy NAME POLICY  # PutResourcePolicy
    aws_admin.py put NAME VALUE     # PutSecretValue: a new AWSCURRENT version
    aws_admin.py stage NAME VALUE   # PutSecretValue under stage NEXT, then UpdateSecretVersionStage
                                    # moves AWSCURRENT to it
    aws_admin.py seed PREFIX COUNT  # CreateSecret PREFIX0 … PREFIX<COUNT-1>
    aws_admin.py policy ROLE ACTIONS  # the role's policy now allows ACTIONS (comma-separated
                                      # secretsmanager:… actions) on *, or denies everything (none)
    aws_admin.py user NAME ACTIONS  # an IAM user whose policy allows ACTIONS (comma-separated) on *;
                                    # prints its access key as JSON (AccessKeyId, SecretAccessKey)
    aws_admin.py arns PREFIX -      # the ARN of each secret whose name starts with PREFIX, one a line
    aws_admin.py key NAME DESCRIPTION  # a customer managed KMS key, made NAME's key; prints its ARN
    aws_admin.py ssm-put NAME VALUE [TYPE [LABEL]]  # PutParameter (String, SecureString or
                                      # StringList; overwrites), then LABEL on the new version; prints it
    aws_admin.py ssm-seed PREFIX COUNT  # String parameters PREFIX0 … PREFIX<COUNT-1>
Reads AWS_ENDPOINT_URL_SECRETS_MANAGER, ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY from the environment.
"""
import json
import os
import sys

import boto3

command, name, value = sys.argv[1:4]
if command.startswith("ssm-"):
    ssm = boto3.client(
        "ssm", endpoint_url=os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"], region_name="ap-southeast-1",
        aws_access_key_id=os.environ["ADMIN_ACCESS_KEY_ID"], aws_secret_access_key=os.environ["ADMIN_SECRET_ACCESS_KEY"])
    if command == "ssm-put":
        kind = sys.argv[4] if len(sys.argv) > 4 else "String"
        version = ssm.put_parameter(Name=name, Value=value, Type=kind, Overwrite=True)["Version"]
        if len(sys.argv) > 5:
            ssm.label_parameter_version(Name=name, ParameterVersion=version, Labels=[sys.argv[5]])
        print(version)
    elif command == "ssm-seed":
        for index in range(int(value)):
            ssm.put_parameter(Name=f"{name}{index}", Value=f"value-{index}", Type="String", Overwrite=True)
    else:
        sys.exit(f"unknown command {command}")
    sys.exit(0)
client = boto3.client(
    "secretsmanager", endpoint_url=os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"], region_name="ap-southeast-1",
    aws_access_key_id=os.environ["ADMIN_ACCESS_KEY_ID"], aws_secret_access_key=os.environ["ADMIN_SECRET_ACCESS_KEY"])
if command == "policy":
    iam = boto3.client(
        "iam", endpoint_url=os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"], region_name="us-east-1",
        aws_access_key_id=os.environ["ADMIN_ACCESS_KEY_ID"], aws_secret_access_key=os.environ["ADMIN_SECRET_ACCESS_KEY"])
    statement = ({"Effect": "Deny", "Action": "*", "Resource": "*"} if value == "none"
                 else {"Effect": "Allow", "Action": value.split(","), "Resource": "*"})
    iam.put_role_policy(RoleName=name, PolicyName="read-secrets",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))
elif command == "user":
    iam = boto3.client(
        "iam", endpoint_url=os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"], region_name="us-east-1",
        aws_access_key_id=os.environ["ADMIN_ACCESS_KEY_ID"], aws_secret_access_key=os.environ["ADMIN_SECRET_ACCESS_KEY"])
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="review", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": value.split(","), "Resource": "*"}]}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    print(json.dumps({"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}))
elif command == "arns":
    for page in client.get_paginator("list_secrets").paginate(Filters=[{"Key": "name", "Values": [name]}]):
        for secret in page["SecretList"]:
            print(secret["ARN"])
elif command == "key":
    kms = boto3.client(
        "kms", endpoint_url=os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"], region_name="ap-southeast-1",
        aws_access_key_id=os.environ["ADMIN_ACCESS_KEY_ID"], aws_secret_access_key=os.environ["ADMIN_SECRET_ACCESS_KEY"])
    arn = kms.create_key(Description=value)["KeyMetadata"]["Arn"]
    client.update_secret(SecretId=name, KmsKeyId=arn)
    print(arn)
elif command == "create":
    print(client.create_secret(Name=name, SecretString=value)["ARN"])
elif command == "create-with":
    print(client.create_secret(Name=name, SecretString=value, **json.loads(sys.argv[4]))["ARN"])
elif command == "resource-policy":
    client.put_resource_policy(SecretId=name, ResourcePolicy=value)
elif command == "put":
    print(client.put_secret_value(SecretId=name, SecretString=value)["VersionId"])
elif command == "seed":
    for index in range(int(value)):
        client.create_secret(Name=f"{name}{index}", SecretString=json.dumps({"index": index}))
elif command == "stage":
    new = client.put_secret_value(SecretId=name, SecretString=value, VersionStages=["NEXT"])["VersionId"]
    current = next(v for v, stages in client.describe_secret(SecretId=name)["VersionIdsToStages"].items() if "AWSCURRENT" in stages)
    client.update_secret_version_stage(SecretId=name, VersionStage="AWSCURRENT", MoveToVersionId=new, RemoveFromVersionId=current)
    print(new)
else:
    sys.exit(f"unknown command {command}")
