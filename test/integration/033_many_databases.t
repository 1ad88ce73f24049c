#!/usr/bin/env bash
# Database model with more tenant databases than the server has
# connections: every open database holds a connection until its schema dump
# is done, so a backup must not open them faster than it dumps them. With
# max_connections = 20 and 40 tenants, the backup used to fail with "too
# many clients"; it must succeed and restore a tenant byte for byte.

. "$(dirname "$0")/../lib/pg.sh"

pg_start "max_connections = 20" "superuser_reserved_connections = 2" ||
    t_bail "cannot start PostgreSQL"

n=40
for i in $(seq -w 1 $n); do
    printf 'CREATE DATABASE "many_%s";\n' "$i"
done | pg_psql >/dev/null || t_bail "cannot create databases"
for i in $(seq -w 1 $n); do
    pg_psql -d "many_$i" -c "CREATE TABLE t (id int PRIMARY KEY, v text);
        INSERT INTO t SELECT g, md5(g::text || '$i') FROM generate_series(1, 500) g" >/dev/null ||
        t_bail "cannot fill many_$i"
done

export COFFER_PASSPHRASE="many databases"
export COFFER_CONFIG="$T_TMP/coffer.yaml"
cat >"$COFFER_CONFIG" <<YAML
postgres:
  conninfo: "host=$PGHOST port=$PGPORT dbname=postgres user=postgres"
tenancy:
  model: database
  discover:
    pattern: "many_%"
repository:
  path: $T_TMP/repo
YAML

t_ok "init" "$COFFER" init
t_ok "backup of $n tenant databases with max_connections = 20" "$COFFER" backup -j 2 --json
t_like "$T_OUT" "\"tenants\": $n" "  ... every tenant is in the snapshot"
t_unlike "$T_ERR" 'too many clients' "  ... and the server never ran out of connections"

want=$(pg_psql -d many_17 -c "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM t")
t_ok "restore one of them beside the original" "$COFFER" restore --tenant many_17 --as many_17_copy
t_is "$(pg_psql -d many_17_copy -c "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM t")" \
    "$want" "  ... with the same rows"
t_ok "check" "$COFFER" check
t_done
