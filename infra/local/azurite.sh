# Azurite (Azure Blob, Queue and Table Storage emulator) for stack.sh.
# Sourced by stack.sh after lib.sh. The npm package is pinned in package.json next to
# this file and installed into node_modules there.

AZURITE_BIN=$SCRIPT_DIR/node_modules/.bin/azurite
AZURITE_DATA_DIR=$STACK_DIR/azurite
AZURITE_PIDFILE=$STACK_DIR/azurite.pid
AZURITE_LOG=$STACK_DIR/azurite.log

# Print the azurite version that package.json pins.
azurite_pinned_version() {
    jq -r '.dependencies.azurite' "$SCRIPT_DIR/package.json"
}

azurite_installed() {
    local installed
    [[ -x $AZURITE_BIN ]] || return 1
    installed=$(jq -r '.version' "$SCRIPT_DIR/node_modules/azurite/package.json" 2>/dev/null) || return 1
    [[ $installed == "$(azurite_pinned_version)" ]]
}

azurite_install() {
    if azurite_installed; then
        log "azurite: $(azurite_pinned_version) already installed in $SCRIPT_DIR/node_modules"
        return 0
    fi
    command -v npm >/dev/null || die "npm not found. Install Node.js 20 or later, then rerun 'stack.sh install'."
    log "azurite: installing $(azurite_pinned_version) with npm ci"
    # Azurite 3.37.0 declares node >= 22 but runs on node 20, so npm's EBADENGINE warning is expected.
    (cd "$SCRIPT_DIR" && npm ci --no-audit --no-fund --loglevel=error)
}

azurite_port_responds() {
    local port=$1 code
    code=$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "http://127.0.0.1:$port/devstoreaccount1?comp=list") || true
    [[ -n $code && $code != 000 ]]
}

azurite_ready() {
    azurite_port_responds "$AZURITE_BLOB_PORT" &&
        azurite_port_responds "$AZURITE_QUEUE_PORT" &&
        azurite_port_responds "$AZURITE_TABLE_PORT"
}

# Fail if a port that a stopped Azurite needs is taken by another process.
azurite_check_ports() {
    if ! live_pid "$AZURITE_PIDFILE" >/dev/null; then
        require_free_port "$AZURITE_BLOB_PORT" "Azurite Blob (NHI_AZURITE_BLOB_PORT)"
        require_free_port "$AZURITE_QUEUE_PORT" "Azurite Queue (NHI_AZURITE_QUEUE_PORT)"
        require_free_port "$AZURITE_TABLE_PORT" "Azurite Table (NHI_AZURITE_TABLE_PORT)"
    fi
}

# Start Azurite in its own session with a pid file, unless it is running.
azurite_start() {
    mkdir -p "$AZURITE_DATA_DIR"
    start_daemon azurite "$AZURITE_PIDFILE" "$AZURITE_LOG" azurite_ready \
        "azurite on 127.0.0.1:$AZURITE_BLOB_PORT/$AZURITE_QUEUE_PORT/$AZURITE_TABLE_PORT" \
        "$AZURITE_BIN" \
        --blobHost 127.0.0.1 --blobPort "$AZURITE_BLOB_PORT" \
        --queueHost 127.0.0.1 --queuePort "$AZURITE_QUEUE_PORT" \
        --tableHost 127.0.0.1 --tablePort "$AZURITE_TABLE_PORT" \
        --location "$AZURITE_DATA_DIR" \
        --disableTelemetry --skipApiVersionCheck
}

azurite_stop() {
    stop_pidfile azurite "$AZURITE_PIDFILE" 10
}

# Print the connection string for Azurite's well-known development account.
azurite_connection_string() {
    # devstoreaccount1 and this key are the fixed development credentials that Azurite
    # and the Azure Storage SDKs document. They grant access to the local emulator only.
    local key='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
    printf 'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=%s;BlobEndpoint=http://127.0.0.1:%s/devstoreaccount1;QueueEndpoint=http://127.0.0.1:%s/devstoreaccount1;TableEndpoint=http://127.0.0.1:%s/devstoreaccount1;' \
        "$key" "$AZURITE_BLOB_PORT" "$AZURITE_QUEUE_PORT" "$AZURITE_TABLE_PORT"
}
