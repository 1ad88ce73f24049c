#!/usr/bin/env bash
# Bad input to coffer tenants / coffer config check: configuration files that
# are missing, unreadable, invalid or wrong; a server that is unreachable or
# refuses the login; discovery queries that fail or lack the needed columns;
# unknown commands and options. Each gets one clear error and its documented
# exit code (1 failure, 2 usage or configuration), never a crash.

. "$(dirname "$0")/../lib/pg.sh"

pg_start || t_bail "cannot start PostgreSQL"
load_fixture schema_model || t_bail "cannot load schema_model"
load_fixture database_model || t_bail "cannot load database_model"
load_fixture row_model || t_bail "cannot load row_model"

# config FILE CONNINFO BODY: a coffer.yaml with that conninfo and BODY.
config() {
    {
        printf 'postgres:\n'
        printf '  conninfo: "%s"\n' "$2"
        printf '%s\n' "$3"
    } >"$1"
}

conn="host=$PGHOST port=$PGPORT user=postgres"
schema_pattern='tenancy:
  model: schema
  discover:
    pattern: "tenant_%"'

# t_error DESC: the last command printed exactly one error, first on stderr,
# and nothing on stdout.
t_error() {
    local first=${T_ERR%%$'\n'*} n
    n=$(grep -c '^coffer: error: ' <<<"$T_ERR")
    if [[ $first == "coffer: error: "* ]] && [ "$n" -eq 1 ] && [ -z "$T_OUT" ]; then
        _t_result 0 "$1"
    else
        _t_result 1 "$1"
        _t_diag_value "stdout" "$T_OUT"
        _t_diag_value "stderr" "$T_ERR"
        return 1
    fi
}

# free_port: a TCP port on 127.0.0.1 nobody listens on.
free_port() {
    local p i
    for ((i = 0; i < 100; i++)); do
        p=$((41000 + RANDOM % 9000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            printf '%s\n' "$p"
            return 0
        fi
    done
    return 1
}

good="$T_TMP/good.yaml"
config "$good" "$conn dbname=saas_schema" "$schema_pattern"

# ---------------------------------------------------------------- the file

missing="$T_TMP/no such dir/coffer.yaml"
t_exit 2 "missing config file: exit 2" "$COFFER" --config "$missing" tenants
t_error "  ... one error"
t_like "$T_ERR" "could not read configuration \"$T_TMP/no such dir/coffer.yaml\": No such file" \
    "  ... naming the file and why"
t_like "$T_ERR" $'\nHINT: .*--config' "  ... with a hint"

unreadable="$T_TMP/unreadable.yaml"
cp "$good" "$unreadable"
chmod 000 "$unreadable"
if [ "$(id -u)" -ne 0 ]; then
    t_exit 2 "unreadable config file: exit 2" "$COFFER" --config "$unreadable" tenants
    t_like "$T_ERR" "could not read configuration \"$unreadable\": Permission denied" \
        "  ... naming the file and why"
elif command -v runuser >/dev/null 2>&1 && id nobody >/dev/null 2>&1 &&
    runuser -u nobody -- test -x "$COFFER" 2>/dev/null; then
    # root reads anything: run as nobody
    t_exit 2 "unreadable config file (as nobody): exit 2" \
        runuser -u nobody -- "$COFFER" --config "$unreadable" tenants
    t_like "$T_ERR" "could not read configuration \"$unreadable\": Permission denied" \
        "  ... naming the file and why"
else
    t_skip "root, and nobody cannot run $COFFER: no unreadable file to test" 2
fi

t_exit 2 "config is a directory: exit 2" "$COFFER" --config "$T_TMP" tenants
t_like "$T_ERR" "could not read configuration \"$T_TMP\"" "  ... naming it"

empty="$T_TMP/empty.yaml"
: >"$empty"
t_exit 2 "empty config file: exit 2" "$COFFER" --config "$empty" tenants
t_like "$T_ERR" "configuration \"$empty\" is empty" "  ... says so"

# a quoted string never closed: libyaml finds out at the end of the file
bad="$T_TMP/unclosed.yaml"
printf 'postgres:\n  conninfo: "host=/tmp\ntenancy:\n  model: schema\n' >"$bad"
t_exit 2 "invalid YAML (unclosed quote): exit 2" "$COFFER" --config "$bad" tenants
t_error "  ... one error"
t_like "$T_ERR" "configuration \"$bad\" line [0-9]+: invalid YAML" "  ... naming the file and a line"
t_like "$T_ERR" 'quoted scalar that starts on line 2' "  ... and the line where the quote opens"

bad="$T_TMP/invalid.yaml"
printf 'postgres:\n  conninfo: "x"\ntenancy:\n  model: schema: row\n  discover:\n    pattern: a\n' >"$bad"
t_exit 2 "invalid YAML (mapping in a value): exit 2" "$COFFER" --config "$bad" tenants
t_like "$T_ERR" "^coffer: error: configuration \"$bad\" line 4: invalid YAML: mapping values are not allowed" \
    "  ... naming the file and line 4"

unknown="$T_TMP/unknown.yaml"
printf 'postgres:\n  conninfo: "x"\ntenancy:\n  model: schema\n  bogus: 1\n  discover:\n    pattern: a\n' >"$unknown"
t_exit 2 "unknown key: exit 2" "$COFFER" --config "$unknown" tenants
t_error "  ... one error"
t_like "$T_ERR" "configuration \"$unknown\" line 5: key \"tenancy.bogus\": unknown key" \
    "  ... naming the file, line and key"
t_like "$T_ERR" 'DETAIL: known keys here: model, shared, column, discover' "  ... and the keys it knows"

emptyq="$T_TMP/empty_query.yaml"
printf 'tenancy:\n  model: row\n  discover:\n    query: ""\n' >"$emptyq"
t_exit 2 "empty discovery query: exit 2" "$COFFER" --config "$emptyq" tenants
t_like "$T_ERR" "line 4: key \"tenancy.discover.query\": must not be empty" "  ... naming line and key"

# ---------------------------------------------------------------- config check

t_ok "config check on a valid file: exit 0" "$COFFER" --config "$good" config check
t_like "$T_OUT" "configuration \"$good\" is valid: model schema" "  ... says it is valid"
t_exit 2 "config check on an unknown key: exit 2" "$COFFER" config check --config "$unknown"
t_like "$T_ERR" 'line 5: key "tenancy.bogus": unknown key' "  ... with the same message"
t_exit 2 "config check on invalid YAML: exit 2" "$COFFER" --config "$bad" config check
t_like "$T_ERR" 'line 4: invalid YAML' "  ... with the line"
t_exit 2 "config check on a missing file: exit 2" "$COFFER" --config "$missing" config check
t_like "$T_ERR" 'could not read configuration' "  ... says so"

# ---------------------------------------------------------------- COFFER_CONFIG

t_ok "COFFER_CONFIG is used without --config" env COFFER_CONFIG="$good" "$COFFER" tenants --json
t_like "$T_OUT" '"name": "tenant_acme"' "  ... and its tenants listed"
t_exit 2 "COFFER_CONFIG naming a missing file: exit 2" env COFFER_CONFIG="$missing" "$COFFER" tenants
t_like "$T_ERR" "could not read configuration \"$missing\"" "  ... naming that file"
t_ok "--config wins over COFFER_CONFIG" env COFFER_CONFIG="$missing" "$COFFER" --config "$good" config check
t_like "$T_OUT" "configuration \"$good\" is valid" "  ... reading the --config file"

# ---------------------------------------------------------------- the server

cfg="$T_TMP/nosocket.yaml"
config "$cfg" "host=$PGHOST port=$((PGPORT + 1)) dbname=saas_schema user=postgres" "$schema_pattern"
t_exit 1 "no server on that socket: exit 1" "$COFFER" --config "$cfg" tenants --json
t_error "  ... one error"
t_like "$T_ERR" '^coffer: error: could not connect to PostgreSQL: ' "  ... could not connect"
t_like "$T_ERR" $'\nHINT: check that the server is running' "  ... with a HINT line"

port=$(free_port) || t_bail "no free TCP port"
cfg="$T_TMP/refused.yaml"
config "$cfg" "host=127.0.0.1 port=$port dbname=saas_schema user=postgres connect_timeout=5" "$schema_pattern"
t_exit 1 "nothing listens on 127.0.0.1:$port: exit 1" "$COFFER" --config "$cfg" tenants
t_error "  ... one error"
t_like "$T_ERR" '^coffer: error: could not connect to PostgreSQL: .*(refused|could not connect)' \
    "  ... could not connect"
t_like "$T_ERR" $'\nHINT: ' "  ... with a HINT line"

# Password authentication for one role, first in pg_hba.conf.
pg_psql -c "CREATE ROLE coffer_pw LOGIN PASSWORD 'right-password'" || t_bail "cannot create role"
hba=$(cat "$PGDATA/pg_hba.conf")
printf 'local all coffer_pw scram-sha-256\n%s\n' "$hba" >"$PGDATA/pg_hba.conf"
pg_reload
for _ in $(seq 50); do
    PGPASSWORD=wrong PGPASSFILE=/nonexistent pg_psql -U coffer_pw -c 'select 1' >/dev/null 2>&1 || break
    sleep 0.1
done
cfg="$T_TMP/auth.yaml"
config "$cfg" "host=$PGHOST port=$PGPORT dbname=saas_schema user=coffer_pw" "$schema_pattern"

t_exit 1 "wrong password: exit 1" env PGPASSWORD=wrong-password PGPASSFILE=/nonexistent \
    "$COFFER" --config "$cfg" tenants --json
t_error "  ... one error"
t_like "$T_ERR" '^coffer: error: could not connect to PostgreSQL: .*password authentication failed for user "coffer_pw"' \
    "  ... says authentication failed, for which user"
t_like "$T_ERR" $'\nHINT: check the user and password' "  ... with a hint about the password"

t_exit 1 "no password at all: exit 1" env -u PGPASSWORD PGPASSFILE=/nonexistent \
    "$COFFER" --config "$cfg" tenants
t_like "$T_ERR" 'no password supplied' "  ... says so"
t_like "$T_ERR" $'\nHINT: check the user and password' "  ... with a hint about the password"

t_ok "the right password works (the rule is what failed above)" \
    env PGPASSWORD=right-password PGPASSFILE=/nonexistent "$COFFER" --config "$cfg" tenants --json
t_like "$T_OUT" '"name": "tenant_acme"' "  ... and lists tenants"

# ---------------------------------------------------------------- discovery queries

# discovery DBNAME MODEL QUERY: a config file using that discovery query.
discovery() {
    local f
    f="$T_TMP/q$((++nq)).yaml"
    config "$f" "$conn dbname=$1" "tenancy:
  model: $2
  discover:
    query: \"$3\""
    printf '%s\n' "$f"
}
nq=0

cfg=$(discovery saas_schema schema 'SELEC schema_name AS tenant FROM central.tenants')
t_exit 2 "discovery query with a syntax error: exit 2" "$COFFER" --config "$cfg" tenants --json
t_error "  ... one error"
t_like "$T_ERR" '^coffer: error: discovery query failed: syntax error at or near "SELEC"' \
    "  ... discovery query failed, with the server's reason"
t_like "$T_ERR" "HINT: check tenancy.discover.query in \"$cfg\"" "  ... hint names the key and file"

cfg=$(discovery saas_schema schema 'SELECT schema_name AS tenant FROM central.no_such_table')
t_exit 2 "discovery query on a missing table: exit 2" "$COFFER" --config "$cfg" tenants
t_like "$T_ERR" 'discovery query failed: .*relation "central.no_such_table" does not exist' "  ... says which"

cfg=$(discovery saas_schema schema 'SELECT schema_name AS tenant FROM central.tenants; DROP SCHEMA central CASCADE')
t_exit 2 "discovery query with a second statement: exit 2" "$COFFER" --config "$cfg" tenants
t_like "$T_ERR" 'discovery query failed: .*multiple commands' "  ... refused by the server"
t_is "$(pg_psql -d saas_schema -c "SELECT count(*) FROM pg_namespace WHERE nspname = 'central'")" 1 \
    "  ... and schema central still exists"

cfg=$(discovery saas_schema schema 'DELETE FROM central.tenants RETURNING schema_name AS tenant')
t_exit 2 "discovery query that writes: exit 2" "$COFFER" --config "$cfg" tenants
t_like "$T_ERR" 'discovery query failed: cannot execute DELETE in a read-only transaction' \
    "  ... it runs read-only"
t_is "$(pg_psql -d saas_schema -c "SELECT count(*) FROM central.tenants")" 8 \
    "  ... and the registry still has its 8 rows"

cfg=$(discovery saas_schema schema 'SELECT schema_name, class FROM central.tenants')
t_exit 2 "schema model query without a tenant column: exit 2" "$COFFER" --config "$cfg" tenants --json
t_error "  ... one error"
t_like "$T_ERR" '^coffer: error: discovery query returned no column "tenant"' "  ... names the missing column"
t_like "$T_ERR" 'DETAIL: columns returned: schema_name, class' "  ... and the columns it got"

cfg=$(discovery saas_master database 'SELECT tenant, class FROM clientes_saas')
t_exit 2 "database model query without a database column: exit 2" "$COFFER" --config "$cfg" tenants --json
t_error "  ... one error"
t_like "$T_ERR" '^coffer: error: discovery query returned no column "database"' "  ... names the missing column"
t_like "$T_ERR" 'HINT: name the columns with AS: tenant, database' "  ... and how to fix it"

cfg=$(discovery saas_master database 'SELECT dbname AS database FROM clientes_saas')
t_exit 2 "database model query without a tenant column: exit 2" "$COFFER" --config "$cfg" tenants
t_like "$T_ERR" 'discovery query returned no column "tenant"' "  ... names the missing column"

cfg=$(discovery shared_rows row 'SELECT tenant_id FROM tenants')
t_exit 2 "row model query without a tenant column: exit 2" "$COFFER" --config "$cfg" tenants
t_like "$T_ERR" 'discovery query returned no column "tenant"' "  ... names the missing column"

# ---------------------------------------------------------------- command line

t_exit 2 "unknown command: exit 2" "$COFFER" --config "$good" frobnicate
t_error "  ... one error"
t_like "$T_ERR" 'unknown command "frobnicate"' "  ... names it"
t_exit 2 "unknown option of tenants: exit 2" "$COFFER" --config "$good" tenants --bogus
t_error "  ... one error"
t_like "$T_ERR" 'tenants: unknown option "--bogus"' "  ... names it"
t_exit 2 "unknown global option: exit 2" "$COFFER" --bogus tenants
t_like "$T_ERR" 'unknown global option "--bogus"' "  ... names it"
t_exit 2 "--config without a value: exit 2" "$COFFER" tenants --config
t_like "$T_ERR" 'needs a value' "  ... says so"
t_exit 2 "tenants with an extra argument: exit 2" "$COFFER" --config "$good" tenants extra
t_like "$T_ERR" 'unexpected argument "extra"' "  ... names it"

t_done
