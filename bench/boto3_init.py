#!/usr/bin/env python3
"""The reference for `scripts/bench init`: what a team writes instead of the injector. Task-role
credentials from the ECS endpoint (botocore's container provider), then each Pipeline Pulse secret
with GetSecretValue, written atomically (temporary file, fsync, 0440, rename) into OUTDIR.

    boto3_init.py OUTDIR
"""
import os
import sys
import tempfile

import boto3

out = sys.argv[1]
client = boto3.client("secretsmanager")
for name in ("database", "zoho", "currency", "jwt"):
    value = client.get_secret_value(SecretId=f"pipeline-pulse/prod/{name}")["SecretString"]
    fd, temporary = tempfile.mkstemp(dir=out)
    os.write(fd, value.encode())
    os.fsync(fd)
    os.fchmod(fd, 0o440)
    os.close(fd)
    os.rename(temporary, os.path.join(out, f"{name}.json"))
