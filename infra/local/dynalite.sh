# dynalite (npm, a DynamoDB API implementation on LevelDB) for stack.sh: the tables of the AWS Lambda
# host (run leases, grant ledger, parked records). Sourced by stack.sh after lib.sh. The npm package is
# pinned in infra/local/package.json and installed into infra/local/node_modules, next to Azurite.
#
# dynalite 4.0.0 does not implement TransactWriteItems, TransactGetItems or UpdateTimeToLive; the code
# that uses these tables needs none of them.

DYNALITE_BIN=$SCRIPT_DIR/node_modules/dynalite/cli.js
DYNALITE_DATA_DIR=$STACK_DIR/dynalite
DYNALITE_PIDFILE=$STACK_DIR/dynalite.pid
DYNALITE_LOG=$STACK_DIR/dynalite.log
DYNALITE_ENDPOINT=http://127.0.0.1:$DYNALITE_PORT

# Print the dynalite version that package.json pins.
dynalite_pinned_version() {
    jq -r '.dependencies.dynalite' "$SCRIPT_DIR/package.json"
}

dynalite_installed() {
    local installed
    command -v node >/dev/null || return 1
    [[ -f $DYNALITE_BIN ]] || return 1
    installed=$(jq -r '.version' "$SCRIPT_DIR/node_modules/dynalite/package.json" 2>/dev/null) || return 1
    [[ $installed == "$(dynalite_pinned_version)" ]]
}

dynalite_install() {
    if dynalite_installed; then
        log "dynalite: $(dynalite_pinned_version) already installed in $SCRIPT_DIR/node_modules"
        return 0
    fi
    command -v npm >/dev/null || die "npm not found. Install Node.js 20 or later, then rerun 'stack.sh install'."
    log "dynalite: installing $(dynalite_pinned_version) from package-lock.json"
    # 'npm install' rather than 'npm ci', which deletes node_modules under a running Azurite.
    # --no-save leaves package.json and package-lock.json unchanged.
    (cd "$SCRIPT_DIR" && npm install --no-save --no-audit --no-fund --loglevel=error)
}

# Any HTTP status means dynalite is up, because it rejects an unsigned GET with 400.
dynalite_ready() {
    local code
    code=$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "$DYNALITE_ENDPOINT/") || true
    [[ -n $code && $code != 000 ]]
}

# Fail if the port that a stopped dynalite needs is taken by another process.
dynalite_check_ports() {
    if ! live_pid "$DYNALITE_PIDFILE" >/dev/null; then
        require_free_port "$DYNALITE_PORT" "dynalite (NHI_DYNALITE_PORT)"
    fi
}

# Start dynalite in its own session with a pid file, unless it is running. Tables persist in
# $DYNALITE_DATA_DIR across restarts. Tables leave the CREATING state after 50 ms instead of the
# default 500 ms, so tests start sooner.
dynalite_start() {
    mkdir -p "$DYNALITE_DATA_DIR"
    start_daemon dynalite "$DYNALITE_PIDFILE" "$DYNALITE_LOG" dynalite_ready "dynalite on $DYNALITE_ENDPOINT" \
        node "$DYNALITE_BIN" \
        --host 127.0.0.1 --port "$DYNALITE_PORT" --path "$DYNALITE_DATA_DIR" \
        --createTableMs 50 --deleteTableMs 50 --updateTableMs 50
}

dynalite_stop() {
    stop_pidfile dynalite "$DYNALITE_PIDFILE" 10
}

# Print the stack.env lines of dynalite.
dynalite_env_lines() {
    env_line NHI_DYNAMODB_ENDPOINT "$DYNALITE_ENDPOINT"
}
