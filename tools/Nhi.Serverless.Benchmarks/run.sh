#!/usr/bin/env bash
# Runs a benchmark against a fresh Release build of the local host on the local stack, and writes its
# results page under docs/benchmarks/. Usage:
#   tools/Nhi.Serverless.Benchmarks/run.sh remediation [--findings N] [--concurrency 1,8] [--backend InMemory|AzureStorage]
#   tools/Nhi.Serverless.Benchmarks/run.sh audit [--records N] [--append-runs N] [--all-signatures] [--shared-azurite]
#   tools/Nhi.Serverless.Benchmarks/run.sh edge [--seconds N] [--concurrency N] [--backend InMemory|AzureStorage]
#     [--azurite own-memory|own-disk|shared] [--output FILE]
set -euo pipefail
cd "$(dirname "$0")/../.."

benchmark=${1:?usage: run.sh remediation [options]}
shift
backend=InMemory
azurite=own-memory
output=""
args=()
while (($#)); do
  case "$1" in
    --backend) backend=${2:?--backend needs InMemory or AzureStorage}; shift 2 ;;
    --azurite) azurite=${2:?--azurite needs own-memory, own-disk or shared}; shift 2 ;;
    --output) output=${2:?--output needs a file}; shift 2 ;;
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
  exec dotnet artifacts/bin/benchmarks/Nhi.Serverless.Benchmarks.dll audit --output "${output:-docs/benchmarks/audit.md}" "${args[@]}"
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

# The edge benchmark's host writes to an empty Azurite of its own unless --azurite shared is given, so its figures do not
# depend on what tests stored in the stack's Azurite. In memory is the default, because on disk Azurite rewrites
# its whole table file every 5 seconds on its only thread, which pauses every request at the edge meanwhile.
azurite_pid=""
if [ "$benchmark" = edge ] && [ "$azurite" != shared ]; then
  case "$azurite" in
    own-memory) azurite_flags=(--in-memory) ;;
    own-disk) azurite_flags=() ;;
    *) echo "error: --azurite must be own-memory, own-disk or shared" >&2; exit 2 ;;
  esac
  coproc own_azurite { exec dotnet artifacts/bin/benchmarks/Nhi.Serverless.Benchmarks.dll azurite "${azurite_flags[@]}"; }
  azurite_pid=$own_azurite_PID
  read -r line <&"${own_azurite[0]}" || { echo "error: the benchmark's Azurite did not start; see its error above" >&2; exit 1; }
  export NHI_AZURE_STORAGE_CONNECTION_STRING=${line#NHI_AZURE_STORAGE_CONNECTION_STRING=}
  echo "==> the host uses its own Azurite ($azurite), process $azurite_pid"
fi

url="http://127.0.0.1:${NHI_BENCH_PORT:-7081}"
start_local_host "$url" artifacts/bench-host.log
if [ -n "$azurite_pid" ]; then
  trap 'kill "$host_pid" 2>/dev/null && wait "$host_pid" 2>/dev/null; kill "$azurite_pid" 2>/dev/null && wait "$azurite_pid" 2>/dev/null; true' EXIT
fi

suffix=""
[ "$backend" = InMemory ] || suffix="-$(echo "$backend" | tr '[:upper:]' '[:lower:]')"
[ "$benchmark" != edge ] || args+=(--azurite "$azurite")
dotnet artifacts/bin/benchmarks/Nhi.Serverless.Benchmarks.dll "$benchmark" --host "$url" --host-pid "$host_pid" \
  --backend "$backend" --output "${output:-docs/benchmarks/$benchmark$suffix.md}" "${args[@]}"
