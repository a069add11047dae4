# Demo users, roles, buckets and blob containers for stack.sh, and the environment file that
# describes them. Sourced by stack.sh after ceph.sh and azurite.sh. Users are created with
# radosgw-admin, seed.py sets up the roles and the buckets through the S3 and IAM APIs, and
# seed-azurite.mjs uploads the workflow blobs. The fixture files are under fixtures/.

SEED_OWNER_USER=nhi-owner
SEED_SERVICE_USER=nhi-service
SEED_ROLE_NAME=nhi-remediation
SEED_PUBLIC_POLICY_BUCKET=nhi-demo-public-policy
SEED_PUBLIC_ACL_BUCKET=nhi-demo-public-acl
SEED_BYSTANDER_BUCKET=nhi-demo-bystander
# Read by the business workflows through sessions of the workflow role.
SEED_WORKFLOW_ROLE_NAME=nhi-workflow-read
SEED_BILLING_BUCKET=nhi-billing
SEED_DEPLOY_LOGS_BUCKET=nhi-deploy-logs
# Azurite blob containers. No workflow may read hr-records.
SEED_CLAIMS_CONTAINER=claims-documents
SEED_PATIENT_RECORDS_CONTAINER=patient-records
SEED_HR_RECORDS_CONTAINER=hr-records
SEED_FIXTURES_DIR=$SCRIPT_DIR/fixtures
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

# Print the value of KEY in the environment file, or nothing.
seed_env_value() {
    sed -n "s/^$1='\\(.*\\)'$/\\1/p" "$ENV_FILE"
}

# Succeed if the environment file names the roles and service key that radosgw has now. An environment
# file written before the workflow role existed is not current, so 'up' seeds the workflow fixtures.
seed_is_current() {
    local role_id workflow_role_id service_key
    [[ -s $ENV_FILE ]] || return 1
    role_id=$(seed_env_value NHI_REMEDIATION_ROLE_ID)
    workflow_role_id=$(seed_env_value NHI_WORKFLOW_ROLE_ID)
    service_key=$(seed_env_value NHI_SERVICE_ACCESS_KEY_ID)
    [[ -n $role_id && -n $workflow_role_id && -n $service_key ]] || return 1
    [[ $(radosgw-admin role get --role-name "$SEED_ROLE_NAME" 2>/dev/null | jq -r '.RoleId') == "$role_id" ]] || return 1
    [[ $(radosgw-admin role get --role-name "$SEED_WORKFLOW_ROLE_NAME" 2>/dev/null | jq -r '.RoleId') == "$workflow_role_id" ]] || return 1
    [[ $(seed_user_key "$SEED_SERVICE_USER" access_key 2>/dev/null) == "$service_key" ]]
}

# Print KEY='VALUE'. Single quotes keep values such as the connection string (which
# contains ';') intact when a shell sources the file with 'set -a; . stack.env'.
env_line() {
    local key=$1 value=$2
    [[ $value != *"'"* ]] || die "seed: the value of $key contains a single quote and cannot be written to $ENV_FILE"
    printf "%s='%s'\n" "$key" "$value"
}

# Write the environment file. ROLES_JSON is the output of seed.py.
seed_write_env_file() {
    local roles_json=$1 owner_key=$2 owner_secret=$3 service_key=$4 service_secret=$5
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
            env_line NHI_REMEDIATION_ROLE_ARN "$(jq -er '.RoleArn' <<<"$roles_json")"
            env_line NHI_REMEDIATION_ROLE_ID "$(jq -er '.RoleId' <<<"$roles_json")"
            env_line NHI_WORKFLOW_ROLE_NAME "$SEED_WORKFLOW_ROLE_NAME"
            env_line NHI_WORKFLOW_ROLE_ARN "$(jq -er '.WorkflowRoleArn' <<<"$roles_json")"
            env_line NHI_WORKFLOW_ROLE_ID "$(jq -er '.WorkflowRoleId' <<<"$roles_json")"
            env_line NHI_AZURE_STORAGE_CONNECTION_STRING "$(azurite_connection_string)"
            env_line NHI_DEMO_BUCKETS "$SEED_PUBLIC_POLICY_BUCKET,$SEED_PUBLIC_ACL_BUCKET"
            env_line NHI_BYSTANDER_BUCKET "$SEED_BYSTANDER_BUCKET"
            env_line NHI_BILLING_BUCKET "$SEED_BILLING_BUCKET"
            env_line NHI_DEPLOY_LOGS_BUCKET "$SEED_DEPLOY_LOGS_BUCKET"
            env_line NHI_CLAIMS_CONTAINER "$SEED_CLAIMS_CONTAINER"
            env_line NHI_PATIENT_RECORDS_CONTAINER "$SEED_PATIENT_RECORDS_CONTAINER"
            env_line NHI_HR_RECORDS_CONTAINER "$SEED_HR_RECORDS_CONTAINER"
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

# Upload the blobs under fixtures/blob to Azurite, one container per folder.
seed_azurite() {
    NHI_AZURE_STORAGE_CONNECTION_STRING=$(azurite_connection_string) \
        NHI_BLOB_FIXTURES_DIR=$SEED_FIXTURES_DIR/blob \
        NHI_BLOB_CONTAINERS=$SEED_CLAIMS_CONTAINER,$SEED_PATIENT_RECORDS_CONTAINER,$SEED_HR_RECORDS_CONTAINER \
        node "$SCRIPT_DIR/seed-azurite.mjs" || die "seed: seed-azurite.mjs failed (see the error above)"
}

# Create or reset users, roles, buckets and blob containers, check anonymous access, write the environment file.
seed_run() {
    local start=$EPOCHREALTIME
    local owner_key owner_secret service_key service_secret roles_json

    seed_ensure_user "$SEED_OWNER_USER" "Nhi.Serverless demo bucket owner"
    seed_ensure_user "$SEED_SERVICE_USER" "Nhi.Serverless service identity"
    # max-buckets -1 forbids creating buckets. The roles=* cap allows the IAM role API and AssumeRole.
    radosgw-admin user modify --uid "$SEED_SERVICE_USER" --max-buckets=-1 >/dev/null
    radosgw-admin caps add --uid "$SEED_SERVICE_USER" --caps 'roles=*' >/dev/null

    owner_key=$(seed_user_key "$SEED_OWNER_USER" access_key)
    owner_secret=$(seed_user_key "$SEED_OWNER_USER" secret_key)
    service_key=$(seed_user_key "$SEED_SERVICE_USER" access_key)
    service_secret=$(seed_user_key "$SEED_SERVICE_USER" secret_key)

    roles_json=$(
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
        NHI_WORKFLOW_ROLE_NAME=$SEED_WORKFLOW_ROLE_NAME \
        NHI_PUBLIC_POLICY_BUCKET=$SEED_PUBLIC_POLICY_BUCKET \
        NHI_PUBLIC_ACL_BUCKET=$SEED_PUBLIC_ACL_BUCKET \
        NHI_BYSTANDER_BUCKET=$SEED_BYSTANDER_BUCKET \
        NHI_WORKFLOW_BUCKETS=$SEED_BILLING_BUCKET,$SEED_DEPLOY_LOGS_BUCKET \
        NHI_S3_FIXTURES_DIR=$SEED_FIXTURES_DIR/s3 \
        "$PYTHON" "$SCRIPT_DIR/seed.py"
    ) || die "seed: seed.py failed (see the error above)"
    jq -e '.RoleArn and .RoleId and .WorkflowRoleArn and .WorkflowRoleId' <<<"$roles_json" >/dev/null ||
        die "seed: seed.py printed no ARN and RoleId for both roles: $roles_json"
    log "seed: roles $(jq -r '[.RoleArn, .WorkflowRoleArn] | join(" and ")' <<<"$roles_json") and buckets" \
        "$SEED_PUBLIC_POLICY_BUCKET, $SEED_PUBLIC_ACL_BUCKET, $SEED_BYSTANDER_BUCKET, $SEED_BILLING_BUCKET and" \
        "$SEED_DEPLOY_LOGS_BUCKET are reset"

    seed_check_anonymous_access
    seed_azurite
    seed_write_env_file "$roles_json" "$owner_key" "$owner_secret" "$service_key" "$service_secret"
    log "seed: wrote $ENV_FILE in $(elapsed_since "$start") s"
}
