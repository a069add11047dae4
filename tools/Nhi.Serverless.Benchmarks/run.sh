#!/usr/bin/env bash
# Runs a benchmark against a fresh Release build of the local host on the local stack, and writes its
# results page under docs/benchmarks/. Usage:
#   tools/Nhi.Serverless.Benchmarks/run.sh remediation [--findings N] [--concurrency 1,8] [--backend InMemory|AzureStorage]
#   tools/Nhi.Serverless.Benchmarks/run.sh audit [--records N] [--append-runs N] [--all-signatures] [--shared-azurite]
set -euo pipefail
cd "$(dirname "$0")/../.."

benchmark=${1:?usage: run.sh remediation [options]}
shift
backend=InMemory
args=()
while (($#)); do
  case "$1" in
    --backend) backend=${2:?--backend needs InMemory or AzureStorage}; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done

if [ "$benchmark" = audit ]; then
  # The audit benchmark starts an empty Azurite of its own from infra/local/node_modules, where
  # stack.sh install puts it, and uses files otherwise. So no local host is started, and the local
  # stack only for --shared-azurite, which appends to the stack's Azurite.
  if [[ " ${args[*]} " == *" --shared-azurite "* ]]; then
    infra/local/stack.sh up
    # shellcheck source=../../infra/local/host.sh
    . infra/local/host.sh
    load_host_environment "$backend"
  fi
  echo "==> building (Release)"
  dotnet build tools/Nhi.Serverless.Benchmarks -c Release -nologo -v quiet -o artifacts/bin/benchmarks
  exec dotnet artifacts/bin/benchmarks/Nhi.Serverless.Benchmarks.dll audit --output docs/benchmarks/audit.md "${args[@]}"
fi

infra/local/stack.sh up
# shellcheck source=../../infra/local/host.sh
. infra/local/host.sh
load_host_environment "$backend"
export Logging__LogLevel__Default=${NHI_BENCH_LOG_LEVEL:-Warning}
# An HTTPS port other than the demo host's 7443, so both hosts can run at once, as their HTTP ports allow.
export Https__Port=${NHI_BENCH_HTTPS_PORT:-7453}

echo "==> building (Release)"
dotnet build tools/Nhi.Serverless.Benchmarks -c Release -nologo -v quiet -o artifacts/bin/benchmarks
url="http://127.0.0.1:${NHI_BENCH_PORT:-7081}"
start_local_host "$url" artifacts/bench-host.log

suffix=""
[ "$backend" = InMemory ] || suffix="-$(echo "$backend" | tr '[:upper:]' '[:lower:]')"
dotnet artifacts/bin/benchmarks/Nhi.Serverless.Benchmarks.dll "$benchmark" --host "$url" --host-pid "$host_pid" \
  --backend "$backend" --output "docs/benchmarks/$benchmark$suffix.md" "${args[@]}"
