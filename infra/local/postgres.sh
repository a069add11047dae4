# Throwaway PostgreSQL cluster for stack.sh: the database that the PostgreSQL credential broker
# issues ephemeral roles on. Sourced by stack.sh after lib.sh.
#
# The cluster lives in $POSTGRES_DIR/data, listens on 127.0.0.1 only, and is created by initdb and
# run by pg_ctl, so the Debian system cluster (if any) is never touched. PostgreSQL refuses to run as
# root, so when stack.sh runs as root the server and initdb run as the 'postgres' system user that the
# Debian package creates.
#
# Roles created on first start:
#   app_owner      NOLOGIN. Owns database erp, its schemas erp, loans and app, and every table.
#   nhi_ephemeral  NOLOGIN, no privileges. Every role the broker issues is a direct member, which is how
#                  the event trigger and nhi.reassign_owned recognize them.
#   nhi_broker     The broker's standing login. What it holds, and why each item is the least it needs:
#                  - CREATEROLE, to create, alter and drop the per-grant roles and to grant them
#                    membership in nhi_ephemeral. On PostgreSQL 15 CREATEROLE also lets it alter any
#                    non-superuser role and grant itself membership in one (app_owner included), so
#                    protect this login like app_owner. PostgreSQL 16 limits CREATEROLE to the roles
#                    that the creator administers.
#                  - CONNECT on erp WITH GRANT OPTION, because PUBLIC has no CONNECT or TEMPORARY there.
#                  - USAGE on schemas erp and loans and SELECT on invoices, payment_history, applicants
#                    and credit_history, each WITH GRANT OPTION: PostgreSQL lets only the owner or a
#                    holder of the grant option grant a privilege. It has nothing on erp.vendors, so no
#                    grant it issues can read that table.
#                  - SELECT on invoice_batches and on the view vendor_bank_changes WITH GRANT OPTION,
#                    from the workflow fixtures (fixtures/postgres-workflows.sql) that RPA invoice checks read.
#                  - USAGE and CREATE on schema app WITH GRANT OPTION, for schema-change grants.
#                  - EXECUTE on nhi.reassign_owned, so it can hand leftovers of a revoked role to
#                    app_owner without being a member of app_owner.
#                  The broker also grants itself membership in each role it creates, which
#                  pg_terminate_backend and DROP OWNED need.
# NOTE: this setup runs on PostgreSQL 15 only. On 16 and later, nhi_broker would also need ADMIN
# OPTION on nhi_ephemeral to grant membership in it; that version was not tried here.

POSTGRES_DIR=$STACK_DIR/postgres
POSTGRES_DATA_DIR=$POSTGRES_DIR/data
POSTGRES_RUN_DIR=$POSTGRES_DIR/run
POSTGRES_LOG_DIR=$POSTGRES_DIR/log
POSTGRES_LOG=$POSTGRES_LOG_DIR/postgres.log
POSTGRES_PIDFILE=$STACK_DIR/postgres.pid
POSTGRES_PASSWORD_FILE=$POSTGRES_DIR/nhi_broker.password
POSTGRES_DATABASE=erp
POSTGRES_BROKER_ROLE=nhi_broker
POSTGRES_OWNER_ROLE=app_owner
POSTGRES_PACKAGES=(postgresql)

# Print the bin folder of the newest PostgreSQL server installed from Debian packages.
postgres_bin_dir() {
    local dir
    dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
    [[ -n $dir ]] || return 1
    printf '%s\n' "$dir"
}

postgres_installed() {
    local bin tool
    bin=$(postgres_bin_dir) || return 1
    for tool in initdb pg_ctl postgres psql pg_isready; do
        [[ -x $bin/$tool ]] || return 1
    done
}

# Install Debian's postgresql package if it is missing. The package also creates a system cluster;
# stack.sh never starts or uses it.
postgres_install() {
    if postgres_installed; then
        log "postgres: server already installed in $(postgres_bin_dir)"
        return 0
    fi
    command -v apt-get >/dev/null || die "apt-get not found. Install PostgreSQL 15 or later with this system's package manager."
    if ((EUID != 0)); then
        die "installing ${POSTGRES_PACKAGES[*]} needs root. Run 'sudo $0 install'."
    fi
    log "postgres: installing ${POSTGRES_PACKAGES[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${POSTGRES_PACKAGES[@]}"
}

# Run a command as the cluster's owner: the 'postgres' user when stack.sh runs as root, else the caller.
postgres_as_owner() {
    if ((EUID == 0)); then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# Run psql as the cluster's superuser over the Unix socket (peer authentication).
postgres_psql() {
    postgres_as_owner "$(postgres_bin_dir)/psql" -X -q -v ON_ERROR_STOP=1 \
        -h "$POSTGRES_RUN_DIR" -p "$POSTGRES_PORT" "$@"
}

postgres_ready() {
    "$(postgres_bin_dir)/pg_isready" -q -h 127.0.0.1 -p "$POSTGRES_PORT" -d postgres
}

# Fail if the port that a stopped cluster needs is taken by another process.
postgres_check_ports() {
    if ! live_pid "$POSTGRES_PIDFILE" >/dev/null; then
        require_free_port "$POSTGRES_PORT" "PostgreSQL (NHI_POSTGRES_PORT)"
    fi
}

# Create the cluster with initdb unless it exists.
postgres_init_cluster() {
    local owner
    [[ -s $POSTGRES_DATA_DIR/PG_VERSION ]] && return 0
    owner=$(id -un)
    ((EUID == 0)) && owner=postgres
    mkdir -p "$POSTGRES_DIR" "$POSTGRES_DATA_DIR" "$POSTGRES_RUN_DIR" "$POSTGRES_LOG_DIR"
    chown "$owner" "$POSTGRES_DATA_DIR" "$POSTGRES_RUN_DIR" "$POSTGRES_LOG_DIR"
    chmod 700 "$POSTGRES_DATA_DIR"
    log "postgres: creating a cluster in $POSTGRES_DATA_DIR"
    postgres_as_owner "$(postgres_bin_dir)/initdb" -D "$POSTGRES_DATA_DIR" --no-locale -E UTF8 \
        --auth-local=peer --auth-host=scram-sha-256 >>"$POSTGRES_LOG_DIR/initdb.log" 2>&1 ||
        die "postgres: initdb failed; see $POSTGRES_LOG_DIR/initdb.log"
    printf "\ninclude 'nhi.conf'\n" | postgres_as_owner tee -a "$POSTGRES_DATA_DIR/postgresql.conf" >/dev/null
}

# Write nhi.conf from the current port setting; postgresql.conf includes it.
postgres_write_conf() {
    postgres_as_owner tee "$POSTGRES_DATA_DIR/nhi.conf" >/dev/null <<EOF
# Generated by infra/local/stack.sh on every start, so edits are overwritten.
listen_addresses = '127.0.0.1'
port = $POSTGRES_PORT
unix_socket_directories = '$POSTGRES_RUN_DIR'
password_encryption = 'scram-sha-256'
# A throwaway cluster: losing data in a crash is acceptable, and skipping fsync makes tests faster.
fsync = off
synchronous_commit = off
full_page_writes = off
log_connections = on
log_disconnections = on
log_line_prefix = '%m [%p] %q%u@%d '
EOF
}

# Start the cluster unless it is running, then create the roles and database on first start.
# Calls start_failed (from stack.sh) when it does not become ready.
postgres_start() {
    local pid
    if pid=$(live_pid "$POSTGRES_PIDFILE") && postgres_ready; then
        log "postgres: already running (pid $pid)"
        # A cluster created by an older stack.sh gets the workflow fixtures here.
        postgres_seed
        return 0
    fi
    if [[ -z $pid ]]; then
        postgres_init_cluster
        postgres_write_conf
        rm -f "$POSTGRES_PIDFILE"
        # pg_ctl detaches the server and waits until it accepts connections; fd 9 (the stack lock)
        # must not leak into the server.
        postgres_as_owner "$(postgres_bin_dir)/pg_ctl" -D "$POSTGRES_DATA_DIR" -l "$POSTGRES_LOG" -w -t 30 start \
            </dev/null >/dev/null 2>&1 9>&- || start_failed postgres "$POSTGRES_LOG"
        # The first line of postmaster.pid is the server's pid; lib.sh's pid file helpers expect only that.
        head -n 1 "$POSTGRES_DATA_DIR/postmaster.pid" >"$POSTGRES_PIDFILE"
        started postgres "$POSTGRES_PIDFILE"
    fi
    wait_until "postgres on 127.0.0.1:$POSTGRES_PORT" 30 postgres_ready || start_failed postgres "$POSTGRES_LOG"
    postgres_seed
}

# Stop with a fast shutdown, which ends open sessions; SIGTERM alone waits for every client to leave.
postgres_stop() {
    if live_pid "$POSTGRES_PIDFILE" >/dev/null && [[ -s $POSTGRES_DATA_DIR/postmaster.pid ]]; then
        postgres_as_owner "$(postgres_bin_dir)/pg_ctl" -D "$POSTGRES_DATA_DIR" -m fast -t 20 stop >/dev/null 2>&1 ||
            log "postgres: pg_ctl stop failed; sending signals instead"
    fi
    stop_pidfile postgres "$POSTGRES_PIDFILE" 20
}

# Print the password of nhi_broker, creating it (mode 0600) on first use.
postgres_broker_password() {
    if [[ ! -s $POSTGRES_PASSWORD_FILE ]]; then
        (umask 077 && head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$POSTGRES_PASSWORD_FILE")
    fi
    cat "$POSTGRES_PASSWORD_FILE"
}

# Create the roles, the erp database, its tables and the ownership hand-over unless erp exists, then add
# the workflow fixtures unless they are there.
postgres_seed() {
    local exists
    exists=$(postgres_psql -d postgres -tA -c "SELECT 1 FROM pg_database WHERE datname = '$POSTGRES_DATABASE'")
    if [[ $exists != 1 ]]; then
        postgres_create_database
    fi
    postgres_seed_workflows
}

# Add the tables and rows of fixtures/postgres-workflows.sql in one transaction, unless erp.invoice_batches exists.
postgres_seed_workflows() {
    local exists
    exists=$(postgres_psql -d "$POSTGRES_DATABASE" -tA -c "SELECT to_regclass('erp.invoice_batches') IS NOT NULL")
    if [[ $exists == t ]]; then
        return 0
    fi
    log "postgres: adding the workflow fixtures (invoice batch 2026-11-B1, loan applicants 3 to 6)"
    postgres_psql -d "$POSTGRES_DATABASE" --single-transaction <"$SCRIPT_DIR/fixtures/postgres-workflows.sql" ||
        die "postgres: adding the workflow fixtures failed (see the psql error above); nothing was changed"
}

# Create the roles, the erp database, its tables and the ownership hand-over.
postgres_create_database() {
    log "postgres: creating roles $POSTGRES_OWNER_ROLE, nhi_ephemeral, $POSTGRES_BROKER_ROLE and database $POSTGRES_DATABASE"
    # The password travels in the environment, not on a command line that 'ps' would show.
    NHI_POSTGRES_BROKER_PASSWORD=$(postgres_broker_password) postgres_psql -d postgres <<'SQL' ||
\getenv broker_password NHI_POSTGRES_BROKER_PASSWORD
CREATE ROLE app_owner NOLOGIN;
CREATE ROLE nhi_ephemeral NOLOGIN;
CREATE ROLE nhi_broker LOGIN CREATEROLE PASSWORD :'broker_password';
CREATE DATABASE erp OWNER app_owner;
-- Only roles granted CONNECT may log in to erp, and nobody may create temporary tables there.
REVOKE ALL ON DATABASE erp FROM PUBLIC;
GRANT CONNECT ON DATABASE erp TO nhi_broker WITH GRANT OPTION;

\connect erp
REVOKE ALL ON SCHEMA public FROM PUBLIC;

SET ROLE app_owner;
CREATE SCHEMA erp;
CREATE SCHEMA loans;
CREATE SCHEMA app;

CREATE TABLE erp.vendors (
    id integer PRIMARY KEY,
    name text NOT NULL,
    iban text NOT NULL
);
CREATE TABLE erp.invoices (
    id integer PRIMARY KEY,
    vendor_id integer NOT NULL REFERENCES erp.vendors (id),
    amount numeric(12, 2) NOT NULL,
    currency char(3) NOT NULL,
    due_date date NOT NULL,
    status text NOT NULL
);
CREATE TABLE erp.payment_history (
    id integer PRIMARY KEY,
    invoice_id integer NOT NULL REFERENCES erp.invoices (id),
    paid_at timestamptz NOT NULL,
    amount numeric(12, 2) NOT NULL
);
CREATE TABLE loans.applicants (
    id integer PRIMARY KEY,
    full_name text NOT NULL,
    requested_amount numeric(12, 2) NOT NULL
);
CREATE TABLE loans.credit_history (
    id integer PRIMARY KEY,
    applicant_id integer NOT NULL REFERENCES loans.applicants (id),
    score integer NOT NULL,
    reported_at date NOT NULL
);

INSERT INTO erp.vendors VALUES
    (1, 'Northwind Traders', 'DE89370400440532013000'),
    (2, 'Contoso Supplies', 'GB29NWBK60161331926819');
INSERT INTO erp.invoices VALUES
    (1001, 1, 1250.00, 'EUR', '2026-01-31', 'open'),
    (1002, 2, 980.50, 'GBP', '2026-02-15', 'open'),
    (1003, 1, 310.00, 'EUR', '2025-12-31', 'paid');
INSERT INTO erp.payment_history VALUES
    (1, 1003, '2025-12-20 10:15:00+00', 310.00);
INSERT INTO loans.applicants VALUES
    (1, 'Ada Example', 25000.00),
    (2, 'Ben Sample', 12000.00);
INSERT INTO loans.credit_history VALUES
    (1, 1, 742, '2025-11-01'),
    (2, 2, 655, '2025-10-15');
RESET ROLE;

-- A superuser's GRANT is recorded as made by the object's owner, app_owner.
GRANT USAGE ON SCHEMA erp, loans TO nhi_broker WITH GRANT OPTION;
GRANT SELECT ON erp.invoices, erp.payment_history, loans.applicants, loans.credit_history
    TO nhi_broker WITH GRANT OPTION;
GRANT USAGE, CREATE ON SCHEMA app TO nhi_broker WITH GRANT OPTION;

-- Objects that a schema-change grant creates must end up owned by app_owner. Making the ephemeral role a
-- member of app_owner would do that, but it would also let the grant read every table app_owner owns,
-- erp.vendors included. Instead this event trigger hands each new object to app_owner at the end of the
-- command that created it, so the grant keeps only the privileges it was given.
-- NOTE: after the hand-over the ephemeral role no longer owns the object, so a later ALTER TABLE or
-- CREATE INDEX on it in the same grant fails with "must be owner"; declare indexes and constraints
-- inside CREATE TABLE. Object kinds not listed below (operators, collations, statistics objects and
-- others) stay with the ephemeral role until revocation hands them over with nhi.reassign_owned.
CREATE SCHEMA nhi;
REVOKE ALL ON SCHEMA nhi FROM PUBLIC;
GRANT USAGE ON SCHEMA nhi TO nhi_broker;

CREATE FUNCTION nhi.hand_over_created_objects() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    actor oid;
    item record;
BEGIN
    SELECT oid INTO actor FROM pg_roles WHERE rolname = session_user;
    -- Only direct members count: nhi_broker is an indirect member through the roles it administers.
    IF NOT EXISTS (
        SELECT FROM pg_auth_members
        WHERE member = actor AND roleid = 'nhi_ephemeral'::regrole
    ) THEN
        RETURN;
    END IF;

    -- A SECURITY DEFINER function would run as app_owner after the hand-over, with all its privileges.
    IF EXISTS (SELECT FROM pg_proc WHERE proowner = actor AND prosecdef) THEN
        RAISE EXCEPTION 'role % is an ephemeral grant and may not create SECURITY DEFINER functions', session_user
            USING ERRCODE = 'insufficient_privilege';
    END IF;

    -- Tables first: ALTER TABLE ... OWNER also moves their indexes and the sequences they own.
    FOR item IN
        SELECT c.oid::regclass AS name,
               CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                              WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END AS kind
        FROM pg_class c
        WHERE c.relowner = actor AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO app_owner', item.kind, item.name);
    END LOOP;

    FOR item IN SELECT c.oid::regclass AS name FROM pg_class c WHERE c.relowner = actor AND c.relkind = 'S' LOOP
        EXECUTE format('ALTER SEQUENCE %s OWNER TO app_owner', item.name);
    END LOOP;

    FOR item IN
        SELECT p.oid::regprocedure AS name,
               CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END AS kind
        FROM pg_proc p
        WHERE p.proowner = actor
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO app_owner', item.kind, item.name);
    END LOOP;

    -- Standalone composite types, enums, ranges and domains; array types follow their element type.
    FOR item IN
        SELECT t.oid::regtype AS name, CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END AS kind
        FROM pg_type t
        LEFT JOIN pg_class c ON c.oid = t.typrelid
        WHERE t.typowner = actor
          AND (t.typtype IN ('e', 'r', 'd') OR (t.typtype = 'c' AND c.relkind = 'c'))
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO app_owner', item.kind, item.name);
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION nhi.hand_over_created_objects() FROM PUBLIC;
CREATE EVENT TRIGGER nhi_hand_over_created_objects ON ddl_command_end
    EXECUTE FUNCTION nhi.hand_over_created_objects();

-- Hands whatever a revoked ephemeral role still owns in this database to app_owner. REASSIGN OWNED needs
-- the privileges of the target role, which nhi_broker deliberately lacks, so it runs as this function's owner.
CREATE FUNCTION nhi.reassign_owned(role_name name) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (
        SELECT FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member
        WHERE r.rolname = role_name AND m.roleid = 'nhi_ephemeral'::regrole
    ) THEN
        RAISE EXCEPTION 'role % is not a direct member of nhi_ephemeral', role_name
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    EXECUTE format('REASSIGN OWNED BY %I TO app_owner', role_name);
END
$$;
REVOKE ALL ON FUNCTION nhi.reassign_owned(name) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION nhi.reassign_owned(name) TO nhi_broker;
SQL
        die "postgres: creating the erp database failed (see the psql error above). Remove $POSTGRES_DIR to start from an empty cluster."
    log "postgres: database $POSTGRES_DATABASE is ready"
}

# Print the stack.env lines of the cluster: connection details of nhi_broker.
postgres_env_lines() {
    env_line NHI_POSTGRES_HOST 127.0.0.1
    env_line NHI_POSTGRES_PORT "$POSTGRES_PORT"
    env_line NHI_POSTGRES_DATABASE "$POSTGRES_DATABASE"
    env_line NHI_POSTGRES_USERNAME "$POSTGRES_BROKER_ROLE"
    env_line NHI_POSTGRES_PASSWORD "$(postgres_broker_password)"
    env_line NHI_POSTGRES_OWNER_ROLE "$POSTGRES_OWNER_ROLE"
}
