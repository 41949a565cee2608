#!/usr/bin/env python3
"""Reads dotenv files the way each reader available here does, and says what each got back.

    dotenv_readers.py CASES.json   # {"files": {"id": "path"}, "expected": {"id": {"NAME": value}}}

Readers: python-dotenv with interpolate=False and with its default (True); Docker Compose v1
(`docker-compose config` on a service with the file as env_file); Docker Compose v2, whose
compose-go parser cannot be installed here, as `compose_v2` below re-implements its rules for
quoted values (read from compose-go's dotenv/parser.go: in single quotes only \\' is an escape; in
double quotes \\" \\\\ \\$ \\n … are, then $NAME and ${NAME} are expanded); and `set -a; . FILE` in
sh (dash) and bash, in an empty environment, in a folder where a command that ran leaves a file.
Prints one JSON object: {"id": {"reader": {"NAME": value} | "error: …"}}."""
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml
from dotenv import dotenv_values

ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "$": "$",
           '"': '"', "\\": "\\"}


def compose_v2(text, environment):
    """compose-go's dotenv rules for KEY=value lines, our files' only shape."""
    out = {}
    position = 0
    while position < len(text):
        while position < len(text) and text[position] in " \t\r\n":
            position += 1
        if position >= len(text):
            break
        if text[position] == "#":
            end = text.find("\n", position)
            position = len(text) if end < 0 else end
            continue
        equals = text.index("=", position)
        key = text[position:equals].strip()
        position = equals + 1
        quote = text[position] if position < len(text) else ""
        if quote not in ("'", '"'):
            end = text.find("\n", position)
            end = len(text) if end < 0 else end
            value = text[position:end].split(" #")[0].rstrip()
            out[key] = expand(value, environment, out)
            position = end
            continue
        chars, escaped, position = [], False, position + 1
        while True:
            if position >= len(text):
                raise ValueError(f"unterminated quoted value for {key}")
            char = text[position]
            position += 1
            if char != quote:
                if not escaped and char == "\\":
                    escaped = True
                    continue
                if escaped:
                    escaped = False
                    chars.append("\\")
                chars.append(char)
                continue
            if escaped:
                escaped = False
                chars.append(char)
                continue
            break
        value = "".join(chars)
        if quote == '"':
            value = re.sub(r'\\([abfnrtv$"\\])', lambda m: "$$" if m.group(1) == "$" else ESCAPES[m.group(1)], value)
            value = expand(value, environment, out)
        out[key] = value
    return out


def expand(value, environment, seen):
    def replace(match):
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(2)
        return seen.get(name, environment.get(name, ""))
    return re.sub(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", replace, value)


def shell(shell_path, path, folder):
    script = "set -a; . \"$1\" && exec python3 -c 'import json,os; print(json.dumps(dict(os.environ)))'"
    result = subprocess.run([shell_path, "-c", script, "sh", path], cwd=folder, capture_output=True, text=True,
                            env={"PATH": os.environ["PATH"], "HOME": "/home/reader"}, timeout=20)
    if result.returncode != 0:
        return f"error: refused to parse ({result.stderr.strip().splitlines()[-1] if result.stderr.strip() else result.returncode})"
    got = json.loads(result.stdout)
    return {k: v for k, v in got.items() if k not in ("PATH", "HOME", "PWD", "SHLVL", "_", "OLDPWD")}


def compose_v1(path, folder):
    compose = os.path.join(folder, "docker-compose.yml")
    with open(compose, "w") as handle:
        yaml.safe_dump({"version": "3.8", "services": {"app": {"image": "x", "env_file": [path]}}}, handle)
    result = subprocess.run(["docker-compose", "-f", compose, "config"], cwd=folder, capture_output=True, text=True,
                            env={"PATH": os.environ["PATH"], "HOME": "/home/reader"}, timeout=60)
    if result.returncode != 0:
        return "error: " + " ".join(result.stderr.split())[:200]
    environment = yaml.safe_load(result.stdout)["services"]["app"].get("environment", {})
    # `config` prints a literal $ as $$ (its own interpolation syntax).
    return {k: ("" if v is None else str(v)).replace("$$", "$") for k, v in environment.items()}


def main():
    cases = json.load(open(sys.argv[1]))
    report = {}
    for case, path in cases["files"].items():
        folder = tempfile.mkdtemp(prefix="dotenv-reader-")
        text = open(path, encoding="utf-8").read()
        got = {}
        for name, reader in (
                ("python-dotenv interpolate=False", lambda: dotenv_values(path, interpolate=False)),
                ("python-dotenv default", lambda: dotenv_values(path)),
                ("Compose v1", lambda: compose_v1(path, folder)),
                ("Compose v2", lambda: compose_v2(text, {"HOME": "/home/reader"})),
                ("sh", lambda: shell("/bin/sh", path, folder)),
                ("bash", lambda: shell("/bin/bash", path, folder))):
            try:
                got[name] = reader()
            except Exception as error:  # a reader's own refusal
                got[name] = f"error: {error}"
        got["ran a command"] = sorted(os.listdir(folder)) != ["docker-compose.yml"]
        report[case] = got
    print(json.dumps(report))


if __name__ == "__main__":
    main()
