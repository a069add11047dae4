#!/usr/bin/env bash
# The main job: brings the local stack up, resets the demo buckets to public, starts the local host,
# posts every sample finding, waits for the runs and prints what each did. Options:
#   --summary FILE   also write the facts of every run as JSON to FILE
#   --backend NAME   InMemory (default) or AzureStorage (orchestration state on Azurite)
#   --workflow NAME  run only this business workflow: cicd, rpa, loan, claims or healthcare
set -euo pipefail
cd "$(dirname "$0")"

backend=InMemory
cli_args=()
while (($#)); do
  case "$1" in
    --backend) backend=${2:?--backend needs InMemory or AzureStorage}; shift 2 ;;
    --summary) cli_args+=(--summary "$(realpath -m "${2:?--summary needs a file path}")"); shift 2 ;;
    --workflow) cli_args+=(--workflow "${2:?--workflow needs cicd, rpa, loan, claims or healthcare}"); shift 2 ;;
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done

echo "==> local stack"
infra/local/stack.sh up
echo "==> resetting the demo buckets to their public state"
mkdir -p artifacts
infra/local/stack.sh seed >/dev/null 2>artifacts/seed.log || { cat artifacts/seed.log >&2; exit 1; }

# shellcheck source=infra/local/host.sh
. infra/local/host.sh
load_host_environment "$backend"

echo "==> building"
dotnet build tools/Nhi.Serverless.Cli -c Release -nologo -v quiet -o artifacts/bin/cli
# The CI/CD sample authenticates with a token from the local OIDC issuer, whose key and JWKS the host reads at start.
dotnet artifacts/bin/cli/nhi.dll oidc token --repository nhi-demo/app --ref refs/heads/main >/dev/null
url="http://127.0.0.1:${NHI_HOST_PORT:-7071}"
start_local_host "$url" artifacts/localhost.log

dotnet artifacts/bin/cli/nhi.dll demo --host "$url" --samples samples \
  --https-host "https://127.0.0.1:${Https__Port:-7443}" --ca-cert "$NHI_STACK_DIR/tls/localhost.crt.pem" "${cli_args[@]}"
