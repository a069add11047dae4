# Local OAuth 2.0 authorization server (npm oidc-provider, run by server.mjs) for stack.sh.
# Sourced by stack.sh after lib.sh. The npm package is pinned in infra/local/package.json and
# installed into infra/local/node_modules, next to Azurite.

OAUTH_SCRIPT=$SCRIPT_DIR/oauth/server.mjs
OAUTH_DIR=$STACK_DIR/oauth
OAUTH_CLIENTS_FILE=$OAUTH_DIR/clients.json
OAUTH_PIDFILE=$STACK_DIR/oauth.pid
OAUTH_LOG=$STACK_DIR/oauth.log
OAUTH_ISSUER=http://127.0.0.1:$OAUTH_PORT
OAUTH_BROKER_CLIENT_ID=nhi-broker
OAUTH_PARTNER_CLIENT_ID=partner-api

# Print the oidc-provider version that package.json pins.
oauth_pinned_version() {
    jq -r '.dependencies["oidc-provider"]' "$SCRIPT_DIR/package.json"
}

oauth_installed() {
    local installed
    command -v node >/dev/null || return 1
    installed=$(jq -r '.version' "$SCRIPT_DIR/node_modules/oidc-provider/package.json" 2>/dev/null) || return 1
    [[ $installed == "$(oauth_pinned_version)" ]]
}

oauth_install() {
    if oauth_installed; then
        log "oauth: oidc-provider $(oauth_pinned_version) already installed in $SCRIPT_DIR/node_modules"
        return 0
    fi
    command -v npm >/dev/null || die "npm not found. Install Node.js 20 or later, then rerun 'stack.sh install'."
    log "oauth: installing oidc-provider $(oauth_pinned_version) from package-lock.json"
    # 'npm install' rather than 'npm ci': ci deletes node_modules first, which would pull Azurite's files
    # away from under a running Azurite. --no-save leaves package.json and package-lock.json unchanged.
    (cd "$SCRIPT_DIR" && npm install --no-save --no-audit --no-fund --loglevel=error)
}

# Print a random secret of 43 URL-safe characters (32 bytes).
oauth_random_secret() {
    head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'
}

# Create the clients file (mode 0600) with fresh secrets unless it exists. The secrets stay the same
# across restarts, so stack.env remains valid.
oauth_ensure_clients_file() {
    mkdir -p "$OAUTH_DIR"
    [[ -s $OAUTH_CLIENTS_FILE ]] && return 0
    (
        umask 077
        jq -n \
            --arg brokerClientId "$OAUTH_BROKER_CLIENT_ID" \
            --arg brokerClientSecret "$(oauth_random_secret)" \
            --arg partnerClientId "$OAUTH_PARTNER_CLIENT_ID" \
            --arg partnerClientSecret "$(oauth_random_secret)" \
            '{brokerClientId: $brokerClientId, brokerClientSecret: $brokerClientSecret, partnerClientId: $partnerClientId, partnerClientSecret: $partnerClientSecret}' \
            >"$OAUTH_CLIENTS_FILE.tmp"
    )
    mv "$OAUTH_CLIENTS_FILE.tmp" "$OAUTH_CLIENTS_FILE"
    log "oauth: wrote client secrets to $OAUTH_CLIENTS_FILE"
}

# Print FIELD of the clients file, such as brokerClientSecret.
oauth_client_value() {
    jq -er ".$1" "$OAUTH_CLIENTS_FILE"
}

oauth_ready() {
    local code
    code=$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "$OAUTH_ISSUER/.well-known/openid-configuration") || true
    [[ $code == 200 ]]
}

# Fail if the port that a stopped authorization server needs is taken by another process.
oauth_check_ports() {
    if ! live_pid "$OAUTH_PIDFILE" >/dev/null; then
        require_free_port "$OAUTH_PORT" "the OAuth authorization server (NHI_OAUTH_PORT)"
    fi
}

# Start the authorization server in its own session with a pid file, unless it is running.
oauth_start() {
    oauth_ensure_clients_file
    start_daemon oauth "$OAUTH_PIDFILE" "$OAUTH_LOG" oauth_ready "oauth on $OAUTH_ISSUER" \
        env NHI_OAUTH_PORT="$OAUTH_PORT" NHI_OAUTH_CLIENTS_FILE="$OAUTH_CLIENTS_FILE" node "$OAUTH_SCRIPT"
}

oauth_stop() {
    stop_pidfile oauth "$OAUTH_PIDFILE" 10
}

# Print the stack.env lines of the authorization server. The clients file must exist.
oauth_env_lines() {
    env_line NHI_OAUTH_ISSUER "$OAUTH_ISSUER"
    env_line NHI_OAUTH_CLIENT_ID "$(oauth_client_value brokerClientId)"
    env_line NHI_OAUTH_CLIENT_SECRET "$(oauth_client_value brokerClientSecret)"
    env_line NHI_OAUTH_PARTNER_CLIENT_ID "$(oauth_client_value partnerClientId)"
    env_line NHI_OAUTH_PARTNER_CLIENT_SECRET "$(oauth_client_value partnerClientSecret)"
}
