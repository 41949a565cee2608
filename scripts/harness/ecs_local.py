#!/usr/bin/env python3
"""An ECS task definition as a Docker Compose file, so that Docker plays it as ECS orders it: what
AWS's `ecs-cli local create` did (it converted a task definition into a compose file, run beside the
ECS local container endpoints).

    python3 scripts/harness/ecs_local.py TASK_DEFINITION --image CONTAINER=IMAGE ... \
        [--command CONTAINER='["sh", "-c", "..."]' ...] [--volume-like NAME=OTHER_TASK_DEFINITION]

Prints the compose file (JSON, which compose reads as YAML) on standard output. It is meant to be
given after the repository's docker-compose.yml (`-f docker-compose.yml -f -`), whose moto,
ecs-local-endpoints and seed services stand for the account and the ECS agent.

Kept from the task definition, field by field:
  containerDefinitions[].name             the service's name
  image, command, entryPoint              image (substituted: --image), command (--command
                                          replaces entryPoint and command for an app image that
                                          does not exist here; --arguments replaces the command
                                          only, behind an entryPoint that stays)
  user, readonlyRootFilesystem            user, read_only
  linuxParameters.capabilities drop/add   cap_drop, cap_add
  linuxParameters.initProcessEnabled      init
  environment                             environment
  mountPoints                             volumes (task-VOLUME:containerPath[:ro])
  healthCheck                             healthcheck (the same test, seconds as durations)
  stopTimeout                             stop_grace_period
  dependsOn START / HEALTHY / SUCCESS     depends_on service_started / service_healthy /
                                          service_completed_successfully (COMPLETE, any exit, has
                                          no compose condition: refused)
  volumes[].dockerVolumeConfiguration     a named volume with its driver and driverOpts (ECS
                                          creates task-scoped Docker volumes the same way)
  volumes[] with no configuration         a named volume without options (Fargate's task storage)
What ECS itself adds to every container of a task with a task role, added here the same way:
  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/creds, served at 169.254.170.2 (ecs-local-endpoints)
What the local account adds to the injector's containers (those whose image is --injector-image,
or whose entryPoint runs an installed injector's `exec`):
  AWS_ENDPOINT_URL_SECRETS_MANAGER=http://moto:5000 and SECRETS_INJECTOR_ALLOW_INSECURE_ENDPOINT,
  and a start after `seed` has created the secrets.
Left out: logConfiguration (awslogs needs CloudWatch: docker logs keeps the output), portMappings,
memory and cpu (no scheduler here), networkMode awsvpc (the task's containers share a network
namespace in ECS; here they share only the volume, which is all the injector and the app share).
"""
import argparse
import json
import sys

CONDITIONS = {
    "START": "service_started",
    "HEALTHY": "service_healthy",
    "SUCCESS": "service_completed_successfully",
}


def literal(value):
    """ECS passes every string as it is; compose would expand `$NAME` in it: `$$` keeps a `$`."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, list):
        return [literal(item) for item in value]
    if isinstance(value, dict):
        return {key: literal(item) for key, item in value.items()}
    return value


def duration(seconds):
    return f"{int(seconds)}s"


def volume(definition):
    configuration = definition.get("dockerVolumeConfiguration")
    if configuration is None:
        if "host" in definition and definition["host"].get("sourcePath"):
            raise SystemExit(f"ecs_local: volume {definition['name']}: host paths are not played here")
        return {}
    if configuration.get("scope", "task") != "task":
        raise SystemExit(f"ecs_local: volume {definition['name']}: only task-scoped Docker volumes are played")
    played = {"driver": configuration.get("driver", "local")}
    if configuration.get("driverOpts"):
        played["driver_opts"] = configuration["driverOpts"]
    return played


def service(container, images, commands, arguments, injector_image):
    name = container["name"]
    if name not in images:
        raise SystemExit(f"ecs_local: no --image for container {name}")
    played = {"image": images[name]}
    if name in commands:
        played["entrypoint"] = commands[name]
        played["command"] = []
    else:
        if "entryPoint" in container:
            played["entrypoint"] = container["entryPoint"]
        if name in arguments:
            played["command"] = arguments[name]
        elif "command" in container:
            played["command"] = container["command"]
    if "user" in container:
        played["user"] = container["user"]
    played["read_only"] = bool(container.get("readonlyRootFilesystem", False))
    linux = container.get("linuxParameters", {})
    capabilities = linux.get("capabilities", {})
    if capabilities.get("drop"):
        played["cap_drop"] = capabilities["drop"]
    if capabilities.get("add"):
        played["cap_add"] = capabilities["add"]
    if linux.get("initProcessEnabled"):
        played["init"] = True
    environment = {variable["name"]: variable["value"] for variable in container.get("environment", [])}
    environment["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = "/creds"
    networks = {"default": {}, "credentials_network": {}}
    depends = {"ecs-local-endpoints": {"condition": "service_started"}}
    entry = container.get("entryPoint", [])
    runs_exec = len(entry) >= 2 and entry[0].endswith("/secrets-injector") and entry[1] == "exec"
    if images[name] == injector_image or runs_exec:
        environment["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = "http://moto:5000"
        environment["SECRETS_INJECTOR_ALLOW_INSECURE_ENDPOINT"] = "true"
        depends["seed"] = {"condition": "service_completed_successfully"}
    played["environment"] = environment
    played["networks"] = networks
    played["volumes"] = [
        f"task-{mount['sourceVolume']}:{mount['containerPath']}" + (":ro" if mount.get("readOnly") else "")
        for mount in container.get("mountPoints", [])
    ]
    check = container.get("healthCheck")
    if check:
        played["healthcheck"] = {
            "test": check["command"],
            "interval": duration(check.get("interval", 30)),
            "timeout": duration(check.get("timeout", 5)),
            "retries": check.get("retries", 3),
            "start_period": duration(check.get("startPeriod", 0)),
        }
    if "stopTimeout" in container:
        played["stop_grace_period"] = duration(container["stopTimeout"])
    for dependency in container.get("dependsOn", []):
        condition = dependency["condition"]
        if condition not in CONDITIONS:
            raise SystemExit(f"ecs_local: container {name}: dependsOn condition {condition} has no compose twin")
        depends[dependency["containerName"]] = {"condition": CONDITIONS[condition]}
    played["depends_on"] = depends
    return played


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task_definition")
    parser.add_argument("--image", action="append", default=[], help="CONTAINER=IMAGE")
    parser.add_argument("--command", action="append", default=[], help="CONTAINER=JSON_ARRAY")
    parser.add_argument("--arguments", action="append", default=[], help="CONTAINER=JSON_ARRAY")
    parser.add_argument("--injector-image", required=True)
    parser.add_argument("--volumes-from", help="another task definition whose volumes replace this one's")
    arguments = parser.parse_args()
    with open(arguments.task_definition) as file:
        task = json.load(file)
    images = dict(pair.split("=", 1) for pair in arguments.image)
    commands = {name: json.loads(command) for name, command in (pair.split("=", 1) for pair in arguments.command)}
    replaced = {name: json.loads(command) for name, command in (pair.split("=", 1) for pair in arguments.arguments)}
    volumes = task.get("volumes", [])
    if arguments.volumes_from:
        with open(arguments.volumes_from) as file:
            volumes = json.load(file).get("volumes", [])
    compose = {
        "services": {
            container["name"]: service(container, images, commands, replaced, arguments.injector_image)
            for container in task["containerDefinitions"]
        },
        "volumes": {f"task-{definition['name']}": volume(definition) for definition in volumes},
    }
    json.dump(literal(compose), sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
