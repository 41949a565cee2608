#!/usr/bin/env python3
"""Checks the deployment artifacts the way AWS and operators would, offline.

    deploy_checks.py task-definitions   botocore's own validation of RegisterTaskDefinition input,
                                        and cross-checks (volumes, dependsOn, health check, no secret
                                        in any environment value, the injector's inline configuration)
                                        and of alarms.json (PutMetricAlarm input, on metrics the
                                        example's configuration writes)
    deploy_checks.py iam                parliament on every policy; each task-role policy lets the
                                        configuration read every secret (real ARNs included) and
                                        grants nothing it never calls
    deploy_checks.py compose            `docker-compose config` accepts docker-compose.yml
Prints one problem per line and exits 1 when there is any. `inline-configs` prints the injector's
SECRETS_INJECTOR_CONFIG of each task definition as JSON lines (for `secrets-injector check`);
`sync` writes examples/pipeline-pulse.json into the task definitions and docker-compose.yml.
"""
import fnmatch
import glob
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALARMS = os.path.join(ROOT, "task-definitions", "alarms.json")
TASKS = sorted(path for path in glob.glob(os.path.join(ROOT, "task-definitions", "*.json")) if path != ALARMS)
# The metrics the injector writes in Embedded Metric Format (README, "CloudWatch metrics").
EMF_METRICS = {"FetchSuccess", "FetchFailure", "RefreshLatency", "SecretAge", "RequestsServed", "RequestsRefused",
               "Failover"}
POLICIES = sorted(glob.glob(os.path.join(ROOT, "task-definitions", "iam", "*.json")))
INJECTOR = "secrets-injector"
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|API_?KEY|PRIVATE|CREDENTIAL)", re.I)
SECRET_VALUE = [re.compile(p) for p in (r"AKIA[0-9A-Z]{16}", r"ASIA[0-9A-Z]{16}", r"^[A-Za-z0-9+/]{40}$", r"-----BEGIN", r"^[0-9a-f]{32,}$")]


def load(path):
    with open(path) as handle:
        return json.load(handle)


def injector_config(task):
    container = next(c for c in task["containerDefinitions"] if c["name"] == INJECTOR)
    return json.loads(next(e["value"] for e in container.get("environment", []) if e["name"] == "SECRETS_INJECTOR_CONFIG"))


def check_task_definitions():
    import botocore.session
    from botocore.validate import validate_parameters

    shape = botocore.session.get_session().get_service_model("ecs").operation_model("RegisterTaskDefinition").input_shape
    example = load(os.path.join(ROOT, "examples", "pipeline-pulse.json"))
    dockerfile = open(os.path.join(ROOT, "Dockerfile")).read()
    problems = []
    for path in TASKS:
        name = os.path.basename(path)
        task = load(path)
        try:
            validate_parameters(task, shape)
        except Exception as error:  # botocore's ParamValidationError lists every problem
            problems.append(f"{name}: botocore: {error}".replace("\n", " "))
        volumes = {v["name"] for v in task.get("volumes", [])}
        containers = {c["name"]: c for c in task["containerDefinitions"]}
        if INJECTOR not in containers:
            problems.append(f"{name}: no {INJECTOR} container")
            continue
        for container in containers.values():
            for mount in container.get("mountPoints", []):
                if mount["sourceVolume"] not in volumes:
                    problems.append(f"{name}: {container['name']} mounts unknown volume {mount['sourceVolume']}")
            for dependency in container.get("dependsOn", []):
                if dependency["containerName"] not in containers:
                    problems.append(f"{name}: {container['name']} depends on unknown container {dependency['containerName']}")
            for variable in container.get("environment", []):
                if variable["name"] == "SECRETS_INJECTOR_CONFIG":
                    continue
                value = variable["value"]
                named_like_a_secret = SECRET_NAME.search(variable["name"]) and not value.startswith("/")
                if named_like_a_secret or any(p.search(value) for p in SECRET_VALUE):
                    problems.append(f"{name}: {container['name']} environment {variable['name']} looks like a secret")
            if container.get("secrets"):
                problems.append(f"{name}: {container['name']} uses ECS `secrets` (environment variables); the injector replaces them")
            if container["name"] != INJECTOR and container.get("logConfiguration", {}).get("logDriver") != "awslogs":
                problems.append(f"{name}: {container['name']} does not log with awslogs")
        injector = containers[INJECTOR]
        if not injector.get("readonlyRootFilesystem"):
            problems.append(f"{name}: the injector's root filesystem is writable")
        if injector.get("linuxParameters", {}).get("capabilities", {}).get("add"):
            problems.append(f"{name}: the injector adds capabilities it does not need")
        if injector.get("logConfiguration", {}).get("logDriver") != "awslogs":
            problems.append(f"{name}: the injector does not log with awslogs")
        if injector_config(task) != example:
            problems.append(f"{name}: SECRETS_INJECTOR_CONFIG differs from examples/pipeline-pulse.json")
        health = injector.get("healthCheck", {}).get("command", [])
        if injector["essential"]:
            if health[:2] != ["CMD", "/usr/local/bin/secrets-injector"] or health[2:] != ["health"]:
                problems.append(f"{name}: the sidecar's health check is not `secrets-injector health`")
            if "/usr/local/bin/secrets-injector" not in dockerfile:
                problems.append(f"{name}: the image has no /usr/local/bin/secrets-injector")
        expected = "HEALTHY" if injector["essential"] else "SUCCESS"
        for container in containers.values():
            if container["name"] != INJECTOR and {"containerName": INJECTOR, "condition": expected} not in container.get("dependsOn", []):
                problems.append(f"{name}: {container['name']} does not wait for the injector ({expected})")
        if task.get("taskRoleArn") == task.get("executionRoleArn"):
            problems.append(f"{name}: the task role and the execution role must differ")
        if "FARGATE" in task.get("requiresCompatibilities", []):
            if task.get("networkMode") != "awsvpc":
                problems.append(f"{name}: Fargate needs networkMode awsvpc")
            if any("dockerVolumeConfiguration" in v or "host" in v for v in task.get("volumes", [])):
                problems.append(f"{name}: Fargate supports only bind-mount (ephemeral) volumes")
    return problems


def check_alarms():
    """alarms.json: botocore's validation of each PutMetricAlarm input, on the namespace, the
    ServiceName and the secrets of the example's configuration, and metrics the injector writes."""
    import botocore.session
    from botocore.validate import validate_parameters

    shape = botocore.session.get_session().get_service_model("cloudwatch").operation_model("PutMetricAlarm").input_shape
    example = load(os.path.join(ROOT, "examples", "pipeline-pulse.json"))
    cloudwatch = example.get("metrics", {}).get("cloudwatch", {})
    secrets = {entry["id"] for entry in example["secrets"] if "id" in entry}
    problems = []
    alarms = load(ALARMS)
    for alarm in alarms:
        name = alarm.get("AlarmName", "?")
        try:
            validate_parameters(alarm, shape)
        except Exception as error:
            problems.append(f"alarms.json {name}: botocore: {error}".replace("\n", " "))
        if alarm.get("Namespace") != cloudwatch.get("namespace"):
            problems.append(f"alarms.json {name}: namespace {alarm.get('Namespace')} is not the example's {cloudwatch.get('namespace')}")
        if alarm.get("MetricName") not in EMF_METRICS:
            problems.append(f"alarms.json {name}: the injector writes no metric {alarm.get('MetricName')}")
        dimensions = {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
        if dimensions.get("ServiceName") != cloudwatch.get("serviceName"):
            problems.append(f"alarms.json {name}: ServiceName {dimensions.get('ServiceName')} is not the example's {cloudwatch.get('serviceName')}")
        expected = {"ServiceName", "SecretName"} if alarm.get("MetricName") == "SecretAge" else {"ServiceName"}
        if set(dimensions) != expected:
            problems.append(f"alarms.json {name}: dimensions {sorted(dimensions)}; the metric has {sorted(expected)}")
        if "SecretName" in dimensions and dimensions["SecretName"] not in secrets:
            problems.append(f"alarms.json {name}: {dimensions['SecretName']} is not a secret of the example")
    watched = {alarm.get("MetricName") for alarm in alarms}
    for metric in ("FetchFailure", "SecretAge", "RequestsRefused", "Failover"):
        if metric not in watched:
            problems.append(f"alarms.json: no alarm on {metric}")
    aged = {d["Value"] for a in alarms for d in a.get("Dimensions", []) if d["Name"] == "SecretName"}
    for secret in sorted(secrets - aged):
        problems.append(f"alarms.json: no SecretAge alarm for {secret}")
    return problems


def check_output_folders():
    """The injector's output folder must be one it owns and nobody else can write into (SPEC §5,
    README "The output folder"): a tmpfs with the injector's uid and no group/other write, or, for a
    bind mount (Fargate), the folder the image creates: owned by the injector, 0750, a VOLUME."""
    problems = []
    dockerfile = open(os.path.join(ROOT, "Dockerfile")).read()
    for path in TASKS:
        name = os.path.basename(path)
        task = load(path)
        injector = next(c for c in task["containerDefinitions"] if c["name"] == INJECTOR)
        uid = (injector.get("user") or "0").split(":")[0]
        mounts = {m["sourceVolume"]: m["containerPath"] for m in injector.get("mountPoints", []) if not m.get("readOnly")}
        for volume in task.get("volumes", []):
            if volume["name"] not in mounts:
                continue
            folder = mounts[volume["name"]]
            options = volume.get("dockerVolumeConfiguration", {}).get("driverOpts", {})
            if options:
                opts = dict(o.split("=", 1) for o in options.get("o", "").split(",") if "=" in o)
                mode = int(opts.get("mode", "1777"), 8)
                if opts.get("uid") != uid:
                    problems.append(f"{name}: volume {volume['name']} is not owned by the injector's uid {uid} (o={options.get('o')})")
                if mode & 0o022:
                    problems.append(f"{name}: volume {volume['name']} mode {oct(mode)} lets others write into the output folder")
            else:
                created = re.search(rf"install -d -m 0750 -o {uid} -g \d+ {re.escape(folder)}\b", dockerfile)
                declared = re.search(rf'VOLUME \["{re.escape(folder)}"\]', dockerfile)
                if not (created and declared):
                    problems.append(f"{name}: bind mount {folder}: the Dockerfile must create it owned by {uid}, mode 0750, and declare it a VOLUME (ECS makes it root-owned 0755 otherwise)")
    return problems


def check_iam():
    from parliament import analyze_policy_string

    problems = []
    for path in POLICIES:
        name = os.path.basename(path)
        findings = analyze_policy_string(open(path).read()).findings
        if name == "trust-policy.json":
            # A role's trust policy names no Resource by definition; parliament reads every policy
            # as an identity policy and says so. Every other finding counts.
            findings = [f for f in findings if f.detail != "Statement contains neither Resource nor NotResource"]
        problems += [f"{name}: parliament {f.issue}: {f.detail}" for f in findings]

    trust = load(os.path.join(ROOT, "task-definitions", "iam", "trust-policy.json"))
    for statement in trust["Statement"]:
        if statement.get("Principal") != {"Service": "ecs-tasks.amazonaws.com"}:
            problems.append("trust-policy.json: the principal must be ecs-tasks.amazonaws.com alone")
        if "aws:SourceAccount" not in statement.get("Condition", {}).get("StringEquals", {}):
            problems.append("trust-policy.json: no aws:SourceAccount condition")

    config = load(os.path.join(ROOT, "examples", "pipeline-pulse.json"))
    for path in sorted(glob.glob(os.path.join(ROOT, "task-definitions", "iam", "task-role-policy*.json"))):
        problems += check_task_role(os.path.basename(path), load(path), config)
    minimal = load(os.path.join(ROOT, "task-definitions", "iam", "task-role-policy-minimal.json"))
    if minimal["Statement"] != [{"Sid": "ReadPipelinePulseSecrets", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                                 "Resource": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:pipeline-pulse/prod/*"}]:
        problems.append("task-role-policy-minimal.json: must be exactly the migration document's policy (GetSecretValue on pipeline-pulse/prod/*)")
    return problems


REGION = "ap-southeast-1"
ACCOUNT = "123456789012"
# A real secret ARN ends in "-" and six random characters; a policy must match that form.
ARN_SUFFIX = "-Xy9AbC"


def as_list(value):
    return value if isinstance(value, list) else [value]


def allows(policy, action, resource):
    """IAM's evaluation for one action on one resource: an explicit Deny wins, then any Allow."""
    allowed = False
    for statement in policy["Statement"]:
        if any(fnmatch.fnmatchcase(action, a) for a in as_list(statement["Action"])) and \
                any(fnmatch.fnmatchcase(resource, r) for r in as_list(statement["Resource"])):
            if statement["Effect"] == "Deny":
                return False
            allowed = True
    return allowed


def check_task_role(name, policy, config):
    """The injector starts and follows rotations on the policy (README "IAM permissions"): every
    secret readable with GetSecretValue on its real ARN, ListSecrets when it discovers; any other
    read it grants covers the secrets too, and nothing is granted that the configuration never calls."""
    problems = []
    names = sorted(set([s["id"] for s in config["secrets"] if "id" in s] +
                       [e["valueFrom"].split(":")[0] for e in config.get("env", {}).get("entries", [])]))
    discovers = any("namePrefix" in s for s in config["secrets"])
    strategy = config.get("refresh", {}).get("strategy", "auto")
    used = {"secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue"}
    if strategy in ("describe", "list") or (strategy == "auto" and not discovers):
        used.add("secretsmanager:DescribeSecret")  # list falls back to describe when ListSecrets is denied
    if discovers or strategy == "list":
        used.add("secretsmanager:ListSecrets")
    granted = set()
    for statement in policy["Statement"]:
        for action in as_list(statement["Action"]):
            if "*" in action:
                problems.append(f"{name}: wildcard action {action}")
            granted.add(action)
            if action in ("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret") and "*" in as_list(statement["Resource"]):
                problems.append(f"{name}: {action} on Resource \"*\"")
    if granted - used:
        problems.append(f"{name}: grants {sorted(granted - used)}, which the configuration never calls")
    arns = [f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{secret}{ARN_SUFFIX}" for secret in names]
    for arn in arns:
        if not allows(policy, "secretsmanager:GetSecretValue", arn):
            problems.append(f"{name}: does not allow secretsmanager:GetSecretValue on {arn}: the injector cannot read it")
        if "secretsmanager:DescribeSecret" in granted and not allows(policy, "secretsmanager:DescribeSecret", arn):
            problems.append(f"{name}: grants secretsmanager:DescribeSecret but not on {arn}")
    if discovers and not allows(policy, "secretsmanager:ListSecrets", "*"):
        problems.append(f"{name}: the configuration discovers by namePrefix, which needs secretsmanager:ListSecrets on *")
    if "secretsmanager:BatchGetSecretValue" in granted and not allows(policy, "secretsmanager:BatchGetSecretValue", "*"):
        problems.append(f"{name}: secretsmanager:BatchGetSecretValue has no resource-level permissions: grant it on *")
    return problems


def check_compose():
    import yaml

    result = subprocess.run(["docker-compose", "-f", os.path.join(ROOT, "docker-compose.yml"), "config"], capture_output=True, text=True)
    if result.returncode != 0:
        return ["docker-compose.yml: " + " ".join(result.stderr.split())]
    problems = []
    readme = open(os.path.join(ROOT, "README.md")).read()
    services = yaml.safe_load(result.stdout)["services"]
    example = load(os.path.join(ROOT, "examples", "pipeline-pulse.json"))
    for name, service in services.items():
        # Every service the README's table must name, with its command and its environment keys.
        row = next((line for line in readme.splitlines() if line.startswith(f"| `{name}` |")), None)
        if row is None:
            problems.append(f"docker-compose.yml: service {name} is not in the README's table")
            continue
        command = " ".join(service.get("entrypoint", []) + service.get("command", []))
        if command and f"`{command}`" not in row:
            problems.append(f"docker-compose.yml: {name} runs `{command}`, the README says otherwise")
        for key in service.get("environment", {}):
            if key not in row:
                problems.append(f"docker-compose.yml: {name} sets {key}, not in the README's row")
        inline = service.get("environment", {}).get("SECRETS_INJECTOR_CONFIG")
        if inline and json.loads(inline) != example:
            problems.append(f"docker-compose.yml: {name}'s SECRETS_INJECTOR_CONFIG differs from examples/pipeline-pulse.json")
    return problems


def sync():
    inline = json.dumps(load(os.path.join(ROOT, "examples", "pipeline-pulse.json")), separators=(",", ":"))
    for path in TASKS:
        task = load(path)
        for container in task["containerDefinitions"]:
            for variable in container.get("environment", []):
                if variable["name"] == "SECRETS_INJECTOR_CONFIG":
                    variable["value"] = inline
        with open(path, "w") as handle:
            json.dump(task, handle, indent=2)
            handle.write("\n")
    compose_path = os.path.join(ROOT, "docker-compose.yml")
    compose = open(compose_path).read()
    compose = re.sub(r"SECRETS_INJECTOR_CONFIG: '.*'", lambda _: f"SECRETS_INJECTOR_CONFIG: '{inline}'", compose)
    open(compose_path, "w").write(compose)


def main():
    command = sys.argv[1]
    if command == "sync":
        sync()
        return
    if command == "inline-configs":
        for path in TASKS:
            print(json.dumps({"file": os.path.basename(path), "config": json.dumps(injector_config(load(path)))}))
        return
    problems = {"task-definitions": lambda: check_task_definitions() + check_output_folders() + check_alarms(),
                "iam": check_iam,
                "compose": check_compose}[command]()
    for problem in problems:
        print(problem)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
