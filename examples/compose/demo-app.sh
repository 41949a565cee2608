#!/bin/sh
# The tiny demo app: what Pipeline Pulse would read, with every value masked.
set -eu
echo "files in /run/secrets:"
ls -l /run/secrets
echo "app.env (values masked):"
sed -E 's/=.*/=********/' /run/secrets/app.env
echo "DATABASE_URL (password masked):"
sed -nE 's#^(DATABASE_URL=[a-z]+://[^:]+:)[^@]*(@.*)$#\1********\2#p' /run/secrets/app.env
echo "socket answer for pipeline-pulse/prod/jwt (value masked):"
curl -s --unix-socket /run/secrets/injector.sock 'http://localhost/secretsmanager/get?secretId=pipeline-pulse/prod/jwt' \
  | sed -E 's/"SecretString":"([^"\\]|\\.)*"/"SecretString":"********"/'
echo
