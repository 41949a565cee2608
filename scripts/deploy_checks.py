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
    deploy_checks.py cloudformation [TEMPLATE]
                                        the CloudFormation template (task-definitions/cloudformation)
                                        rendered with test parameters: equal to the task definitions,
                                        the policies and alarms.json, and through the same checks
    deploy_checks.py compose            `docker-compose config` accepts docker-compose.yml
    deploy_checks.py render [NAME=VALUE ...]
                                        the template's resources rendered with these parameters (the
                                        rest at their defaults) as JSON, for tests to read; a value
                                        its Rules or parameter declarations refuse is one line, exit 1
Prints one problem per line and exits 1 when there is any. `inline-configs` prints the injector's
SECRETS_INJECTOR_CONFIG of each task definition as JSON lines (for `secrets-injector check`);
`sync` writes examples/pipeline-pulse.json into the task definitions, docker-compose.yml and the
template's InjectorConfig default.
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
# The metrics the injector writes in Embedded Metric Format (docs/operations.md, "CloudWatch metrics").
EMF_METRICS = {"FetchSuccess", "FetchFailure", "RefreshLatency", "SecretAge", "RequestsServed", "RequestsRefused",
               "Failover"}
POLICIES = sorted(glob.glob(os.path.join(ROOT, "task-definitions", "iam", "*.json")))
INJECTOR = "secrets-injector"
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|API_?KEY|PRIVATE|CREDENTIAL)", re.I)
SECRET_VALUE = [re.compile(p) for p in (r"AKIA[0-9A-Z]{16}", r"ASIA[0-9A-Z]{16}", r"^[A-Za-z0-9+/]{40}$", r"-----BEGIN", r"^[0-9a-f]{32,}$")]


def load(path):
    with open(path) as handle:
        return json.load(handle)


def installs(container):
    """The exec layout's init container: it copies the binary into a shared volume (`install DIR`)."""
    return container.get("command", [])[:1] == ["install"]


def runs_exec(container):
    """The exec layout's app container: its entryPoint is the installed binary's `exec --`."""
    entry = container.get("entryPoint", [])
    return len(entry) >= 2 and entry[0].endswith("/secrets-injector") and entry[1] == "exec"


def injector_config(task):
    container = next(c for c in task["containerDefinitions"] if c["name"] == INJECTOR)
    if installs(container):  # exec: the configuration goes with the app, where exec reads it
        container = next(c for c in task["containerDefinitions"] if runs_exec(c))
    return json.loads(next(e["value"] for e in container.get("environment", []) if e["name"] == "SECRETS_INJECTOR_CONFIG"))


def task_files():
    return [(os.path.basename(path), load(path)) for path in TASKS]


def check_task_definitions(tasks=None):
    import botocore.session
    from botocore.validate import validate_parameters

    shape = botocore.session.get_session().get_service_model("ecs").operation_model("RegisterTaskDefinition").input_shape
    example = load(os.path.join(ROOT, "examples", "pipeline-pulse.json"))
    dockerfile = open(os.path.join(ROOT, "Dockerfile")).read()
    problems = []
    for name, task in tasks or task_files():
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
            # `install` may write as root into the volume ECS creates root-owned, with no capability.
            dropped_all = container.get("linuxParameters", {}).get("capabilities", {}).get("drop") == ["ALL"]
            if (container.get("user") or "0").split(":")[0] in ("0", "root") and not (installs(container) and dropped_all):
                problems.append(f"{name}: {container['name']} runs as root")
        injector = containers[INJECTOR]
        if not injector.get("readonlyRootFilesystem"):
            problems.append(f"{name}: the injector's root filesystem is writable")
        if injector.get("linuxParameters", {}).get("capabilities", {}).get("add"):
            problems.append(f"{name}: the injector adds capabilities it does not need")
        if injector.get("logConfiguration", {}).get("logDriver") != "awslogs":
            problems.append(f"{name}: the injector does not log with awslogs")
        if installs(injector):
            # exec's configuration is the app's own (its env entries, its exec section): the same
            # secrets as the example, and an app container that runs exec.
            if not any(runs_exec(c) for c in containers.values()):
                problems.append(f"{name}: the injector installs itself, but no container's entryPoint runs its exec")
            elif [s.get("id") for s in injector_config(task)["secrets"]] != [s.get("id") for s in example["secrets"]]:
                problems.append(f"{name}: exec's configuration names other secrets than examples/pipeline-pulse.json")
        elif injector_config(task) != example:
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


def check_alarms(alarms=None, label="alarms.json"):
    """alarms.json (or the alarms a template renders): botocore's validation of each PutMetricAlarm
    input, on the namespace, the ServiceName and the secrets of the example's configuration, and
    metrics the injector writes."""
    import botocore.session
    from botocore.validate import validate_parameters

    shape = botocore.session.get_session().get_service_model("cloudwatch").operation_model("PutMetricAlarm").input_shape
    example = load(os.path.join(ROOT, "examples", "pipeline-pulse.json"))
    cloudwatch = example.get("metrics", {}).get("cloudwatch", {})
    secrets = {entry["id"] for entry in example["secrets"] if "id" in entry}
    problems = []
    alarms = load(ALARMS) if alarms is None else alarms
    for alarm in alarms:
        name = alarm.get("AlarmName", "?")
        try:
            validate_parameters(alarm, shape)
        except Exception as error:
            problems.append(f"{label} {name}: botocore: {error}".replace("\n", " "))
        if alarm.get("Namespace") != cloudwatch.get("namespace"):
            problems.append(f"{label} {name}: namespace {alarm.get('Namespace')} is not the example's {cloudwatch.get('namespace')}")
        if alarm.get("MetricName") not in EMF_METRICS:
            problems.append(f"{label} {name}: the injector writes no metric {alarm.get('MetricName')}")
        dimensions = {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
        if dimensions.get("ServiceName") != cloudwatch.get("serviceName"):
            problems.append(f"{label} {name}: ServiceName {dimensions.get('ServiceName')} is not the example's {cloudwatch.get('serviceName')}")
        expected = {"ServiceName", "SecretName"} if alarm.get("MetricName") == "SecretAge" else {"ServiceName"}
        if set(dimensions) != expected:
            problems.append(f"{label} {name}: dimensions {sorted(dimensions)}; the metric has {sorted(expected)}")
        if "SecretName" in dimensions and dimensions["SecretName"] not in secrets:
            problems.append(f"{label} {name}: {dimensions['SecretName']} is not a secret of the example")
    watched = {alarm.get("MetricName") for alarm in alarms}
    for metric in ("FetchFailure", "SecretAge", "RequestsRefused", "Failover"):
        if metric not in watched:
            problems.append(f"{label}: no alarm on {metric}")
    aged = {d["Value"] for a in alarms for d in a.get("Dimensions", []) if d["Name"] == "SecretName"}
    for secret in sorted(secrets - aged):
        problems.append(f"{label}: no SecretAge alarm for {secret}")
    return problems


def check_output_folders(tasks=None):
    """The injector's output folder must be one it owns and nobody else can write into
    (docs/outputs.md, "The output folder"): a tmpfs with the injector's uid and no group/other write, or, for a
    bind mount (Fargate) or a disk-backed Docker volume, the folder the image creates: owned by the
    injector, 0750, a VOLUME. It must hold the files as long as the app runs
    (docs/deploying.md, "A tmpfs volume does not outlive its last container"): Docker unmounts a
    tmpfs volume, contents and all, when its last container stops, so an init
    container's volume is disk-backed; the sidecar, which keeps it mounted, gets the tmpfs (memory
    only); a Docker volume is task-scoped, deleted with the task."""
    problems = []
    dockerfile = open(os.path.join(ROOT, "Dockerfile")).read()
    for name, task in tasks or task_files():
        injector = next(c for c in task["containerDefinitions"] if c["name"] == INJECTOR)
        if installs(injector):
            # exec: the injector's volume holds the binary, not secrets; the secrets' folder is the
            # app's (exec writes it as the app's user), a tmpfs that lives as long as the app.
            injector = next(c for c in task["containerDefinitions"] if runs_exec(c))
        uid = (injector.get("user") or "0").split(":")[0]
        mounts = {m["sourceVolume"]: m["containerPath"] for m in injector.get("mountPoints", []) if not m.get("readOnly")}
        for volume in task.get("volumes", []):
            if volume["name"] not in mounts:
                continue
            folder = mounts[volume["name"]]
            docker = volume.get("dockerVolumeConfiguration")
            options = (docker or {}).get("driverOpts", {})
            tmpfs = options.get("type") == "tmpfs"
            if docker is not None and docker.get("scope") != "task":
                problems.append(f"{name}: volume {volume['name']} is not task-scoped: the secrets would outlive the task")
            if tmpfs and not injector["essential"]:
                problems.append(f"{name}: volume {volume['name']} is a tmpfs, unmounted with its contents when the init container exits: "
                                "the app would start on an empty folder (a disk-backed task volume, without driverOpts, or the sidecar)")
            if docker is not None and not tmpfs and injector["essential"]:
                problems.append(f"{name}: volume {volume['name']} puts the sidecar's secrets on the instance's disk: "
                                "a tmpfs keeps them in memory, mounted while the sidecar runs")
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
                    problems.append(f"{name}: volume {volume['name']} at {folder}: the Dockerfile must create it owned by {uid}, mode 0750, and declare it a VOLUME (ECS makes it root-owned 0755 otherwise)")
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
    """The injector starts and follows rotations on the policy (docs/deploying.md, "IAM permissions"): every
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
    if discovers or strategy in ("list", "auto"):
        used.add("secretsmanager:ListSecrets")  # auto lists named secrets that share a prefix, when allowed
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


TEMPLATE = os.path.join(ROOT, "task-definitions", "cloudformation", "secrets-injector.yaml")
INTRINSICS = ["Ref", "Sub", "If", "Equals", "Not", "And", "Or", "Select", "Split", "Join", "GetAtt", "Condition",
              "Base64", "FindInMap", "GetAZs", "ImportValue", "Contains"]
NO_VALUE = object()


def load_template(path):
    """The template as CloudFormation reads it: the short forms (`!Ref`, `!Sub` …) as their long forms."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def constructor(tag):
        def construct(loader, node):
            if isinstance(node, yaml.ScalarNode):
                value = loader.construct_scalar(node)
            elif isinstance(node, yaml.SequenceNode):
                value = loader.construct_sequence(node, deep=True)
            else:
                value = loader.construct_mapping(node, deep=True)
            if tag in ("Ref", "Condition"):
                return {tag: value}
            if tag == "GetAtt" and isinstance(value, str):
                value = value.split(".", 1)
            return {f"Fn::{tag}": value}
        return construct

    for tag in INTRINSICS:
        Loader.add_constructor(f"!{tag}", constructor(tag))
    with open(path) as handle:
        return yaml.load(handle, Loader)


class Stack:
    """The template rendered as CloudFormation would deploy it with `parameters` (the rest at their
    defaults) in REGION and ACCOUNT: its Rules' assertions checked (a ValueError with the
    AssertDescription, as CloudFormation refuses the stack), conditions evaluated, resources whose
    condition is false left out, every intrinsic function resolved. Refs and attributes of the template's own resources take
    the values CloudFormation gives them (a role's name and ARN, a log group's name and ARN)."""

    def __init__(self, template, parameters=None):
        self.template = template
        self.parameters = {}
        for name, declaration in template.get("Parameters", {}).items():
            value = (parameters or {}).get(name, declaration.get("Default"))
            if value is None:
                raise ValueError(f"parameter {name} has no value and no default")
            value = str(value)
            if "AllowedValues" in declaration and value not in [str(v) for v in declaration["AllowedValues"]]:
                raise ValueError(f"parameter {name}: {value} is not one of its AllowedValues")
            if "AllowedPattern" in declaration and not re.fullmatch(declaration["AllowedPattern"], value):
                raise ValueError(f"parameter {name}: {value} does not match its AllowedPattern")
            if declaration["Type"] == "CommaDelimitedList":
                value = value.split(",")
            elif declaration["Type"] == "Number":
                value = int(value) if re.fullmatch(r"-?[0-9]+", value) else float(value)
            self.parameters[name] = value
        for name in parameters or {}:
            if name not in self.parameters:
                raise ValueError(f"the template has no parameter {name}")
        self.pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
                       "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "secrets-injector", "AWS::NoValue": NO_VALUE}
        self.conditions = {}
        for rule in template.get("Rules", {}).values():
            if "RuleCondition" in rule and not self.resolve(rule["RuleCondition"]):
                continue
            for assertion in rule["Assertions"]:
                if not self.resolve(assertion["Assert"]):
                    raise ValueError(assertion.get("AssertDescription", "a rule's assertion fails"))

    def condition(self, name):
        if name not in self.conditions:
            self.conditions[name] = bool(self.resolve(self.template["Conditions"][name]))
        return self.conditions[name]

    def included(self, name):
        condition = self.template["Resources"][name].get("Condition")
        return condition is None or self.condition(condition)

    def resources(self, kind=None):
        return {name: self.resolve(resource.get("Properties", {}))
                for name, resource in self.template["Resources"].items()
                if (kind is None or resource["Type"] == kind) and self.included(name)}

    def ref(self, name):
        if name in self.parameters:
            return self.parameters[name]
        if name in self.pseudo:
            return self.pseudo[name]
        resource = self.template["Resources"][name]
        properties = self.resolve(resource.get("Properties", {}))
        return {"AWS::IAM::Role": lambda: properties["RoleName"],
                "AWS::Logs::LogGroup": lambda: properties["LogGroupName"],
                "AWS::ECS::TaskDefinition": lambda: f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{properties['Family']}:1",
                "AWS::SNS::Topic": lambda: f"arn:aws:sns:{REGION}:{ACCOUNT}:{properties['TopicName']}",
                "AWS::Events::Rule": lambda: properties["Name"],
                "AWS::KMS::Key": lambda: f"{name.lower()}-0000-0000-0000-000000000000",
                }[resource["Type"]]()

    def attribute(self, name, attribute):
        resource = self.template["Resources"][name]
        if attribute != "Arn":
            raise ValueError(f"no model of {name}.{attribute}")
        if resource["Type"] == "AWS::IAM::Role":
            return f"arn:aws:iam::{ACCOUNT}:role/{self.ref(name)}"
        if resource["Type"] == "AWS::Logs::LogGroup":
            return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{self.ref(name)}:*"
        if resource["Type"] == "AWS::Events::Rule":
            return f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{self.ref(name)}"
        if resource["Type"] == "AWS::KMS::Key":
            return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{self.ref(name)}"
        raise ValueError(f"no model of {name}.Arn")

    def substitute(self, text, variables):
        def replace(match):
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name:
                return str(self.attribute(*name.split(".", 1)))
            value = self.ref(name)
            if isinstance(value, list):
                raise ValueError(f"Fn::Sub of the list {name}")
            return str(value)
        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def resolve(self, node):
        if isinstance(node, list):
            return [value for value in (self.resolve(item) for item in node) if value is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, argument), = node.items()
            if key == "Ref":
                return self.ref(argument)
            if key == "Condition":
                return self.condition(argument)
            if key == "Fn::If":
                name, then, otherwise = argument
                return self.resolve(then if self.condition(name) else otherwise)
            if key == "Fn::Sub":
                text, variables = (argument, {}) if isinstance(argument, str) else argument
                return self.substitute(text, {k: self.resolve(v) for k, v in variables.items()})
            if key == "Fn::GetAtt":
                return self.attribute(*argument)
            if key.startswith("Fn::"):
                values = self.resolve(argument)
                if key == "Fn::Equals":
                    return str(values[0]) == str(values[1])
                if key == "Fn::Not":
                    return not values[0]
                if key == "Fn::And":
                    return all(values)
                if key == "Fn::Or":
                    return any(values)
                if key == "Fn::Contains":
                    return str(values[1]) in [str(value) for value in values[0]]
                if key == "Fn::Select":
                    return values[1][int(values[0])]
                if key == "Fn::Split":
                    return values[1].split(values[0])
                if key == "Fn::Join":
                    return values[0].join(str(value) for value in values[1])
                raise ValueError(f"no model of {key}")
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}


# The values a test deployment of the template takes: the JSON files' account, region and topic,
# and the example's secrets by ARN (the template's default SecretAccess).
EXAMPLE_SECRET_ARNS = [f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:pipeline-pulse/prod/{name}{ARN_SUFFIX}"
                       for name in ("database", "zoho", "currency", "jwt")]
TEST_PARAMETERS = {"AlarmTopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:pipeline-pulse-alerts",
                   "SecretArns": ",".join(EXAMPLE_SECRET_ARNS)}
# task-definitions/iam's policies are the prefix form (the migration document's policy).
PREFIX = {"SecretAccess": "prefix"}
# Each JSON task definition and the parameters that render it.
RENDERINGS = {"init-container.json": {"Mode": "init", "LaunchType": "EC2"},
              "sidecar.json": {"Mode": "sidecar", "LaunchType": "EC2"},
              "fargate.json": {"Mode": "sidecar", "LaunchType": "FARGATE"}}
# Map-valued properties: their keys are data, not property names.
DATA_KEYS = {"Options", "DriverOpts", "DockerLabels", "Labels", "SystemControls"}


def api_shape(properties):
    """A CloudFormation property tree in the API's spelling (RegisterTaskDefinition: camelCase)."""
    if isinstance(properties, list):
        return [api_shape(item) for item in properties]
    if not isinstance(properties, dict):
        return properties
    return {key[0].lower() + key[1:]: value if key in DATA_KEYS else api_shape(value)
            for key, value in properties.items()}


def statements(policy):
    """A policy's statements without their Sids, every Action and Resource as a sorted list."""
    normalized = []
    for statement in policy["Statement"]:
        statement = {key: value for key, value in statement.items() if key != "Sid"}
        for key in ("Action", "Resource"):
            if key in statement:
                statement[key] = sorted(as_list(statement[key]))
        normalized.append(statement)
    return sorted(normalized, key=lambda statement: json.dumps(statement, sort_keys=True))


def first_difference(left, right, path=""):
    """The first path at which two JSON values differ, and the two values there."""
    if isinstance(left, dict) and isinstance(right, dict):
        for key in sorted(set(left) | set(right)):
            if left.get(key) != right.get(key):
                return first_difference(left.get(key), right.get(key), f"{path}.{key}" if path else key)
    if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        for index, (a, b) in enumerate(zip(left, right)):
            if a != b:
                return first_difference(a, b, f"{path}[{index}]")
    return path, left, right


def task_definition(stack):
    (properties,) = stack.resources("AWS::ECS::TaskDefinition").values()
    return api_shape(properties)


def check_cloudformation(path=TEMPLATE):
    """The template against the JSON files it must agree with, rendered with TEST_PARAMETERS: each
    mode's task definition equal to its JSON file and through the same checks; the roles' policies
    equal to task-definitions/iam and through parliament and botocore; the alarms equal to
    alarms.json and through its checks; rotation only when asked, as alternating users."""
    import botocore.session
    from botocore.validate import validate_parameters
    from parliament import analyze_policy_string

    name = os.path.relpath(path, ROOT)
    template = load_template(path)
    problems = []
    config = json.dumps(load(os.path.join(ROOT, "examples", "pipeline-pulse.json")), separators=(",", ":"))
    if template["Parameters"]["InjectorConfig"].get("Default") != config:
        problems.append(f"{name}: InjectorConfig's default is not examples/pipeline-pulse.json (scripts/deploy_checks.py sync)")

    rendered = []
    for file, parameters in RENDERINGS.items():
        task = task_definition(Stack(template, {**TEST_PARAMETERS, **parameters}))
        rendered.append((f"{name} ({file})", task))
        expected = load(os.path.join(ROOT, "task-definitions", file))
        if task != expected:
            where, rendered_value, expected_value = first_difference(task, expected)
            problems.append(f"{name}: with {parameters}, {where} is {json.dumps(rendered_value)[:200]}, "
                            f"{file} has {json.dumps(expected_value)[:200]}")
    # No JSON file for an init container on Fargate: the same checks, at least.
    rendered.append((f"{name} (init on FARGATE)",
                     task_definition(Stack(template, {**TEST_PARAMETERS, "Mode": "init", "LaunchType": "FARGATE"}))))
    problems += check_task_definitions(rendered) + check_output_folders(rendered)

    session = botocore.session.get_session()
    iam = session.get_service_model("iam")

    def validate(model, operation, parameters, label):
        try:
            validate_parameters(parameters, model.operation_model(operation).input_shape)
        except Exception as error:
            problems.append(f"{name}: {label}: botocore {operation}: {error}".replace("\n", " "))

    def check_roles(stack, label):
        roles = stack.resources("AWS::IAM::Role")
        for role_name, role in roles.items():
            validate(iam, "CreateRole", {"RoleName": role["RoleName"],
                                         "AssumeRolePolicyDocument": json.dumps(role["AssumeRolePolicyDocument"])},
                     f"{label} {role_name}")
            for policy in role.get("Policies", []):
                document = json.dumps(policy["PolicyDocument"])
                validate(iam, "PutRolePolicy", {"RoleName": role["RoleName"], "PolicyName": policy["PolicyName"],
                                                "PolicyDocument": document}, f"{label} {role_name}")
                problems.extend(f"{name}: {label} {role_name}: parliament {f.issue}: {f.detail}"
                                for f in analyze_policy_string(document).findings)
        return roles

    roles = check_roles(Stack(template, {**TEST_PARAMETERS, **PREFIX}), "SecretAccess prefix")
    iam_folder = os.path.join(ROOT, "task-definitions", "iam")
    expected_roles = {"TaskRole": "task-role-policy.json", "ExecutionRole": "execution-role-policy.json"}
    for role_name, file in expected_roles.items():
        role = roles.get(role_name)
        if role is None:
            problems.append(f"{name}: no {role_name}")
            continue
        if statements(role["AssumeRolePolicyDocument"]) != statements(load(os.path.join(iam_folder, "trust-policy.json"))):
            problems.append(f"{name}: {role_name}'s trust policy is not trust-policy.json")
        (policy,) = role["Policies"]
        if statements(policy["PolicyDocument"]) != statements(load(os.path.join(iam_folder, file))):
            problems.append(f"{name}: {role_name}'s policy is not {file}: {json.dumps(statements(policy['PolicyDocument']))}")
    minimal = Stack(template, {**TEST_PARAMETERS, **PREFIX, "Permissions": "minimal"}).resources("AWS::IAM::Role")["TaskRole"]
    if statements(minimal["Policies"][0]["PolicyDocument"]) != statements(load(os.path.join(iam_folder, "task-role-policy-minimal.json"))):
        problems.append(f"{name}: with Permissions minimal, the task role's policy is not task-role-policy-minimal.json")
    example = load(os.path.join(ROOT, "examples", "pipeline-pulse.json"))
    problems += [f"{name}: {problem}" for problem in
                 check_task_role("TaskRole", roles["TaskRole"]["Policies"][0]["PolicyDocument"], example)]

    # By default (SecretAccess arns) the task role, which the app shares, reads the secrets of
    # SecretArns and no other: no wildcard in a secret, `*` only for BatchGetSecretValue (no
    # resource-level permissions; AWS checks GetSecretValue on each secret it returns). And no stack
    # without SecretArns.
    named = check_roles(Stack(template, TEST_PARAMETERS), "defaults")["TaskRole"]["Policies"][0]["PolicyDocument"]
    problems += [f"{name}: defaults: {problem}" for problem in check_task_role("TaskRole", named, example)]
    for statement in named["Statement"]:
        resources = as_list(statement["Resource"])
        if any(":secret:" in r and ("*" in r or "?" in r) for r in resources):
            problems.append(f"{name}: by default the task role reads secrets by a wildcard: {resources}")
        if "*" in resources and as_list(statement["Action"]) != ["secretsmanager:BatchGetSecretValue"]:
            problems.append(f"{name}: by default the task role grants {statement['Action']} on *")
    if allows(named, "secretsmanager:GetSecretValue",
              f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:pipeline-pulse/prod/other{ARN_SUFFIX}"):
        problems.append(f"{name}: by default the task role reads a secret that is not in SecretArns")
    try:
        Stack(template, {"AlarmTopicArn": TEST_PARAMETERS["AlarmTopicArn"]})
        problems.append(f"{name}: without SecretArns or SecretAccess prefix, the stack is not refused")
    except ValueError:
        pass

    # A customer key and a failover region: kms:Decrypt through Secrets Manager only, and the same
    # names readable in the failover region and no other.
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    replica_key = f"arn:aws:kms:ap-south-1:{ACCOUNT}:key/5678efgh-56ef-78ab-90cd-567890abcdef"
    widened = check_roles(Stack(template, {**TEST_PARAMETERS, **PREFIX, "KmsKeyArn": f"{key},{replica_key}",
                                           "FailoverRegions": "ap-south-1"}),
                          "with keys and a failover region")
    document = widened["TaskRole"]["Policies"][0]["PolicyDocument"]
    decrypt = [s for s in document["Statement"] if "kms:Decrypt" in as_list(s["Action"])]
    via = [f"secretsmanager.{region}.amazonaws.com" for region in (REGION, "ap-south-1")]
    if [s.get("Resource") for s in decrypt] != [[key, replica_key]] or \
            [s.get("Condition") for s in decrypt] != [{"StringEquals": {"kms:ViaService": via}}]:
        problems.append(f"{name}: with KmsKeyArn, kms:Decrypt must be on the keys alone, through Secrets Manager in "
                        f"each region it reads in: {decrypt}")
    read = next(s for s in document["Statement"] if "secretsmanager:GetSecretValue" in as_list(s["Action"]))
    if read.get("Condition") != {"StringEquals": {"aws:RequestedRegion": [REGION, "ap-south-1"]}}:
        problems.append(f"{name}: with FailoverRegions, reads must be limited to the regions named: {read}")
    regions = read.get("Condition", {}).get("StringEquals", {}).get("aws:RequestedRegion")
    for region, allowed in ((REGION, True), ("ap-south-1", True), ("us-east-1", False)):
        arn = f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:pipeline-pulse/prod/database{ARN_SUFFIX}"
        matches = any(fnmatch.fnmatchcase(arn, r) for r in as_list(read["Resource"])) and \
            (regions is None or region in as_list(regions))
        if matches != allowed:
            problems.append(f"{name}: with FailoverRegions ap-south-1, reading in {region} is {'refused' if allowed else 'allowed'}")

    # Parameter Store: ssm:GetParameters and ssm:GetParametersByPath as
    # iam/parameter-store-policy.json grants them, and kms:Decrypt through ssm as well as Secrets
    # Manager; with ParameterRegions, the same names read there and in no other region.
    with_parameters = check_roles(
        Stack(template, {**TEST_PARAMETERS, "ParameterNamePrefix": "/pipeline-pulse/prod/", "KmsKeyArn": key}),
        "with Parameter Store")["TaskRole"]["Policies"][0]["PolicyDocument"]["Statement"]
    expected_parameters = load(os.path.join(iam_folder, "parameter-store-policy.json"))["Statement"]
    read_parameters = [s for s in with_parameters if {"ssm:GetParameters", "ssm:GetParametersByPath"} & set(as_list(s["Action"]))]
    if statements({"Statement": read_parameters}) != statements({"Statement": expected_parameters[:2]}):
        problems.append(f"{name}: with ParameterNamePrefix, ssm:GetParameters and ssm:GetParametersByPath are not "
                        f"parameter-store-policy.json's: {read_parameters}")
    via = next((s["Condition"]["StringEquals"]["kms:ViaService"] for s in with_parameters if "kms:Decrypt" in as_list(s["Action"])), [])
    if sorted(as_list(via)) != [f"secretsmanager.{REGION}.amazonaws.com", f"ssm.{REGION}.amazonaws.com"]:
        problems.append(f"{name}: with ParameterNamePrefix and KmsKeyArn, kms:Decrypt must be through Secrets Manager and ssm: {via}")
    elsewhere = check_roles(
        Stack(template, {**TEST_PARAMETERS, "ParameterNamePrefix": "/pipeline-pulse/prod/", "KmsKeyArn": key,
                         "ParameterRegions": "us-east-1"}),
        "with Parameter Store in another region")["TaskRole"]["Policies"][0]["PolicyDocument"]["Statement"]
    read = next(s for s in elsewhere if "ssm:GetParameters" in as_list(s["Action"]))
    regions = read.get("Condition", {}).get("StringEquals", {}).get("aws:RequestedRegion")
    for region, allowed in ((REGION, True), ("us-east-1", True), ("eu-west-1", False)):
        arn = f"arn:aws:ssm:{region}:{ACCOUNT}:parameter/pipeline-pulse/prod/db-pass"
        matches = any(fnmatch.fnmatchcase(arn, r) for r in as_list(read["Resource"])) and \
            (regions is None or region in as_list(regions))
        if matches != allowed:
            problems.append(f"{name}: with ParameterRegions us-east-1, reading a parameter in {region} is "
                            f"{'refused' if allowed else 'allowed'}")
    via = next((s["Condition"]["StringEquals"]["kms:ViaService"] for s in elsewhere if "kms:Decrypt" in as_list(s["Action"])), [])
    if "ssm.us-east-1.amazonaws.com" not in as_list(via):
        problems.append(f"{name}: with ParameterRegions us-east-1, kms:Decrypt is not through ssm there: {via}")
    if any("ssm:" in action for s in roles["TaskRole"]["Policies"][0]["PolicyDocument"]["Statement"] for action in as_list(s["Action"])):
        problems.append(f"{name}: without ParameterNamePrefix, the task role may still read Parameter Store")

    alarms = list(Stack(template, TEST_PARAMETERS).resources("AWS::CloudWatch::Alarm").values())
    expected_alarms = load(ALARMS)
    by_name = {alarm["AlarmName"]: alarm for alarm in alarms}
    for alarm in expected_alarms:
        if by_name.get(alarm["AlarmName"]) != alarm:
            problems.append(f"{name}: alarm {alarm['AlarmName']} is not alarms.json's: {json.dumps(by_name.get(alarm['AlarmName']))[:300]}")
    for extra in sorted(set(by_name) - {alarm["AlarmName"] for alarm in expected_alarms}):
        problems.append(f"{name}: alarm {extra} is not in alarms.json")
    problems += check_alarms(alarms, label=name)
    if any("AlarmActions" in alarm for alarm in
           Stack(template, {"SecretArns": TEST_PARAMETERS["SecretArns"]}).resources("AWS::CloudWatch::Alarm").values()):
        problems.append(f"{name}: without AlarmTopicArn, an alarm still names an action")

    if Stack(template, TEST_PARAMETERS).resources("AWS::SecretsManager::RotationSchedule"):
        problems.append(f"{name}: rotation is set up without RotationSecretArn")
    database = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:pipeline-pulse/prod/database{ARN_SUFFIX}"
    rotation = Stack(template, {**TEST_PARAMETERS, "RotationSecretArn": database,
                                "RotationMasterSecretArn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:pipeline-pulse/prod/database-master{ARN_SUFFIX}",
                                "RotationSubnetIds": "subnet-0a1b2c3d,subnet-4e5f6a7b", "RotationSecurityGroupIds": "sg-0a1b2c3d"})
    schedules = list(rotation.resources("AWS::SecretsManager::RotationSchedule").values())
    if len(schedules) != 1:
        problems.append(f"{name}: with RotationSecretArn, {len(schedules)} rotation schedules")
    else:
        (schedule,) = schedules
        hosted = schedule.get("HostedRotationLambda", {})
        if hosted.get("RotationType") != "PostgreSQLMultiUser":
            problems.append(f"{name}: rotation must be PostgreSQLMultiUser (alternating users: docs/rotation.md)")
        if hosted.get("VpcSubnetIds") != "subnet-0a1b2c3d,subnet-4e5f6a7b" or hosted.get("VpcSecurityGroupIds") != "sg-0a1b2c3d":
            problems.append(f"{name}: the rotation function is not in the subnets and security groups given: {hosted}")
        validate(session.get_service_model("secretsmanager"), "RotateSecret",
                 {"SecretId": schedule["SecretId"], "RotationRules": schedule["RotationRules"]}, "rotation")
    return problems


def check_compose():
    import yaml

    result = subprocess.run(["docker-compose", "-f", os.path.join(ROOT, "docker-compose.yml"), "config"], capture_output=True, text=True)
    if result.returncode != 0:
        return ["docker-compose.yml: " + " ".join(result.stderr.split())]
    problems = []
    readme = open(os.path.join(ROOT, "docs", "deploying.md")).read()
    services = yaml.safe_load(result.stdout)["services"]
    example = load(os.path.join(ROOT, "examples", "pipeline-pulse.json"))
    for name, service in services.items():
        # Every service docs/deploying.md's table must name, with its command and its environment keys.
        row = next((line for line in readme.splitlines() if line.startswith(f"| `{name}` |")), None)
        if row is None:
            problems.append(f"docker-compose.yml: service {name} is not in docs/deploying.md's table")
            continue
        command = " ".join(service.get("entrypoint", []) + service.get("command", []))
        if command and f"`{command}`" not in row:
            problems.append(f"docker-compose.yml: {name} runs `{command}`, docs/deploying.md says otherwise")
        for key in service.get("environment", {}):
            if key not in row:
                problems.append(f"docker-compose.yml: {name} sets {key}, not in docs/deploying.md's row")
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
    # The template's default, a single-quoted YAML scalar (the configuration holds no quote).
    template = open(TEMPLATE).read()
    template = re.sub(r"(\n  InjectorConfig:\n(?:    .*\n)*?    Default: )'.*'", lambda m: f"{m.group(1)}'{inline}'", template)
    open(TEMPLATE, "w").write(template)


def main():
    command = sys.argv[1]
    if command == "sync":
        sync()
        return
    if command == "render":
        parameters = dict(argument.split("=", 1) for argument in sys.argv[2:])
        try:
            stack = Stack(load_template(TEMPLATE), parameters)
            print(json.dumps({"Resources": stack.resources()}, indent=2, sort_keys=True))
        except ValueError as refusal:
            print(refusal)
            sys.exit(1)
        return
    if command == "inline-configs":
        for path in TASKS:
            print(json.dumps({"file": os.path.basename(path), "config": json.dumps(injector_config(load(path)))}))
        return
    problems = {"task-definitions": lambda: check_task_definitions() + check_output_folders() + check_alarms(),
                "iam": check_iam,
                "cloudformation": lambda: check_cloudformation(*sys.argv[2:3]),
                "compose": check_compose}[command]()
    for problem in problems:
        print(problem)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
