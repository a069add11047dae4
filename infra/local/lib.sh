# Shared helpers for stack.sh: logging, pid files, port checks and readiness waits.
# Sourced by stack.sh after it has set STACK_DIR.

log() {
    printf 'stack: %s\n' "$*" >&2
}

die() {
    printf 'stack: error: %s\n' "$*" >&2
    exit 1
}

# Print the seconds elapsed since START (a value of EPOCHREALTIME), with one decimal.
elapsed_since() {
    local start=$1
    awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}

# Print the pid stored in PIDFILE if that process is alive, else print nothing and fail.
live_pid() {
    local pidfile=$1 pid
    [[ -s $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    printf '%s\n' "$pid"
}

# Succeed if some process listens on TCP PORT on any local address.
port_listening() {
    local port=$1
    [[ -n $(ss -ltnH "sport = :$port" 2>/dev/null) ]]
}

# Describe the processes listening on TCP PORT, e.g. 'radosgw (pid 123)'.
# ss prints process names only for processes this user may inspect.
port_holder() {
    local port=$1 users
    users=$(ss -ltnpH "sport = :$port" 2>/dev/null | grep -o 'users:(.*)' || true)
    if [[ -z $users ]]; then
        printf 'an unknown process'
        return
    fi
    # users:(("radosgw",pid=123,fd=45),...) becomes: radosgw (pid 123)
    printf '%s' "$users" | sed -E 's/users:\(//; s/\("([^"]*)",pid=([0-9]+),fd=[0-9]+\)/\1 (pid \2)/g; s/\)$//'
}

# Fail unless TCP PORT is free, naming the process that listens on it.
require_free_port() {
    local port=$1 purpose=$2
    if port_listening "$port"; then
        die "port 127.0.0.1:$port for $purpose is already in use by $(port_holder "$port"). Stop that process or choose another port (see 'stack.sh help')."
    fi
}

# Poll CHECK (a command) every 0.2 s until it succeeds or TIMEOUT seconds pass.
# Prints 'waiting for DESCRIPTION ... ready in N s' and fails on timeout.
wait_until() {
    local description=$1 timeout=$2
    shift 2
    local start=$EPOCHREALTIME
    printf 'stack: waiting for %s ...' "$description" >&2
    while true; do
        if "$@" >/dev/null 2>&1; then
            printf ' ready in %s s\n' "$(elapsed_since "$start")" >&2
            return 0
        fi
        if awk -v a="$start" -v b="$EPOCHREALTIME" -v t="$timeout" 'BEGIN { exit !(b - a >= t) }'; then
            printf ' timed out after %s s\n' "$timeout" >&2
            return 1
        fi
        sleep 0.2
    done
}

# Start daemon NAME with COMMAND (the arguments after the fifth) in its own session, unless PIDFILE names a
# live process that READY (a command) accepts, then wait up to 30 s for READY. The daemon's output is appended
# to LOGFILE, and DESCRIPTION names it in the wait message. Calls start_failed (from stack.sh) when the daemon
# does not become ready.
start_daemon() {
    local name=$1 pidfile=$2 logfile=$3 ready=$4 description=$5 pid
    shift 5
    if pid=$(live_pid "$pidfile") && "$ready"; then
        log "$name: already running (pid $pid)"
        return 0
    fi
    if [[ -z $pid ]]; then
        rm -f "$pidfile"
        # The inner shell writes its own pid and then execs the daemon, so the pid file names the daemon
        # even when setsid has to fork. fd 9 is the stack lock, which the daemon must not inherit.
        setsid bash -c 'printf "%s\n" "$$" >"$1"; shift; exec "$@"' "$name-launcher" "$pidfile" "$@" \
            </dev/null >>"$logfile" 2>&1 9>&- &
        started "$name" "$pidfile"
    fi
    wait_until "$description" 30 "$ready" || start_failed "$name" "$logfile"
}

# Stop the process in PIDFILE: SIGTERM, wait up to TIMEOUT seconds, then SIGKILL.
# Removes the pid file. Succeeds when the process was not running.
stop_pidfile() {
    local name=$1 pidfile=$2 timeout=${3:-20}
    local pid start
    if ! pid=$(live_pid "$pidfile"); then
        if [[ -e $pidfile ]]; then
            log "$name: not running, removing stale pid file $pidfile"
            rm -f "$pidfile"
        fi
        return 0
    fi

    start=$EPOCHREALTIME
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do
        if awk -v a="$start" -v b="$EPOCHREALTIME" -v t="$timeout" 'BEGIN { exit !(b - a >= t) }'; then
            log "$name: pid $pid still running $timeout s after SIGTERM, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.2
            break
        fi
        sleep 0.1
    done
    rm -f "$pidfile"
    log "$name: stopped pid $pid in $(elapsed_since "$start") s"
}

# Print the last lines of LOGFILE to stderr, to explain a failed start.
show_log_tail() {
    local name=$1 logfile=$2 lines=${3:-30}
    if [[ -s $logfile ]]; then
        log "last $lines lines of $logfile ($name):"
        tail -n "$lines" "$logfile" | sed 's/^/    /' >&2
    else
        log "$name wrote no log at $logfile"
    fi
}
