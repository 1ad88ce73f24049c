#!/usr/bin/env bash
# A restore does not wait forever behind an application's transaction: it
# waits postgres.lock_timeout, then fails (or, for the copy it replaced,
# keeps it) with a message naming the session that holds the lock. The
# live tenant is untouched by a restore that gave up. Also: the restore's
# private temporary files go to repository.scratch_dir when it is set.
. "$(dirname "$0")/../lib/pg.sh"
. "$(dirname "$0")/../lib/config.sh"

pg_start || t_bail "cannot start PostgreSQL"
load_fixture schema_model || t_bail "cannot load schema_model"
DB=saas_schema
export COFFER_PASSPHRASE="lock timeout"
export COFFER_CONFIG="$T_TMP/coffer.yaml"
schema_model_config "$COFFER_CONFIG" "$DB" "$T_TMP/repo"
sed -i 's|^postgres:|postgres:\n  lock_timeout: 2|' "$COFFER_CONFIG"

t_ok "init" "$COFFER" init
t_ok "backup" "$COFFER" backup
pg_psql -d "$DB" -c "DELETE FROM tenant_acme.orders WHERE order_id % 2 = 0" >/dev/null
live=$(pg_psql -d "$DB" -c "SELECT count(*) FROM tenant_acme.orders")

# an application session reads tenant_acme.orders in a long transaction
coproc APP { PGAPPNAME=billing-app pg_psql -d "$DB" 2>&1; }
printf 'BEGIN;\nSELECT count(*) FROM tenant_acme.orders;\nSELECT pg_backend_pid();\n' >&"${APP[1]}"
read -r -t 30 _ <&"${APP[0]}"
read -r -t 30 app_pid <&"${APP[0]}"
t_like "$app_pid" '^[0-9]+$' "an application session holds a lock on tenant_acme.orders (pid $app_pid)"

start=$(date +%s)
t_exit 1 "restore --data-only --clean of that table gives up" \
    "$COFFER" restore --tenant tenant_acme --table orders --data-only --clean --yes
took=$(($(date +%s) - start))
err=$T_ERR
t_ok "  ... after the lock timeout, not forever ($took s)" test "$took" -lt 30
T_ERR=$err
t_note "$T_ERR"
t_like "$T_ERR" 'lock timeout' "  ... saying it timed out on a lock"
t_like "$T_ERR" "pid $app_pid \\(application \"billing-app\"" "  ... naming the session that holds it"
t_like "$T_ERR" 'postgres.lock_timeout' "  ... and the setting"
t_is "$(pg_psql -d "$DB" -c "SELECT count(*) FROM tenant_acme.orders")" "$live" \
    "  ... the live rows are untouched"

t_ok "a full restore --clean meanwhile" "$COFFER" restore --tenant tenant_acme --clean --yes
t_like "$T_ERR" "could not drop the replaced schema .*--recover.*pid $app_pid" \
    "  ... keeps the copy it replaced, naming the session that holds it"
t_isnt "$(pg_psql -d "$DB" -c "SELECT count(*) FROM tenant_acme.orders")" "$live" \
    "  ... and the tenant has the snapshot's rows"

printf 'COMMIT;\n\\q\n' >&"${APP[1]}"
wait "$APP_PID" 2>/dev/null
t_is "$(pg_psql -d "$DB" -c "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant_acme_coffer_old_%'")" 1 \
    "the replaced copy is there, to be dropped once the application is done"
t_ok "restore --recover once the application is done" "$COFFER" restore --recover
t_is "$(pg_psql -d "$DB" -c "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant_acme_coffer_old_%'")" 0 \
    "  ... drops the replaced copy"
t_isnt "$(pg_psql -d "$DB" -c "SELECT count(*) FROM tenant_acme.orders")" "$live" \
    "  ... and the restored tenant stays"
t_ok "the repository is clean" "$COFFER" check

# repository.scratch_dir: where a restore keeps its private temporary files
mkdir -p "$T_TMP/scratch"
sed -i "s|^repository:|repository:\n  scratch_dir: $T_TMP/scratch|" "$COFFER_CONFIG"
t_ok "restore --as with repository.scratch_dir (and TMPDIR pointing nowhere)" \
    env TMPDIR="$T_TMP/nowhere" "$COFFER" restore --tenant tenant_globex --as globex_scratch
t_is "$(find "$T_TMP/scratch" -mindepth 1 | wc -l)" 0 "  ... and leaves nothing in it"
: >"$T_TMP/notadir"
sed -i "s|scratch_dir: .*|scratch_dir: $T_TMP/notadir|" "$COFFER_CONFIG"
t_exit 1 "a scratch_dir that is not a directory fails the restore" \
    "$COFFER" restore --tenant tenant_globex --as globex_scratch2
t_like "$T_ERR" "could not create a temporary directory in \"$T_TMP/notadir\"" "  ... naming it"
t_like "$T_ERR" 'repository.scratch_dir' "  ... and the setting"
t_is "$(pg_psql -d "$DB" -c "SELECT count(*) FROM pg_namespace WHERE nspname = 'globex_scratch2'")" 0 \
    "  ... having created nothing"
t_done
