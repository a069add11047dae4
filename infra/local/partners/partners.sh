# Partner APIs (credit bureau, fraud screening, insurer) for stack.sh, run by server.mjs on Node.js built-ins.
# Sourced by stack.sh after lib.sh and oauth/oauth.sh: the server introspects tokens at the local authorization
# server with its partner-api client.

PARTNER_SCRIPT=$SCRIPT_DIR/partners/server.mjs
PARTNER_FIXTURES=$SCRIPT_DIR/partners/fixtures.json
PARTNER_DIR=$STACK_DIR/partners
# Only the introspection client's id and secret, so the server never reads the broker's secret.
PARTNER_CLIENT_FILE=$PARTNER_DIR/client.json
PARTNER_PIDFILE=$STACK_DIR/partners.pid
PARTNER_LOG=$STACK_DIR/partners.log
PARTNER_BASE_URL=http://127.0.0.1:$PARTNER_PORT

# The server uses only Node.js built-ins, from version 20 on (global fetch, AbortSignal.timeout).
partners_installed() {
    command -v node >/dev/null || return 1
    node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'
}

partners_ready() {
    local code
    code=$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "$PARTNER_BASE_URL/healthz") || true
    [[ $code == 200 ]]
}

# Fail if the port that stopped partner APIs need is taken by another process.
partners_check_ports() {
    if ! live_pid "$PARTNER_PIDFILE" >/dev/null; then
        require_free_port "$PARTNER_PORT" "the partner APIs (NHI_PARTNER_PORT)"
    fi
}

# Write the introspection client file (mode 0600) from the authorization server's clients file.
partners_write_client_file() {
    mkdir -p "$PARTNER_DIR"
    (
        umask 077
        jq '{clientId: .partnerClientId, clientSecret: .partnerClientSecret}' "$OAUTH_CLIENTS_FILE" >"$PARTNER_CLIENT_FILE.tmp"
    )
    mv "$PARTNER_CLIENT_FILE.tmp" "$PARTNER_CLIENT_FILE"
}

# Start the partner APIs in their own session with a pid file, unless they are running. They return 503 while the
# authorization server is down.
partners_start() {
    partners_write_client_file
    start_daemon partners "$PARTNER_PIDFILE" "$PARTNER_LOG" partners_ready "partner APIs on $PARTNER_BASE_URL" \
        env NHI_PARTNER_PORT="$PARTNER_PORT" NHI_OAUTH_ISSUER="$OAUTH_ISSUER" \
        NHI_PARTNER_CLIENT_FILE="$PARTNER_CLIENT_FILE" NHI_PARTNER_FIXTURES="$PARTNER_FIXTURES" \
        node "$PARTNER_SCRIPT"
}

partners_stop() {
    stop_pidfile partners "$PARTNER_PIDFILE" 10
}

# Print the stack.env lines of the partner APIs.
partners_env_lines() {
    env_line NHI_PARTNER_BASE_URL "$PARTNER_BASE_URL"
}
