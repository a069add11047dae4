# Demo users, role and buckets for stack.sh, and the environment file that describes them.
# Sourced by stack.sh after ceph.sh and azurite.sh. Users are created with radosgw-admin,
# and seed.py sets up the role and the buckets through the S3 and IAM APIs.

SEED_OWNER_USER=nhi-owner
SEED_SERVICE_USER=nhi-service
SEED_ROLE_NAME=nhi-remediation
SEED_PUBLIC_POLICY_BUCKET=nhi-demo-public-policy
SEED_PUBLIC_ACL_BUCKET=nhi-demo-public-acl
SEED_BYSTANDER_BUCKET=nhi-demo-bystander
# radosgw 16.2 accepted every region name tried in SigV4 signatures. us-east-1 lets
# SDKs create buckets without a LocationConstraint.
SEED_REGION=us-east-1
# Users without a tenant appear in radosgw ARNs with an empty account id, for example
# arn:aws:iam:::role/nhi-remediation.
SEED_ACCOUNT_ID=

# Create radosgw user UID unless it exists. Extra arguments go to 'user create'.
seed_ensure_user() {
    local uid=$1 display_name=$2
    shift 2
    if ! radosgw-admin user info --uid "$uid" >/dev/null 2>&1; then
        radosgw-admin user create --uid "$uid" --display-name "$display_name" "$@" >/dev/null
        log "seed: created user $uid"
    fi
}

# Print the first S3 access key id of user UID, or its secret with FIELD=secret_key.
seed_user_key() {
    local uid=$1 field=$2
    radosgw-admin user info --uid "$uid" | jq -er ".keys[0].$field"
}

# Print the HTTP status of an unsigned GET of PATH on radosgw.
anonymous_get_status() {
    curl -s -o /dev/null --max-time 5 -w '%{http_code}' "http://127.0.0.1:$RGW_PORT/$1"
}

# Fail unless anonymous clients can read the public buckets' objects and not the bystander's.
seed_check_anonymous_access() {
    local path status
    for path in "$SEED_PUBLIC_POLICY_BUCKET/index.html" "$SEED_PUBLIC_ACL_BUCKET/index.html"; do
        status=$(anonymous_get_status "$path")
        [[ $status == 200 ]] || die "seed: anonymous GET /$path returned HTTP $status, expected 200 (the object should be public)"
    done
    path="$SEED_BYSTANDER_BUCKET/keep.txt"
    status=$(anonymous_get_status "$path")
    [[ $status == 403 ]] || die "seed: anonymous GET /$path returned HTTP $status, expected 403 (the object should be private)"
    log "seed: anonymous GET returns 200 for both public index.html objects and 403 for $path"
}

# Succeed if the environment file names the role and service key that radosgw has now.
seed_is_current() {
    local role_id service_key
    [[ -s $ENV_FILE ]] || return 1
    role_id=$(sed -n "s/^NHI_REMEDIATION_ROLE_ID='\\(.*\\)'$/\\1/p" "$ENV_FILE")
    service_key=$(sed -n "s/^NHI_SERVICE_ACCESS_KEY_ID='\\(.*\\)'$/\\1/p" "$ENV_FILE")
    [[ -n $role_id && -n $service_key ]] || return 1
    [[ $(radosgw-admin role get --role-name "$SEED_ROLE_NAME" 2>/dev/null | jq -r '.RoleId') == "$role_id" ]] || return 1
    [[ $(seed_user_key "$SEED_SERVICE_USER" access_key 2>/dev/null) == "$service_key" ]]
}

# Print KEY='VALUE'. Single quotes keep values such as the connection string (which
# contains ';') intact when a shell sources the file with 'set -a; . stack.env'.
env_line() {
    local key=$1 value=$2
    [[ $value != *"'"* ]] || die "seed: the value of $key contains a single quote and cannot be written to $ENV_FILE"
    printf "%s='%s'\n" "$key" "$value"
}

seed_write_env_file() {
    local role_arn=$1 role_id=$2 owner_key=$3 owner_secret=$4 service_key=$5 service_secret=$6
    local endpoint="http://127.0.0.1:$RGW_PORT"
    (
        umask 077
        {
            printf '# Local stack settings, written by infra/local/stack.sh seed. Contains secret keys.\n'
            env_line NHI_S3_ENDPOINT "$endpoint"
            env_line NHI_STS_ENDPOINT "$endpoint"
            env_line NHI_IAM_ENDPOINT "$endpoint"
            env_line NHI_AWS_REGION "$SEED_REGION"
            env_line NHI_AWS_PARTITION aws
            env_line NHI_AWS_ACCOUNT_ID "$SEED_ACCOUNT_ID"
            env_line NHI_SERVICE_ACCESS_KEY_ID "$service_key"
            env_line NHI_SERVICE_SECRET_ACCESS_KEY "$service_secret"
            env_line NHI_OWNER_ACCESS_KEY_ID "$owner_key"
            env_line NHI_OWNER_SECRET_ACCESS_KEY "$owner_secret"
            env_line NHI_REMEDIATION_ROLE_NAME "$SEED_ROLE_NAME"
            env_line NHI_REMEDIATION_ROLE_ARN "$role_arn"
            env_line NHI_REMEDIATION_ROLE_ID "$role_id"
            env_line NHI_AZURE_STORAGE_CONNECTION_STRING "$(azurite_connection_string)"
            env_line NHI_DEMO_BUCKETS "$SEED_PUBLIC_POLICY_BUCKET,$SEED_PUBLIC_ACL_BUCKET"
            env_line NHI_BYSTANDER_BUCKET "$SEED_BYSTANDER_BUCKET"
            seed_service_env_lines
        } >"$ENV_FILE.tmp"
    )
    mv "$ENV_FILE.tmp" "$ENV_FILE"
}

# Print the environment lines of PostgreSQL, the OAuth server, the partner APIs and dynalite, which need no
# seeding in Ceph.
seed_service_env_lines() {
    postgres_env_lines
    oauth_env_lines
    partners_env_lines
    dynalite_env_lines
}

# Rewrite the PostgreSQL, OAuth, partner API and dynalite lines of the environment file and keep the Ceph and
# Azurite lines.
seed_refresh_service_env() {
    (
        umask 077
        {
            grep -v -E '^NHI_(POSTGRES|OAUTH|PARTNER|DYNAMODB)_' "$ENV_FILE"
            seed_service_env_lines
        } >"$ENV_FILE.tmp"
    )
    mv "$ENV_FILE.tmp" "$ENV_FILE"
}

# Create or reset users, role and buckets, check anonymous access, write the environment file.
seed_run() {
    local start=$EPOCHREALTIME
    local owner_key owner_secret service_key service_secret role_json role_arn role_id

    seed_ensure_user "$SEED_OWNER_USER" "Nhi.Serverless demo bucket owner"
    seed_ensure_user "$SEED_SERVICE_USER" "Nhi.Serverless service identity"
    # max-buckets -1 forbids creating buckets. The roles=* cap allows the IAM role API and AssumeRole.
    radosgw-admin user modify --uid "$SEED_SERVICE_USER" --max-buckets=-1 >/dev/null
    radosgw-admin caps add --uid "$SEED_SERVICE_USER" --caps 'roles=*' >/dev/null

    owner_key=$(seed_user_key "$SEED_OWNER_USER" access_key)
    owner_secret=$(seed_user_key "$SEED_OWNER_USER" secret_key)
    service_key=$(seed_user_key "$SEED_SERVICE_USER" access_key)
    service_secret=$(seed_user_key "$SEED_SERVICE_USER" secret_key)

    role_json=$(
        NHI_S3_ENDPOINT="http://127.0.0.1:$RGW_PORT" \
        NHI_AWS_REGION=$SEED_REGION \
        NHI_AWS_ACCOUNT_ID=$SEED_ACCOUNT_ID \
        NHI_OWNER_USER=$SEED_OWNER_USER \
        NHI_SERVICE_USER=$SEED_SERVICE_USER \
        NHI_OWNER_ACCESS_KEY_ID=$owner_key \
        NHI_OWNER_SECRET_ACCESS_KEY=$owner_secret \
        NHI_SERVICE_ACCESS_KEY_ID=$service_key \
        NHI_SERVICE_SECRET_ACCESS_KEY=$service_secret \
        NHI_REMEDIATION_ROLE_NAME=$SEED_ROLE_NAME \
        NHI_PUBLIC_POLICY_BUCKET=$SEED_PUBLIC_POLICY_BUCKET \
        NHI_PUBLIC_ACL_BUCKET=$SEED_PUBLIC_ACL_BUCKET \
        NHI_BYSTANDER_BUCKET=$SEED_BYSTANDER_BUCKET \
        "$PYTHON" "$SCRIPT_DIR/seed.py"
    ) || die "seed: seed.py failed (see the error above)"
    role_arn=$(jq -er '.RoleArn' <<<"$role_json")
    role_id=$(jq -er '.RoleId' <<<"$role_json")
    log "seed: role $role_arn (RoleId $role_id) and buckets $SEED_PUBLIC_POLICY_BUCKET, $SEED_PUBLIC_ACL_BUCKET, $SEED_BYSTANDER_BUCKET are reset"

    seed_check_anonymous_access
    seed_write_env_file "$role_arn" "$role_id" "$owner_key" "$owner_secret" "$service_key" "$service_secret"
    log "seed: wrote $ENV_FILE in $(elapsed_since "$start") s"
}
