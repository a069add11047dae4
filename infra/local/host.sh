# Helpers for scripts that run the local host against the local stack. Source this file from the
# repository root after `infra/local/stack.sh up`. The stack's work folder is $NHI_STACK_DIR
# (default .stack); builds and logs go to artifacts/ in this checkout.

stack_dir=${NHI_STACK_DIR:-$PWD/.stack}
mkdir -p artifacts

# Exports the stack's settings and the host settings that the demo and the benchmarks share.
# $1: the Durable backend, InMemory or AzureStorage.
load_host_environment() {
  set -a
  # shellcheck disable=SC1091
  . "$stack_dir/stack.env"
  set +a
  # The host keeps its HTTPS certificate in $stack_dir/tls and reads the local OIDC issuer's JWKS in $stack_dir/oidc.
  export NHI_STACK_DIR="$stack_dir"
  export NHI_SCOPE_PROBE_BUCKET="$NHI_BYSTANDER_BUCKET"
  export NHI_AUDIT_SIGNING_KEY_FILE="$stack_dir/audit-keys/signing-key.pem"
  export NHI_DURABLE_BACKEND="$1"
  export AWS_EC2_METADATA_DISABLED=true
}

# Builds the local host (Release) into artifacts/bin/localhost, starts it on $1 (a URL on 127.0.0.1)
# and on HTTPS port $Https__Port (default 7443) with its output in the log file $2, and waits until
# /healthz responds. Sets host_pid and stops the host by that pid when the calling script exits.
start_local_host() {
  local url=$1 log=$2 port=${1##*:} https_port=${Https__Port:-7443}
  if ss -ltn "sport = :$port" | grep -q LISTEN; then
    echo "error: port $port on 127.0.0.1 is in use; choose another port for the local host" >&2
    exit 1
  fi
  if ss -ltn "sport = :$https_port" | grep -q LISTEN; then
    echo "error: HTTPS port $https_port on 127.0.0.1 is in use; set Https__Port to another port" >&2
    exit 1
  fi

  dotnet build tools/Nhi.Serverless.LocalHost -c Release -nologo -v quiet -o artifacts/bin/localhost
  echo "==> starting the local host on $url ($NHI_DURABLE_BACKEND backend); log: $log"
  dotnet artifacts/bin/localhost/Nhi.Serverless.LocalHost.dll --urls "$url" >"$log" 2>&1 &
  host_pid=$!
  trap 'kill "$host_pid" 2>/dev/null && wait "$host_pid" 2>/dev/null; true' EXIT

  local _
  for _ in $(seq 1 150); do
    if curl -fsS "$url/healthz" >/dev/null 2>&1; then
      return 0
    fi
    if ! kill -0 "$host_pid" 2>/dev/null; then
      echo "error: the local host exited during start; last lines of $log:" >&2
      tail -n 20 "$log" >&2
      exit 1
    fi
    sleep 0.2
  done
  echo "error: the local host did not answer on $url/healthz within 30 s; see $log" >&2
  exit 1
}
