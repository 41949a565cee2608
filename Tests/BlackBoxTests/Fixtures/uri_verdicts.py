#!/usr/bin/env python3
"""For each AWS_CONTAINER_CREDENTIALS_FULL_URI form in a JSON list (argv[2]): botocore's own verdict
(ContainerMetadataFetcher._validate_allowed_url) and the secrets-injector binary's (argv[1] `get`,
refused = exit 2 naming the variable). Meant to run inside its own network namespace
(`unshare --net`), where nothing the binary tries can leave. Prints one JSON object."""
import json
import subprocess
import sys

from botocore.utils import ContainerMetadataFetcher

binary, cases = sys.argv[1], json.load(open(sys.argv[2]))
fetcher = ContainerMetadataFetcher()
verdicts = {}
for uri in cases:
    try:
        fetcher._validate_allowed_url(uri)
        botocore = "allowed"
    except ValueError:
        botocore = "refused"
    env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": uri, "AWS_CONTAINER_AUTHORIZATION_TOKEN": "t",
           "AWS_REGION": "ap-southeast-1", "AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:9/",
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_MAX_ATTEMPTS": "1"}
    result = subprocess.run([binary, "get", "app/secret"], env=env, capture_output=True, text=True, timeout=60)
    refused = result.returncode == 2 and "AWS_CONTAINER_CREDENTIALS_FULL_URI" in result.stderr
    verdicts[uri] = {"botocore": botocore, "ours": "refused" if refused else "allowed",
                     "exit": result.returncode, "stderr": result.stderr.strip()}
print(json.dumps(verdicts))
