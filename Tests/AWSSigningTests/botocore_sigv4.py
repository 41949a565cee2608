"""Reference signer for the differential test: signs each request read from stdin with botocore's
SigV4Auth and writes the Authorization headers as a JSON list to stdout."""
import datetime
import json
import sys
from unittest import mock

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

cases = json.load(sys.stdin)
authorizations = []
for case in cases:
    credentials = Credentials(case["accessKeyID"], case["secretAccessKey"], case.get("sessionToken"))
    request = AWSRequest(
        method=case["method"],
        url="https://" + case["host"] + case["path"],
        data=case["body"].encode("utf-8"),
        params=[(item[0], item[1]) for item in case["query"]],
    )
    for name, value in case["headers"]:
        request.headers[name] = value  # appends: repeated names stay repeated, in order
    when = datetime.datetime.fromtimestamp(case["epochSeconds"], tz=datetime.timezone.utc)
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        SigV4Auth(credentials, case["service"], case["region"]).add_auth(request)
    authorizations.append(request.headers["Authorization"])
json.dump(authorizations, sys.stdout)
