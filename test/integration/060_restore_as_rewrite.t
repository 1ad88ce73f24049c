#!/usr/bin/env bash
# restore --as in the schema model rewrites the old schema's name in the
# copy's function bodies and search_path settings: the copy's trigger writes
# into the copy's audit table, never into the live tenant's (exact row
# counts), for a plain, a mixed-case quoted and a hostile schema name; a
# string literal that names the schema is left as it was, and reported.
. "$(dirname "$0")/../lib/pg.sh"

pg_start || t_bail "cannot start PostgreSQL"

DB=rewrite
pg_psql -d postgres -c "CREATE DATABASE $DB" || t_bail "cannot create database $DB"
# Each tenant: orders with an AFTER INSERT trigger writing into audit through
# a qualified name; a procedure naming the schema in another case; a
# function reaching audit through its search_path; a SQL-standard body; a
# function whose string literal names the schema. Comments, grants and
# attributes of a rewritten function stay.
tenant_sql() { # QUOTED_SCHEMA UNQUOTED_OTHER_CASE_OR_QUOTED
    local s=$1 other=$2
    cat <<SQL
CREATE SCHEMA $s;
CREATE TABLE $s.orders (id int PRIMARY KEY, note text);
CREATE TABLE $s.audit (order_id int, msg text);
CREATE FUNCTION $s.log_order() RETURNS trigger LANGUAGE plpgsql AS \$body\$
BEGIN
    -- every order is written down in $s.audit
    INSERT INTO $s.audit /* the tenant's own */ VALUES (NEW.id, 'order ' || NEW.id);
    RETURN NEW;
END
\$body\$;
CREATE TRIGGER orders_audit AFTER INSERT ON $s.orders
    FOR EACH ROW EXECUTE FUNCTION $s.log_order();
CREATE PROCEDURE $s.add_order(i int) LANGUAGE plpgsql AS \$\$
BEGIN
    INSERT INTO $other.orders VALUES (i, 'by procedure');
END
\$\$;
COMMENT ON FUNCTION $s.log_order() IS 'audit trigger';
ALTER PROCEDURE $s.add_order(int) SECURITY DEFINER;
REVOKE EXECUTE ON PROCEDURE $s.add_order(int) FROM PUBLIC;
CREATE FUNCTION $s.audit_count() RETURNS bigint LANGUAGE sql STABLE
    SET search_path = $s, public AS \$\$ SELECT count(*) FROM audit \$\$;
CREATE FUNCTION $s.order_count() RETURNS bigint LANGUAGE sql STABLE
    BEGIN ATOMIC SELECT count(*) FROM $s.orders; END;
CREATE FUNCTION $s.label() RETURNS text LANGUAGE sql IMMUTABLE
    AS \$\$ SELECT 'INSERT INTO $s.audit'::text \$\$;
INSERT INTO $s.orders VALUES (1, 'a'), (2, 'b');
SQL
}
hostile='tenant_h"; DROP SCHEMA public; --'
hcopy='copy "h"; --'
# qi NAME: NAME as a quoted SQL identifier.
qi() { printf '"%s"' "${1//\"/\"\"}"; }
{
    tenant_sql tenant_acme Tenant_ACME
    tenant_sql '"tenant_Mixed"' '"tenant_Mixed"'
    tenant_sql "$(qi "$hostile")" "$(qi "$hostile")"
} | pg_psql -d "$DB" >/dev/null || t_bail "cannot create the tenants"

export COFFER_PASSPHRASE=rewrite-test
export COFFER_CONFIG="$T_TMP/coffer.yaml"
cat >"$COFFER_CONFIG" <<EOF
postgres:
  conninfo: "host=$PGHOST port=$PGPORT dbname=$DB user=postgres"
tenancy:
  model: schema
  shared: [public]
  discover:
    pattern: "tenant_%"
repository:
  path: $T_TMP/repo
EOF

q() { pg_psql -d "$DB" -c "$1"; }

t_is "$(q "SELECT count(*) FROM tenant_acme.audit") $(q 'SELECT count(*) FROM "tenant_Mixed".audit')" \
    "2 2" "baseline: the triggers wrote 2 audit rows in each tenant"
t_ok "init" "$COFFER" init
t_ok "backup" "$COFFER" backup

# ---------------------------------------------------------------- plain name

t_ok "restore tenant_acme --as acme_copy" "$COFFER" --verbose restore --tenant tenant_acme --as acme_copy
t_like "$T_ERR" 'function acme_copy\.log_order\(\): 1 reference\(s\) to schema "tenant_acme" rewritten' \
    "  ... --verbose lists the rewritten trigger function"
t_like "$T_ERR" 'acme_copy\.label\(\) still names schema "tenant_acme" in 1 string literal' \
    "  ... a warning names the function whose literal was left"
t_like "$T_ERR" 'acme_copy\.log_order\(\) still names schema "tenant_acme" in 1 comment\(s\);' \
    "  ... and one whose comments name the schema"
t_unlike "$T_ERR" '(add_order|audit_count)\([^)]*\) still names' "  ... the other functions are no leftovers"
t_is "$(q "SELECT count(*) FROM acme_copy.orders") $(q "SELECT count(*) FROM acme_copy.audit")" \
    "2 2" "  ... the copy has the rows of the backup"

t_ok "insert into the copy" q "INSERT INTO acme_copy.orders VALUES (10, 'copy')"
t_is "$(q "SELECT count(*) FROM acme_copy.audit")" 3 "  ... the copy's trigger wrote into the copy's audit"
t_is "$(q "SELECT count(*) FROM tenant_acme.audit")" 2 "  ... and not into the live tenant's"
t_ok "a procedure of the copy naming the schema in another case" q "CALL acme_copy.add_order(11)"
t_is "$(q "SELECT count(*) FROM acme_copy.orders") $(q "SELECT count(*) FROM acme_copy.audit")" \
    "4 4" "  ... inserts into the copy"
t_is "$(q "SELECT count(*) FROM tenant_acme.orders") $(q "SELECT count(*) FROM tenant_acme.audit")" \
    "2 2" "  ... and the live tenant is untouched"
t_is "$(q "SELECT obj_description('acme_copy.log_order()'::regprocedure, 'pg_proc')")" \
    "audit trigger" "  ... a rewritten function keeps its comment"
t_is "$(q "SELECT prosecdef, proacl FROM pg_proc WHERE oid = 'acme_copy.add_order(int)'::regprocedure")" \
    "$(q "SELECT prosecdef, proacl FROM pg_proc WHERE oid = 'tenant_acme.add_order(int)'::regprocedure")" \
    "  ... and its attributes and grants"
t_is "$(q "SELECT acme_copy.audit_count()")" 4 "  ... the copy's search_path function reads the copy"
t_is "$(q "SELECT proconfig::text FROM pg_proc WHERE oid = 'acme_copy.audit_count()'::regprocedure")" \
    '{"search_path=acme_copy, public"}' "  ... its proconfig search_path was rewritten"
t_is "$(q "SELECT acme_copy.order_count()")" 4 "  ... the SQL-standard body follows the rename"
t_is "$(q "SELECT p.prosrc FROM pg_proc p WHERE p.oid = 'acme_copy.label()'::regprocedure")" \
    "$(q "SELECT p.prosrc FROM pg_proc p WHERE p.oid = 'tenant_acme.label()'::regprocedure")" \
    "  ... the string literal is unchanged"
t_like "$(q "SELECT prosrc FROM pg_proc WHERE oid = 'acme_copy.log_order()'::regprocedure")" \
    'every order is written down in tenant_acme\.audit' "  ... and so is the comment"
t_ok "insert into the live tenant" q "INSERT INTO tenant_acme.orders VALUES (20, 'live')"
t_is "$(q "SELECT count(*) FROM tenant_acme.audit") $(q "SELECT count(*) FROM acme_copy.audit")" \
    "3 4" "  ... the live trigger still writes into the live audit only"

# ---------------------------------------------------------------- quoted mixed-case name

t_ok 'restore "tenant_Mixed" --as "copy_Mixed"' "$COFFER" restore --tenant tenant_Mixed --as copy_Mixed
t_ok "insert into the copy" q "INSERT INTO \"copy_Mixed\".orders VALUES (10, 'copy')"
t_is "$(q 'SELECT count(*) FROM "copy_Mixed".audit')" 3 "  ... the copy's trigger wrote into the copy's audit"
t_is "$(q 'SELECT count(*) FROM "tenant_Mixed".audit')" 2 "  ... and not into the live tenant's"
t_ok "the copy's procedure" q 'CALL "copy_Mixed".add_order(11)'
t_is "$(q 'SELECT count(*) FROM "copy_Mixed".orders') $(q 'SELECT count(*) FROM "copy_Mixed".audit')" \
    "4 4" "  ... inserts into the copy"
t_is "$(q 'SELECT count(*) FROM "tenant_Mixed".orders') $(q 'SELECT count(*) FROM "tenant_Mixed".audit')" \
    "2 2" "  ... and the live tenant is untouched"
t_is "$(q "SELECT proconfig::text FROM pg_proc WHERE oid = '\"copy_Mixed\".audit_count()'::regprocedure")" \
    '{"search_path=\"copy_Mixed\", public"}' "  ... its proconfig search_path was rewritten"
t_is "$(q 'SELECT "copy_Mixed".audit_count()')" 4 "  ... and reads the copy"
t_is "$(q "SELECT prosrc FROM pg_proc WHERE oid = '\"copy_Mixed\".label()'::regprocedure")" \
    "$(q "SELECT prosrc FROM pg_proc WHERE oid = '\"tenant_Mixed\".label()'::regprocedure")" \
    "  ... the string literal is unchanged"

# ---------------------------------------------------------------- a hostile name

t_ok "restore the hostile-named tenant --as a hostile name" "$COFFER" restore --tenant "$hostile" --as "$hcopy"
t_ok "insert into the copy" q "INSERT INTO $(qi "$hcopy").orders VALUES (10, 'copy')"
t_is "$(q "SELECT count(*) FROM $(qi "$hcopy").audit") $(q "SELECT count(*) FROM $(qi "$hostile").audit")" \
    "3 2" "  ... the copy's trigger wrote into the copy's audit only"
t_is "$(pg_psql -d "$DB" -v s="$hcopy" <<<"SELECT proconfig[1] = 'search_path=' || quote_ident(:'s') || ', public' FROM pg_proc WHERE proname = 'audit_count' AND pronamespace = (SELECT oid FROM pg_namespace WHERE nspname = :'s')")" \
    t "  ... its search_path names the copy, quoted"
t_is "$(q "SELECT count(*) FROM pg_namespace WHERE nspname = 'public'")" 1 "  ... and nothing was dropped"

t_done
