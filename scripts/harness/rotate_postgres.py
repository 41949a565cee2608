#!/usr/bin/env python3
"""Rotates a PostgreSQL credential in the harness's moto_server as AWS's rotation functions do
(`SecretsManagerRDSPostgreSQLRotationSingleUser` and `…MultiUser` in
aws-samples/aws-secrets-manager-rotation-lambdas), against a real PostgreSQL server:

    rotate_postgres.py single SECRET_ID [--pause SECONDS]
    rotate_postgres.py multi SECRET_ID [--pause SECONDS]

Written from reading those functions, not copied from them. What they do, and this does:
- The secret holds `engine` (`postgres` or `aurora-postgresql`), `host`, `username`, `password`,
  and optionally `port` (5432) and `dbname` (`postgres`); alternating users also `masterarn`, a
  secret with a user that may create and alter roles.
- Secrets Manager calls the function four times with one version id (the ClientRequestToken):
  1. createSecret: a copy of AWSCURRENT with a new password (GetRandomPassword, without
     `:/@"'\\`), put as AWSPENDING under that version id. Alternating users also switch the
     username between `USER` and `USER_clone`.
  2. setSecret: if the pending credential already logs in, nothing. Single user: log in as the
     current user (or the previous one) and ALTER USER its own password. Alternating users: log in
     as the master user, then CREATE ROLE the clone WITH LOGIN PASSWORD and GRANT it the current
     user's role, or ALTER USER its password when it exists.
  3. testSecret: log in with AWSPENDING and run a query.
  4. finishSecret: UpdateSecretVersionStage moves AWSCURRENT to the version (Secrets Manager
     gives the old one AWSPREVIOUS, and when the function returns, takes AWSPENDING off the new
     one; this driver does that last move too).
- What this does not do: RotateSecret itself (which makes the AWSPENDING placeholder and invokes
  the function; moto would need a Lambda runtime), the RDS replica checks, and TLS (the functions
  try TLS first and fall back; the test server has none, so `sslmode=prefer`).

Prints one JSON line per step after it has happened, {"step", "started", "at" (its end), "versionId"}
(times in epoch seconds), and
`--pause` seconds between steps stand for the function's separate invocations.
Reads AWS_ENDPOINT_URL_SECRETS_MANAGER, ADMIN_ACCESS_KEY_ID and ADMIN_SECRET_ACCESS_KEY.
"""
import argparse
import json
import os
import sys
import time
import uuid

import boto3
import psycopg
from psycopg import sql

ENGINES = ("postgres", "aurora-postgresql")
REQUIRED = ("host", "username", "password", "engine")


def credential(client, secret_id, stage, version_id=None):
    """The secret's JSON at a stage (and version), with the keys the functions require."""
    arguments = {"SecretId": secret_id, "VersionStage": stage}
    if version_id:
        arguments["VersionId"] = version_id
    value = json.loads(client.get_secret_value(**arguments)["SecretString"])
    missing = [key for key in REQUIRED if key not in value]
    if missing:
        raise KeyError(f"{secret_id} ({stage}) has no {', '.join(missing)}")
    if value["engine"] not in ENGINES:
        raise ValueError(f"{secret_id}: engine {value['engine']!r} is not postgres")
    return value


def connect(value, dbname=None):
    """A connection with the credential, or None when the server refuses it."""
    try:
        return psycopg.connect(
            host=value["host"], port=int(value.get("port", 5432)), user=value["username"],
            password=value["password"], dbname=dbname or value.get("dbname") or "postgres",
            connect_timeout=5, sslmode="prefer", autocommit=True)
    except psycopg.OperationalError:
        return None


def other_user(username):
    if username.endswith("_clone"):
        return username[: -len("_clone")]
    if len(username) + len("_clone") > 63:
        raise ValueError(f"{username}_clone would be longer than PostgreSQL's 63 characters")
    return username + "_clone"


def create_secret(client, secret_id, token, strategy):
    current = credential(client, secret_id, "AWSCURRENT")
    try:
        credential(client, secret_id, "AWSPENDING", token)
        return  # already made by an earlier attempt of this step
    except client.exceptions.ResourceNotFoundException:
        pass
    if strategy == "multi":
        current["username"] = other_user(current["username"])
    current["password"] = client.get_random_password(ExcludeCharacters=":/@\"'\\")["RandomPassword"]
    client.put_secret_value(SecretId=secret_id, ClientRequestToken=token, SecretString=json.dumps(current),
                            VersionStages=["AWSPENDING"])


def set_secret(client, secret_id, token, strategy):
    current = credential(client, secret_id, "AWSCURRENT")
    pending = credential(client, secret_id, "AWSPENDING", token)
    already = connect(pending)
    if already:
        already.close()
        return
    if pending["host"] != current["host"]:
        raise ValueError(f"the pending host {pending['host']} is not the current one")
    if strategy == "single":
        if pending["username"] != current["username"]:
            raise ValueError(f"single user: {pending['username']} is not the current user")
        conn = connect(current)
        if conn is None:
            try:
                previous = credential(client, secret_id, "AWSPREVIOUS")
            except client.exceptions.ResourceNotFoundException:
                previous = None
            if previous and previous["username"] == pending["username"]:
                conn = connect(previous)
        if conn is None:
            raise ValueError("neither the current nor the previous credential logs in")
    else:
        if pending["username"] != other_user(current["username"]):
            raise ValueError(f"alternating users: {pending['username']} is not the other user")
        check = connect(current)
        if check is None:
            raise ValueError("the current credential does not log in")
        check.close()
        master = credential(client, current["masterarn"], "AWSCURRENT")
        if master["host"] != current["host"]:
            raise ValueError("the master secret's host is not the database's")
        conn = connect(master, dbname=current.get("dbname"))
        if conn is None:
            raise ValueError("the master credential does not log in")
    with conn:
        user = sql.Identifier(pending["username"])
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (pending["username"],)).fetchone()
        if strategy == "multi" and not exists:
            conn.execute(sql.SQL("CREATE ROLE {} WITH LOGIN PASSWORD {}").format(user, sql.Literal(pending["password"])))
            conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(current["username"]), user))
        else:
            conn.execute(sql.SQL("ALTER USER {} WITH PASSWORD {}").format(user, sql.Literal(pending["password"])))


def test_secret(client, secret_id, token, strategy):
    conn = connect(credential(client, secret_id, "AWSPENDING", token))
    if conn is None:
        raise ValueError("the pending credential does not log in")
    with conn:
        conn.execute("SELECT now()")


def finish_secret(client, secret_id, token, strategy):
    stages = client.describe_secret(SecretId=secret_id)["VersionIdsToStages"]
    current = next((version for version, labels in stages.items() if "AWSCURRENT" in labels), None)
    if current != token:
        client.update_secret_version_stage(SecretId=secret_id, VersionStage="AWSCURRENT", MoveToVersionId=token,
                                           RemoveFromVersionId=current)
    # Then Secrets Manager itself, not the function, takes AWSPENDING off the version.
    client.update_secret_version_stage(SecretId=secret_id, VersionStage="AWSPENDING", RemoveFromVersionId=token)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("strategy", choices=["single", "multi"])
    parser.add_argument("secret_id")
    parser.add_argument("--pause", type=float, default=2.0,
                        help="seconds between steps, for the function's separate invocations (default 2)")
    args = parser.parse_args()
    client = boto3.client(
        "secretsmanager", endpoint_url=os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"], region_name="ap-southeast-1",
        aws_access_key_id=os.environ["ADMIN_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["ADMIN_SECRET_ACCESS_KEY"])
    token = str(uuid.uuid4())
    steps = [("createSecret", create_secret), ("setSecret", set_secret), ("testSecret", test_secret),
             ("finishSecret", finish_secret)]
    for index, (name, step) in enumerate(steps):
        if index:
            time.sleep(args.pause)
        started = time.time()
        try:
            step(client, args.secret_id, token, args.strategy)
        except Exception as error:  # one line, never a value: the messages above name keys and users only
            sys.exit(f"rotate_postgres: {name}: {type(error).__name__}: {error}")
        print(json.dumps({"step": name, "started": started, "at": time.time(), "versionId": token}), flush=True)


if __name__ == "__main__":
    main()
