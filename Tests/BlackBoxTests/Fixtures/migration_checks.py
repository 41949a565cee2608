"""The peers' side of MigrationTests: python-dotenv, botocore and jsonschema judge what migrate
and scan wrote. Prints JSON or one word; never a value.

    migration_checks.py dotenv OLD_TASK_DEFINITION CONTAINER FILE...   # names equal / differing
    migration_checks.py register TASK_DEFINITION                       # botocore's validation
    migration_checks.py versions NAME...                               # version ids per secret
    migration_checks.py sarif FILE SCHEMA                              # SARIF 2.1.0 schema, GitHub's rules
"""
import json
import os
import re
import sys


def github_sarif_problems(document):
    """What GitHub code scanning requires of an uploaded SARIF file beyond the schema ("SARIF support
    for code scanning"): the required properties, non-empty; every result under a rule of the run,
    with one to ten locations, a line, and `partialFingerprints`; every `uri` a relative reference
    under a `uriBaseId` the run declares in `originalUriBaseIds`, inside it (no `..`), since code
    scanning matches it against the repository's files."""
    problems = []

    def text(value, limit=None):
        return isinstance(value, str) and value != "" and (limit is None or len(value) <= limit)

    def check_location(where, location, bases):
        physical = location.get("physicalLocation", {})
        artifact = physical.get("artifactLocation", {})
        uri = artifact.get("uri")
        if not text(uri):
            problems.append(where + ": no artifactLocation.uri")
            return
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", uri) or uri.startswith("/"):
            problems.append(where + ": uri is not relative: " + uri)
        if any(segment in ("", ".", "..") for segment in uri.split("/")):
            problems.append(where + ": uri leaves or repeats its base: " + uri)
        if artifact.get("uriBaseId") not in bases:
            problems.append(where + ": uriBaseId not in the run's originalUriBaseIds")
        region = physical.get("region")
        if region is not None and not (isinstance(region.get("startLine"), int) and region["startLine"] >= 1):
            problems.append(where + ": region without a startLine")

    if document.get("version") != "2.1.0" or not text(document.get("$schema")):
        problems.append("$schema and version 2.1.0 are required")
    runs = document.get("runs") or []
    if not runs:
        problems.append("no run")
    for number, run in enumerate(runs):
        driver = run.get("tool", {}).get("driver", {})
        if not text(driver.get("name")):
            problems.append("run %d: tool.driver.name is required" % number)
        rules = driver.get("rules", [])
        ids = [rule.get("id") for rule in rules]
        if len(set(ids)) != len(ids):
            problems.append("run %d: rule ids repeat" % number)
        for rule in rules:
            where = "rule " + str(rule.get("id"))
            if not text(rule.get("id")):
                problems.append(where + ": id is required")
            if "name" in rule and not text(rule["name"], 255):
                problems.append(where + ": name empty or over 255 characters")
            for field in ("shortDescription", "fullDescription"):
                if not text(rule.get(field, {}).get("text"), 1024):
                    problems.append(where + ": %s.text required, at most 1024 characters" % field)
            if not text(rule.get("help", {}).get("text")):
                problems.append(where + ": help.text is required")
            level = rule.get("defaultConfiguration", {}).get("level", "warning")
            if level not in ("note", "warning", "error"):
                problems.append(where + ": defaultConfiguration.level " + str(level))
        bases = set((run.get("originalUriBaseIds") or {}).keys())
        for index, result in enumerate(run.get("results", [])):
            where = "result %d" % index
            if result.get("ruleId") not in ids:
                problems.append(where + ": ruleId not among the run's rules")
            elif result.get("ruleIndex", -1) != -1 and not (  # -1: SARIF's "no index given"
                    type(result["ruleIndex"]) is int and 0 <= result["ruleIndex"] < len(ids)
                    and ids[result["ruleIndex"]] == result["ruleId"]):
                problems.append(where + ": ruleIndex is not the index of its ruleId among the rules")
            if not text(result.get("message", {}).get("text")):
                problems.append(where + ": message.text is required")
            if result.get("level", "warning") not in ("none", "note", "warning", "error"):
                problems.append(where + ": level " + str(result.get("level")))
            fingerprints = result.get("partialFingerprints")
            if not fingerprints or not all(text(value) for value in fingerprints.values()):
                problems.append(where + ": partialFingerprints are required")
            locations = result.get("locations") or []
            if not 1 <= len(locations) <= 10:
                problems.append(where + ": one to ten locations are required")
            for location in locations:
                if "region" not in location.get("physicalLocation", {}):
                    problems.append(where + ": a location without a region (startLine)")
                check_location(where, location, bases)
        for invocation in run.get("invocations", []):
            for index, notification in enumerate(invocation.get("toolExecutionNotifications", [])):
                for location in notification.get("locations", []):
                    check_location("notification %d" % index, location, bases)
    return problems


def main():
    command, arguments = sys.argv[1], sys.argv[2:]
    if command == "dotenv":
        from dotenv import dotenv_values
        document = json.load(open(arguments[0], encoding="utf-8"))
        definition = document.get("taskDefinition", document)
        container = next(c for c in definition["containerDefinitions"] if c["name"] == arguments[1])
        old = {entry["name"]: entry.get("value", "") for entry in container.get("environment", [])}
        read = {}
        for path in arguments[2:]:
            read.update(dotenv_values(path, interpolate=False))
        print(json.dumps({
            "equal": sorted(name for name, value in read.items() if name in old and old[name] == value),
            "differs": sorted(name for name, value in read.items() if name in old and old[name] != value),
            "unknown": sorted(name for name in read if name not in old),
        }))
    elif command == "register":
        import botocore.session
        from botocore.validate import validate_parameters
        session = botocore.session.get_session()
        model = session.get_service_model("ecs").operation_model("RegisterTaskDefinition")
        try:
            validate_parameters(json.load(open(arguments[0], encoding="utf-8")), model.input_shape)
            print("valid")
        except Exception as error:  # ParamValidationError names the parameter, not its value
            print(type(error).__name__ + ": " + str(error).splitlines()[0])
    elif command == "versions":
        import boto3
        client = boto3.client(
            "secretsmanager", endpoint_url=os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"],
            region_name=os.environ["AWS_REGION"], aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"])
        print(json.dumps({name: {
            "versions": len(client.list_secret_version_ids(SecretId=name)["Versions"]),
            "description": client.describe_secret(SecretId=name).get("Description", ""),
            "tags": {tag["Key"]: tag["Value"] for tag in client.describe_secret(SecretId=name).get("Tags", [])},
        } for name in arguments}))
    elif command == "sarif":
        import jsonschema
        schema = json.load(open(arguments[1], encoding="utf-8"))
        document = json.load(open(arguments[0], encoding="utf-8"))
        try:
            jsonschema.validators.validator_for(schema)(schema).validate(document)
        except jsonschema.ValidationError as error:
            print("invalid: " + error.message.splitlines()[0] + " at " + "/".join(map(str, error.absolute_path)))
            return
        problems = github_sarif_problems(document)
        print("invalid for GitHub: " + "; ".join(problems) if problems else "valid")
    else:
        sys.exit("unknown command " + command)


main()
