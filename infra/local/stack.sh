#!/usr/bin/env bash
# Local service stack for Nhi.Serverless: Ceph radosgw (S3, STS, IAM), Azurite, PostgreSQL,
# an OAuth 2.0 authorization server, the partner APIs it issues tokens for, and dynalite (DynamoDB).
# Run 'stack.sh help' for the commands and settings.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/../.." && pwd)

usage() {
    cat <<EOF
Usage: $(basename "$0") COMMAND

Commands:
  install   Install what is missing: Debian packages ceph-mon, ceph-osd, radosgw,
            python3-boto3, curl, jq, uuid-runtime, iproute2, postgresql (needs root)
            and the pinned Azurite, oidc-provider and dynalite from npm; rsyslog and
            rsyslog-gnutls for the syslog sink tests, which start their own rsyslogd.
  start     Start ceph-mon, ceph-osd, radosgw, Azurite, PostgreSQL, the OAuth
            server, the partner APIs and dynalite unless they are running.
  status    Print one line per service. Exits 0 if all run, 3 otherwise.
  stop      Stop every service by the pid in its pid file (SIGTERM, then SIGKILL).
  seed      Create the demo users, roles and buckets, reset the buckets to their
            initial state, upload the workflow blobs to Azurite and write the
            environment file.
  env       Print the path of the environment file that 'seed' writes.
  up        install (if needed) + start + seed (if not seeded yet). Idempotent.
  help      Print this text.

Settings (environment variables):
  NHI_STACK_DIR           work folder for data, logs, pid files and keys
                          (default: <repo>/.stack)
  NHI_RGW_PORT            radosgw HTTP port on 127.0.0.1 (default: 7480)
  NHI_CEPH_MON_PORT       Ceph monitor msgr2 port on 127.0.0.1 (default: 3300); fixed
                          when the work folder is created
  NHI_AZURITE_BLOB_PORT   Azurite Blob port (default: 10000)
  NHI_AZURITE_QUEUE_PORT  Azurite Queue port (default: 10001)
  NHI_AZURITE_TABLE_PORT  Azurite Table port (default: 10002)
  NHI_POSTGRES_PORT       PostgreSQL port on 127.0.0.1 (default: 55432)
  NHI_OAUTH_PORT          OAuth authorization server port on 127.0.0.1 (default: 7490)
  NHI_PARTNER_PORT        partner APIs port on 127.0.0.1 (default: 7491)
  NHI_DYNALITE_PORT       dynalite (DynamoDB API) port on 127.0.0.1 (default: 4567)
  NHI_STS_MIN_DURATION    minimum STS DurationSeconds in seconds (default: the
                          radosgw default, 900)
  NHI_PYTHON              Python with boto3 used by 'seed' (default: /usr/bin/python3)
EOF
}

# Fail unless VALUE is a TCP port number.
check_port() {
    local name=$1 value=$2
    if ! [[ $value =~ ^[0-9]+$ ]] || ((value < 1 || value > 65535)); then
        printf 'stack: error: %s must be a TCP port number (1-65535), got %s\n' "$name" "'$value'" >&2
        exit 2
    fi
}

RGW_PORT=${NHI_RGW_PORT:-7480}
MON_PORT=${NHI_CEPH_MON_PORT:-3300}
AZURITE_BLOB_PORT=${NHI_AZURITE_BLOB_PORT:-10000}
AZURITE_QUEUE_PORT=${NHI_AZURITE_QUEUE_PORT:-10001}
AZURITE_TABLE_PORT=${NHI_AZURITE_TABLE_PORT:-10002}
POSTGRES_PORT=${NHI_POSTGRES_PORT:-55432}
OAUTH_PORT=${NHI_OAUTH_PORT:-7490}
PARTNER_PORT=${NHI_PARTNER_PORT:-7491}
DYNALITE_PORT=${NHI_DYNALITE_PORT:-4567}
check_port NHI_RGW_PORT "$RGW_PORT"
check_port NHI_CEPH_MON_PORT "$MON_PORT"
check_port NHI_AZURITE_BLOB_PORT "$AZURITE_BLOB_PORT"
check_port NHI_AZURITE_QUEUE_PORT "$AZURITE_QUEUE_PORT"
check_port NHI_AZURITE_TABLE_PORT "$AZURITE_TABLE_PORT"
check_port NHI_POSTGRES_PORT "$POSTGRES_PORT"
check_port NHI_OAUTH_PORT "$OAUTH_PORT"
check_port NHI_PARTNER_PORT "$PARTNER_PORT"
check_port NHI_DYNALITE_PORT "$DYNALITE_PORT"
PYTHON=${NHI_PYTHON:-/usr/bin/python3}

# Daemons get absolute paths in their configuration, so resolve the work folder now.
mkdir -p "${NHI_STACK_DIR:-$REPO_DIR/.stack}"
STACK_DIR=$(cd "${NHI_STACK_DIR:-$REPO_DIR/.stack}" && pwd)
ENV_FILE=$STACK_DIR/stack.env

# shellcheck source=lib.sh
source "$SCRIPT_DIR/lib.sh"
# shellcheck source=ceph.sh
source "$SCRIPT_DIR/ceph.sh"
# shellcheck source=azurite.sh
source "$SCRIPT_DIR/azurite.sh"
# shellcheck source=postgres.sh
source "$SCRIPT_DIR/postgres.sh"
# shellcheck source=oauth/oauth.sh
source "$SCRIPT_DIR/oauth/oauth.sh"
# shellcheck source=partners/partners.sh
source "$SCRIPT_DIR/partners/partners.sh"
# shellcheck source=dynalite.sh
source "$SCRIPT_DIR/dynalite.sh"
# shellcheck source=rsyslog.sh
source "$SCRIPT_DIR/rsyslog.sh"
# shellcheck source=seed.sh
source "$SCRIPT_DIR/seed.sh"

# Daemons that this run of 'start' launched, so a failed start can stop exactly those.
STARTED_NAMES=()
STARTED_PIDFILES=()

started() {
    STARTED_NAMES+=("$1")
    STARTED_PIDFILES+=("$2")
}

# Report a daemon that did not start, stop what this run started, and exit 1.
start_failed() {
    local name=$1 logfile=$2 i
    log "$name failed to start"
    show_log_tail "$name" "$logfile"
    for ((i = ${#STARTED_NAMES[@]} - 1; i >= 0; i--)); do
        stop_pidfile "${STARTED_NAMES[i]}" "${STARTED_PIDFILES[i]}"
    done
    exit 1
}

# Serialize commands that change the stack, so concurrent 'up' calls from the demo and
# the tests do not start two sets of daemons. Daemons are launched with fd 9 closed,
# because a daemon that inherited it would hold the lock for its whole life.
take_lock() {
    exec 9>"$STACK_DIR/stack.lock"
    if ! flock -w 300 9; then
        die "timed out after 300 s waiting for $STACK_DIR/stack.lock, which another stack.sh command has locked. Wait for that command to finish."
    fi
}

require_installed() {
    if ! ceph_installed || ! azurite_installed || ! postgres_installed || ! oauth_installed || ! partners_installed || ! dynalite_installed; then
        die "Ceph, boto3, Azurite, PostgreSQL, oidc-provider, Node.js 20, dynalite or a tool that stack.sh runs is not installed. Run '$0 install' (as root) first."
    fi
}

cmd_install() {
    local start=$EPOCHREALTIME
    ceph_install
    azurite_install
    postgres_install
    oauth_install
    dynalite_install
    rsyslog_install
    ceph_installed || die "Ceph, boto3 for $PYTHON, curl, jq, uuidgen, ss, flock or setsid is still missing after install. Check the apt-get output above."
    log "install finished in $(elapsed_since "$start") s"
}

cmd_start() {
    local start=$EPOCHREALTIME
    require_installed
    ceph_check_ports
    azurite_check_ports
    postgres_check_ports
    oauth_check_ports
    partners_check_ports
    dynalite_check_ports
    ceph_start
    azurite_start
    postgres_start
    oauth_start
    partners_start
    dynalite_start
    log "stack running in $STACK_DIR (started in $(elapsed_since "$start") s)"
}

cmd_stop() {
    local start=$EPOCHREALTIME
    ceph_stop
    azurite_stop
    postgres_stop
    partners_stop
    oauth_stop
    dynalite_stop
    log "stack stopped in $(elapsed_since "$start") s"
}

# Print 'running' if the pid file names a live process and a process listens on every PORT.
service_state() {
    local pidfile=$1 port
    shift
    live_pid "$pidfile" >/dev/null || { printf 'stopped'; return; }
    for port in "$@"; do
        port_listening "$port" || { printf 'not-listening'; return; }
    done
    printf 'running'
}

cmd_status() {
    local all_running=0 name pidfile state pid endpoint
    local -a rows=(
        "ceph-mon|$CEPH_MON_PIDFILE|v2:127.0.0.1:$MON_PORT|$MON_PORT"
        "ceph-osd|$CEPH_OSD_PIDFILE|127.0.0.1 (ports 6800-7300)|"
        "radosgw|$CEPH_RGW_PIDFILE|http://127.0.0.1:$RGW_PORT|$RGW_PORT"
        "azurite|$AZURITE_PIDFILE|http://127.0.0.1:$AZURITE_BLOB_PORT,$AZURITE_QUEUE_PORT,$AZURITE_TABLE_PORT|$AZURITE_BLOB_PORT $AZURITE_QUEUE_PORT $AZURITE_TABLE_PORT"
        "postgres|$POSTGRES_PIDFILE|postgresql://127.0.0.1:$POSTGRES_PORT/$POSTGRES_DATABASE|$POSTGRES_PORT"
        "oauth|$OAUTH_PIDFILE|$OAUTH_ISSUER|$OAUTH_PORT"
        "partners|$PARTNER_PIDFILE|$PARTNER_BASE_URL|$PARTNER_PORT"
        "dynalite|$DYNALITE_PIDFILE|$DYNALITE_ENDPOINT|$DYNALITE_PORT"
    )
    local row ports
    for row in "${rows[@]}"; do
        IFS='|' read -r name pidfile endpoint ports <<<"$row"
        # shellcheck disable=SC2086 # ports is a space-separated list
        state=$(service_state "$pidfile" $ports)
        pid=$(live_pid "$pidfile" || printf -- '-')
        printf '%-9s %-13s pid %-8s %s\n' "$name" "$state" "$pid" "$endpoint"
        [[ $state == running ]] || all_running=3
    done
    return "$all_running"
}

cmd_seed() {
    require_installed
    rgw_ready || die "radosgw is not responding on 127.0.0.1:$RGW_PORT. Run '$0 start' first."
    seed_run
}

cmd_env() {
    printf '%s\n' "$ENV_FILE"
    if [[ ! -s $ENV_FILE ]]; then
        log "$ENV_FILE does not exist yet. Run '$0 seed' or '$0 up'."
        return 1
    fi
}

cmd_up() {
    local start=$EPOCHREALTIME
    if ! ceph_installed || ! azurite_installed || ! postgres_installed || ! oauth_installed || ! partners_installed || ! dynalite_installed || ! rsyslog_installed; then
        cmd_install
    fi
    cmd_start
    if seed_is_current; then
        log "seed: $ENV_FILE matches the running gateway, not reseeding it"
        seed_refresh_service_env
        # Azurite keeps its data apart from the gateway, so its containers may be gone when the gateway's are not.
        seed_azurite
    else
        seed_run
    fi
    log "up finished in $(elapsed_since "$start") s; environment file: $ENV_FILE"
}

main() {
    local command=${1:-help}
    case $command in
        install) take_lock; cmd_install ;;
        start) take_lock; cmd_start ;;
        stop) take_lock; cmd_stop ;;
        status) cmd_status ;;
        seed) take_lock; cmd_seed ;;
        env) cmd_env ;;
        up) take_lock; cmd_up ;;
        help | -h | --help) usage ;;
        *)
            usage >&2
            printf 'stack: error: unknown command %s\n' "'$command'" >&2
            exit 2
            ;;
    esac
}

main "$@"
