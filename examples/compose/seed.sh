#!/bin/sh
# One-shot: the four Pipeline Pulse secrets in the local Secrets Manager (moto), in the shapes the
# first user's migration document creates them with (its keys, their order, and the port as the
# string "5432"); the values are local placeholders.
set -eu
sm() { aws --endpoint-url http://moto:5000 secretsmanager "$@"; }
until sm list-secrets >/dev/null 2>&1; do sleep 1; done
sm create-secret --name pipeline-pulse/prod/database --secret-string \
  '{"username":"pipeline_user","password":"local p@ss:w/rd","host":"db.local","port":"5432","database":"pipeline_pulse_prod"}'
sm create-secret --name pipeline-pulse/prod/zoho --secret-string \
  '{"client_id":"1000.LOCALCLIENTID","client_secret":"local-zoho-secret","redirect_uri":"https://api.1chsalesreports.com/api/zoho/auth/callback","data_center":"in"}'
sm create-secret --name pipeline-pulse/prod/currency --secret-string '{"api_key":"local-currency-key","base_url":"https://api.currencyfreaks.com/v2.0/rates"}'
sm create-secret --name pipeline-pulse/prod/jwt --secret-string '{"secret":"local-jwt-secret","algorithm":"HS256","expire_minutes":1440}'
