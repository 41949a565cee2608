#!/usr/bin/env bash
# Two builds of the injector against each other, alternating, in one session (docs/BENCHMARKS.md,
# "Rooms"): the way to show that a change made nothing slower on a noisy machine.
#
#   bench/ab.sh serve BEFORE AFTER [ROUNDS]   wrk -t1 -c32 for 10 s on each sidecar in turn, ROUNDS times (4)
#   bench/ab.sh init BEFORE AFTER [RUNS]      `init` of the Pipeline Pulse example with each, in turn (20)
#
# BEFORE and AFTER are binaries as scripts/build-release makes them (build an earlier commit in a
# clone of its own). Needs wrk for serve, moto[server] for init (scripts/install-deps).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-}
[ $# -ge 3 ] || { echo "usage: bench/ab.sh serve|init BEFORE AFTER [ROUNDS]" >&2; exit 2; }
shift

ab_serve() {
local before=$1 after=$2 rounds=${3:-4}
start() {
    local binary=$1 work=$2 port=$3
    python3 - "$work/dev.json" <<'PY'
import json, sys
values = {
    "pipeline-pulse/prod/database": {"username": "pp_app", "password": "Xq7#p@ss:w/rd?&=+ %", "host": "pipeline-pulse-db.cluster-abc.ap-southeast-1.rds.amazonaws.com", "port": 5432, "database": "pipeline_pulse"},
    "pipeline-pulse/prod/zoho": {"client_id": "1000.ZOHOCLIENTID7QX", "client_secret": "zoho-client-secret-5f3b9a"},
    "pipeline-pulse/prod/currency": {"api_key": "cur-live-9d8e7f6a5b4c"},
    "pipeline-pulse/prod/jwt": {"secret": "jwt-signing-secret-4c1d2e3f", "algorithm": "HS256"},
}
json.dump({k: json.dumps(v) for k, v in values.items()}, open(sys.argv[1], "w"))
PY
    config=$(python3 -c 'import json,sys; print(json.dumps({"source": {"local": sys.argv[1] + "/dev.json"}, "outputDir": sys.argv[1] + "/out", "secrets": [{"id": "pipeline-pulse/prod/" + n} for n in ("database", "zoho", "currency", "jwt")], "server": {"tcpPort": int(sys.argv[2])}, "log": {"level": "error"}}))' "$work" "$port")
    AWS_TOKEN=bench-token SECRETS_INJECTOR_CONFIG="$config" "$binary" run &
    echo $! > "$work/pid"
    for _ in $(seq 1 100); do [ -S "$work/out/injector.sock" ] && break; sleep 0.05; done
}
free() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wa=$(mktemp -d); wb=$(mktemp -d); pa=$(free); pb=$(free)
start "$before" "$wa" "$pa"; start "$after" "$wb" "$pb"
trap 'kill $(cat "$wa/pid") $(cat "$wb/pid") 2>/dev/null; rm -rf "$wa" "$wb"' EXIT
url() { echo "http://127.0.0.1:$1/secretsmanager/get?secretId=pipeline-pulse/prod/database"; }
for p in $pa $pb; do wrk -t1 -c32 -d2s -H "X-Aws-Parameters-Secrets-Token: bench-token" "$(url $p)" >/dev/null; done
for i in $(seq 1 $rounds); do
    a=$(wrk -t1 -c32 -d10s -H "X-Aws-Parameters-Secrets-Token: bench-token" "$(url $pa)" | awk '/Requests\/sec/ {print $2}')
    b=$(wrk -t1 -c32 -d10s -H "X-Aws-Parameters-Secrets-Token: bench-token" "$(url $pb)" | awk '/Requests\/sec/ {print $2}')
    echo "round $i: before $a after $b ratio $(python3 -c "print(round($b/$a,3))")"
done
}

ab_init() {
local before=$1 after=$2 runs=${3:-20}
work=$(mktemp -d)
coproc PEERS { exec python3 scripts/harness/aws_peers.py; }
read -r ready <&"${PEERS[0]}"
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$ready" "$1"; }
export AWS_REGION=$(field region) AWS_ENDPOINT_URL_SECRETS_MANAGER=$(field endpoint)
export AWS_CONTAINER_CREDENTIALS_FULL_URI="$(field credentials)pipeline-pulse-task" AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=$(field tokenFile)
for who in a b; do
python3 - "$work/config-$who.json" "$work/$who" <<'PY'
import json, sys
config = json.load(open("examples/pipeline-pulse.json"))
config["outputDir"] = sys.argv[2]
config["defaults"] = {"mode": "0440"}
config["log"] = {"level": "warning", "format": "json"}
json.dump(config, open(sys.argv[1], "w"))
PY
mkdir -p "$work/$who"
done
elapsed() { local start end; start=$(date +%s%N); "$@" >/dev/null; end=$(date +%s%N); echo $(((end - start) / 1000)); }
for _ in $(seq 1 "$runs"); do
    elapsed "$before" init --config "$work/config-a.json" >>"$work/a.us"
    elapsed "$after" init --config "$work/config-b.json" >>"$work/b.us"
done
python3 - "$work" <<'PY'
import statistics, sys
w=sys.argv[1]
a=[int(x)/1000 for x in open(w+"/a.us")]; b=[int(x)/1000 for x in open(w+"/b.us")]
print(f"before median {statistics.median(a):.1f} ms (min {min(a):.1f}); after median {statistics.median(b):.1f} ms (min {min(b):.1f}); after/before {statistics.median(b)/statistics.median(a):.3f}")
PY
exec {PEERS[1]}>&-; wait $PEERS_PID 2>/dev/null || true; rm -rf "$work"
}

case "$what" in
serve) ab_serve "$@" ;;
init) ab_init "$@" ;;
*) echo "usage: bench/ab.sh serve|init BEFORE AFTER [ROUNDS]" >&2; exit 2 ;;
esac
