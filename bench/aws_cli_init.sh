#!/usr/bin/env bash
# The other reference for `scripts/bench init`: the `aws` CLI in a loop, one process per secret,
# each value written to a temporary file and renamed into OUTDIR.
#
#   aws_cli_init.sh OUTDIR
set -euo pipefail
for name in database zoho currency jwt; do
    aws secretsmanager get-secret-value --secret-id "pipeline-pulse/prod/$name" \
        --query SecretString --output text >"$1/.$name.tmp"
    chmod 0440 "$1/.$name.tmp"
    mv -f "$1/.$name.tmp" "$1/$name.json"
done
