#!/usr/bin/env bash
# Roles are shared objects a tenant depends on (owners, grants). A restore
# into a server that lacks them (a fresh cluster, or roles dropped since the
# backup) creates the missing ones from the snapshot's globals, with their
# attributes, settings and memberships; roles that exist are never altered.

. "$(dirname "$0")/../lib/pg.sh"

pg_start || t_bail "cannot start PostgreSQL"
pg_psql <<'SQL' >/dev/null || t_bail "cannot create the fixture"
CREATE ROLE "Tenant Owner" NOLOGIN;
CREATE ROLE app_reader NOLOGIN;
CREATE ROLE app_login LOGIN CONNECTION LIMIT 5;
ALTER ROLE app_login SET work_mem = '8MB';
GRANT app_reader TO app_login;
CREATE ROLE keeper NOLOGIN CONNECTION LIMIT 3;
CREATE SCHEMA tenant_a AUTHORIZATION "Tenant Owner";
CREATE TABLE tenant_a.t (id int PRIMARY KEY, v text);
ALTER TABLE tenant_a.t OWNER TO "Tenant Owner";
INSERT INTO tenant_a.t SELECT g, md5(g::text) FROM generate_series(1, 1000) g;
GRANT USAGE ON SCHEMA tenant_a TO app_reader;
GRANT SELECT ON tenant_a.t TO app_reader;
CREATE SCHEMA tenant_b;
CREATE TABLE tenant_b.t (id int);
SQL

export COFFER_PASSPHRASE="roles"
export COFFER_CONFIG="$T_TMP/coffer.yaml"
cat >"$COFFER_CONFIG" <<YAML
postgres:
  conninfo: "host=$PGHOST port=$PGPORT dbname=postgres user=postgres"
tenancy:
  model: schema
  discover:
    pattern: "tenant_%"
repository:
  path: $T_TMP/repo
YAML

rows() { pg_psql -c "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM $1.t"; }
want=$(rows tenant_a)
t_ok "init" "$COFFER" init
t_ok "backup" "$COFFER" backup

pg_psql <<'SQL' >/dev/null || t_bail "cannot drop the roles"
SET client_min_messages = warning;
DROP SCHEMA tenant_a CASCADE;
DROP ROLE app_login;
DROP ROLE app_reader;
DROP ROLE "Tenant Owner";
ALTER ROLE keeper CONNECTION LIMIT 7;
SQL

t_ok "restore of the tenant whose roles are gone" "$COFFER" restore --tenant tenant_a
t_like "$T_ERR" 'created role "Tenant Owner" from the snapshot' "  ... says it created the owner"
t_like "$T_ERR" 'created role app_reader' "  ... and the grantee"
t_unlike "$T_ERR" 'created role (keeper|postgres)' "  ... and no role that exists"
t_unlike "$T_ERR" 'warning' "  ... without a warning"
t_is "$(rows tenant_a)" "$want" "  ... the rows are back"
t_is "$(pg_psql -c "SELECT tableowner FROM pg_tables WHERE schemaname = 'tenant_a' AND tablename = 't'")" \
    "Tenant Owner" "  ... owned by the re-created role"
t_is "$(pg_psql -c "SELECT has_table_privilege('app_login', 'tenant_a.t', 'SELECT')")" "t" \
    "  ... readable by app_login through its re-created membership in app_reader"
t_is "$(pg_psql -c "SELECT rolcanlogin || '/' || rolconnlimit || '/' || array_to_string(rolconfig, ',') FROM pg_roles WHERE rolname = 'app_login'")" \
    "true/5/work_mem=8MB" "  ... app_login has its attributes and setting"
t_is "$(pg_psql -c "SELECT rolconnlimit FROM pg_roles WHERE rolname = 'keeper'")" "7" \
    "  ... an existing role was not altered"

t_ok "restore --as now that the roles exist" "$COFFER" restore --tenant tenant_a --as tenant_a2
t_unlike "$T_ERR" 'created role' "  ... creates no role"
t_is "$(rows tenant_a2)" "$want" "  ... the rows are the same"
t_ok "check" "$COFFER" check
t_done
