"""The peers' side of MigrationTests: python-dotenv, botocore and jsonschema judge what migrate
and scan wrote. Prints JSON or one word; never a value.

    migration_checks.py dotenv OLD_TASK_DEFINITION CONTAINER FILE...   # names equal / differing
    migration_checks.py register TASK_DEFINITION                       # botocore's validation
    migration_checks.py versions NAME...                               # version ids per secret
    migration_checks.py sarif FILE SCHEMA                              # SARIF 2.1.0 schema
"""
import json
import os
import sys


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
            print("valid")
        except jsonschema.ValidationError as error:
            print("invalid: " + error.message.splitlines()[0] + " at " + "/".join(map(str, error.absolute_path)))
    else:
        sys.exit("unknown command " + command)


main()
