#!/usr/bin/env bash
# Self-test of the integration harness: the throwaway server starts where it
# should, the fixtures load with their exact (hostile) names and row counts,
# and the server is stopped whatever way a test ends.

. "$(dirname "$0")/../lib/pg.sh"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# ---------------------------------------------------------------- server

t0=$(now)
t_ok "pg_start starts a server" pg_start || t_bail "cannot start PostgreSQL: $T_ERR"
t1=$(now)
t_note "pg_start (template ready): $(secs "$t0" "$t1") s"

t_is "$PGHOST" "$PG_TMP" "PGHOST is the server's temp directory"
t_like "$PG_TMP" '^/tmp/coffer-pg\.' "  ... under /tmp"
t_like "$PGPORT" '^[0-9]+$' "PGPORT is a number"
t_ok "  ... in 20000-40000" test "$PGPORT" -ge 20000 -a "$PGPORT" -le 40000
t_is "$PGUSER/$PGDATABASE" "postgres/postgres" "PGUSER and PGDATABASE"
t_is "$PGDATA" "$PG_TMP/data" "PGDATA"
t_is "$COFFER" "$REPO_ROOT/coffer" "COFFER names the built binary"
t_ok "socket is in the temp directory" test -S "$PGHOST/.s.PGSQL.$PGPORT"
t_ok "template is cached under build/pgtemplate" \
    test -f "$(ls -d "$REPO_ROOT"/build/pgtemplate/pg*/data | head -n 1)/PG_VERSION"

t_ok "psql -c 'select 1' with no connection flags" psql -X -c 'select 1'
t_like "$T_OUT" '1 row' "  ... and returns a row"
t_is "$(pg_psql -c 'select 1')" 1 "pg_psql -c 'select 1'"
t_exit 1 "pg_psql fails on an SQL error" pg_psql -c 'select 1/0'
t_like "$T_ERR" 'division by zero' "  ... and shows it"

t_like "$(pg_psql -c 'show server_version_num')" "^${PG_MAJOR:-15}" "server is PostgreSQL ${PG_MAJOR:-15}"
t_is "$(pg_psql -c 'show listen_addresses')" "" "no TCP listener configured"
t_is "$(ss -Hltn "sport = :$PGPORT" 2>/dev/null)" "" "  ... and nothing listens on PGPORT"
t_is "$(pg_psql -c 'show fsync')" off "fsync is off"
t_is "$(pg_psql -c 'show max_connections')" 100 "max_connections is 100"
t_is "$(pg_psql -c 'show data_directory')" "$PGDATA" "server runs on PGDATA"
t_is "$(pg_psql -c 'show server_encoding')" UTF8 "server encoding is UTF8"
t_is "$(grep -Ev '^[[:space:]]*(#|$)' "$PGDATA/pg_hba.conf" | awk '{print $1}' | sort -u)" \
    local "pg_hba.conf allows unix-socket connections only"
if [ "$(id -u)" -eq 0 ]; then
    t_is "$(ps -o user= -p "$PG_PID")" postgres "as root, the server runs as the postgres user"
else
    t_is "$(ps -o user= -p "$PG_PID")" "$(id -un)" "the server runs as the current user"
fi
t_ok "server writes its log to PG_LOG" test -s "$PG_LOG"
t_exit 1 "a second pg_start is refused" pg_start
t_like "$T_ERR" 'already running' "  ... with a reason"

# ---------------------------------------------------------------- fixtures

# count DB SCHEMA TABLE: rows in SCHEMA.TABLE, identifiers quoted by psql.
count() {
    pg_psql -d "$1" -v s="$2" -v t="$3" <<<'SELECT count(*) FROM :"s".:"t"'
}

t_ok "load schema_model" load_fixture schema_model
db=saas_schema
hostile='tenant_x"; DROP SCHEMA central; --'
t_is "$(pg_psql -d $db -c "SELECT string_agg(nspname, '|' ORDER BY nspname COLLATE \"C\")
        FROM pg_namespace WHERE nspname LIKE 'tenant\_%'")" \
    'tenant_../../etc|tenant_Mixed Case|tenant_acme|tenant_demo1|tenant_empty|tenant_globex|tenant_x"; DROP SCHEMA central; --|tenant_ünïcødé_東京' \
    "schema_model: exactly the eight tenant schemas"
t_is "$(pg_psql -d $db -v n="$hostile" <<<"SELECT count(*) FROM pg_namespace WHERE nspname = :'n'")" 1 \
    "schema_model: the hostile schema exists under its exact name"
t_is "$(pg_psql -d $db -c "SELECT count(*) FROM pg_namespace WHERE nspname IN ('central', 'parametros')")" 2 \
    "schema_model: shared schemas central and parametros exist"
t_is "$(count $db central plans)/$(count $db central tenants)/$(count $db parametros settings)" "3/8/3" \
    "schema_model: central.plans, central.tenants, parametros.settings rows"
t_is "$(pg_psql -d $db -c "SELECT string_agg(schema_name || '=' || class || ':' || active, '|' ORDER BY schema_name COLLATE \"C\")
        FROM central.tenants")" \
    'tenant_../../etc=active:true|tenant_Mixed Case=demo:false|tenant_acme=active:true|tenant_demo1=demo:true|tenant_empty=active:true|tenant_globex=active:true|tenant_x"; DROP SCHEMA central; --=active:true|tenant_ünïcødé_東京=active:true' \
    "schema_model: registry rows, classes and the inactive tenant"
t_is "$(pg_psql -d $db -c "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'tenant_empty'")" 0 "schema_model: tenant_empty holds no relations"
for pair in tenant_acme:5 tenant_globex:8 tenant_demo1:2 "$hostile:3" "tenant_../../etc:4" \
    "tenant_Mixed Case:6" "tenant_ünïcødé_東京:7"; do
    s=${pair%:*} n=${pair##*:}
    t_is "$(count $db "$s" customers)/$(count $db "$s" orders)/$(count $db "$s" audit_log)" \
        "$n/$((2 * n))/0" "schema_model: $s has $n customers, $((2 * n)) orders, empty audit_log"
done
t_is "$(pg_psql -d $db -c "SELECT count(*) FROM pg_constraint WHERE contype = 'f'
        AND confrelid = 'central.plans'::regclass")" 7 "schema_model: seven FKs into central.plans"
t_is "$(pg_psql -d $db -c "SELECT name = E'O''Brien\\t\"tab\"\\\\back\\nslash' FROM tenant_acme.customers
        WHERE customer_id = 1")" t "schema_model: customer 1's awkward text is intact"
t_ok "schema_model loads again under another database name" load_fixture schema_model saas_schema_b
t_is "$(count saas_schema_b "tenant_ünïcødé_東京" orders)" 14 "  ... with the same data"

t_ok "load database_model" load_fixture database_model
t_is "$(pg_psql -c "SELECT string_agg(datname, '|' ORDER BY datname COLLATE \"C\") FROM pg_database
        WHERE datname LIKE 'tenant%' OR datname = 'saas_master'")" \
    'saas_master|tenant_alpha|tenant_beta|tenant_empty|tenant_Ünï "q"' \
    "database_model: master and four tenant databases, no tenant_ghost"
t_is "$(pg_psql -v n='tenant_Ünï "q"' <<<"SELECT count(*) FROM pg_database WHERE datname = :'n'")" 1 \
    "database_model: the hostile database exists under its exact name"
t_is "$(pg_psql -d saas_master -c "SELECT string_agg(tenant || '>' || dbname || ':' || class, '|' ORDER BY tenant COLLATE \"C\")
        FROM clientes_saas")" \
    'alpha>tenant_alpha:active|beta>tenant_beta:active|empty>tenant_empty:demo|ghost>tenant_ghost:active|Ünï "q">tenant_Ünï "q":active' \
    "database_model: clientes_saas registry, including the ghost"
t_is "$(count tenant_alpha public customers)/$(count tenant_alpha public orders)" 3/6 "database_model: tenant_alpha rows"
t_is "$(count tenant_beta public customers)/$(count tenant_beta public orders)" 4/8 "database_model: tenant_beta rows"
t_is "$(count 'tenant_Ünï "q"' public customers)/$(count 'tenant_Ünï "q"' public orders)" 2/4 \
    "database_model: tenant_Ünï \"q\" rows"
t_is "$(pg_psql -d tenant_empty -c "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public'")" 0 "database_model: tenant_empty has no tables"
t_exit 2 "database_model: tenant_ghost cannot be connected to" pg_psql -d tenant_ghost -c 'select 1'

t_ok "load row_model" load_fixture row_model
db=shared_rows
t_is "$(count $db public tenants)/$(count $db public currencies)/$(count $db public accounts)/$(count $db public invoices)" \
    "5/3/8/16" "row_model: tenants, currencies, accounts, invoices rows"
t_is "$(pg_psql -d $db -c "SELECT string_agg(t.tenant_id || '=' || t.class || ':' ||
            (SELECT count(*) FROM accounts a WHERE a.tenant_id = t.tenant_id) || '/' ||
            (SELECT count(*) FROM invoices i WHERE i.tenant_id = t.tenant_id), '|' ORDER BY t.tenant_id COLLATE \"C\")
        FROM tenants t")" \
    "acme=active:3/6|demo1=demo:1/2|empty=active:0/0|globex=active:2/5|o'brien; --=active:2/3" \
    "row_model: per-tenant classes and row counts, hostile and empty tenants included"
t_is "$(pg_psql -d $db -c "SELECT string_agg(table_name, '|' ORDER BY table_name) FROM information_schema.columns
        WHERE table_schema = 'public' AND column_name = 'tenant_id'")" \
    "accounts|invoices|tenants" "row_model: tables with a tenant_id column"
t_exit 2 "load_fixture names a missing fixture" load_fixture no_such_fixture
t_like "$T_ERR" 'no fixture "no_such_fixture"' "  ... and says so"

# ---------------------------------------------------------------- restart, kill

pid=$PG_PID
t_ok "pg_restart" pg_restart "work_mem = '8MB'"
t_isnt "$PG_PID" "$pid" "  ... a new postmaster"
t_is "$(pg_psql -c 'show work_mem')" 8MB "  ... with the added setting"
t_is "$(count tenant_alpha public orders)" 6 "  ... and the data kept"

pg_psql -c 'select pg_sleep(60)' >/dev/null 2>&1 &
sleeper=$!
for _ in $(seq 50); do
    # the sleeper is running, and the sessions of the queries before it are gone
    [ "$(pg_psql -c "SELECT count(*) FILTER (WHERE query LIKE 'select pg_sleep%') || ' ' || count(*)
        FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")" = "1 1" ] && break
    sleep 0.1
done
t_is "$(pg_terminate_clients)" 1 "pg_terminate_clients drops the open session"
wait "$sleeper"
t_isnt "$?" 0 "  ... whose client sees the error"

pid=$PG_PID
pg_psql -d tenant_alpha -c "INSERT INTO customers (name) VALUES ('committed before the crash')"
t_ok "pg_kill stops the server abruptly" pg_kill
t_ok "  ... the postmaster is gone" bash -c "! kill -0 $pid 2>/dev/null || grep -q '^State:.Z' /proc/$pid/status"
t_ok "  ... and pg_running says so" eval '! pg_running'
t_ok "pg_restart after pg_kill recovers" pg_restart
t_like "$(cat "$PG_LOG")" 'not properly shut down|automatic recovery' "  ... through crash recovery"
t_is "$(count tenant_alpha public customers)" 4 "  ... with the committed row"

# ---------------------------------------------------------------- stop

pid=$PG_PID tmp=$PG_TMP
t0=$(now)
t_ok "pg_stop" pg_stop
t1=$(now)
stop_secs=$(secs "$t0" "$t1")
t_ok "  ... the postmaster is gone" bash -c "! kill -0 $pid 2>/dev/null || grep -q '^State:.Z' /proc/$pid/status"
t_ok "  ... the temp directory is removed" test ! -e "$tmp"
t_is "${PGHOST:-}${PGPORT:-}${PGDATA:-}${PG_TMP:-}" "" "  ... and its variables unset"
t_ok "pg_stop again is harmless" pg_stop

t0=$(now)
pg_start && t1=$(now) && pg_stop && t2=$(now)
t_note "pg_start $(secs "$t0" "$t1") s, pg_stop $(secs "$t1" "$t2") s (a fresh cycle; last stop $stop_secs s)"

# ---------------------------------------------------------------- always stopped

# A child test that starts a server, reports it, then ends as told.
child="$T_TMP/child.t"
cat >"$child" <<EOF
. "$REPO_ROOT/test/lib/pg.sh"
pg_start || exit 9
echo "\$PG_PID \$PG_TMP" >"\$1.tmp" && mv "\$1.tmp" "\$1"
case "\$2" in
error) exit 1 ;;
sete) set -e; false; exit 0 ;;
sleep) sleep 30 ;;
esac
EOF

# gone PID DIR SECONDS: within SECONDS the postmaster is dead (or a zombie)
# and the server's temp directory removed.
gone() {
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        if { ! kill -0 "$1" 2>/dev/null || grep -q '^State:.Z' "/proc/$1/status" 2>/dev/null; } &&
            [ ! -e "$2" ]; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

for how in error sete; do
    info="$T_TMP/$how.info"
    bash "$child" "$info" "$how" >"$T_TMP/$how.log" 2>&1
    rc=$?
    read -r cpid cdir <"$info" 2>/dev/null
    t_is "$rc" 1 "a test that fails ($how) exits 1"
    t_ok "  ... and its server is stopped and removed" gone "${cpid:-0}" "${cdir:-/nonexistent}" 5
done

# Signals go to the child's whole process group, as a Ctrl-C or a killed
# prove would; SIGINT is reset to default first (background jobs ignore it).
for sig in INT TERM HUP KILL; do
    info="$T_TMP/$sig.info"
    setsid perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV' bash "$child" "$info" sleep \
        >"$T_TMP/$sig.log" 2>&1 &
    cpid_bash=$!
    for _ in $(seq 100); do
        [ -s "$info" ] && break
        sleep 0.1
    done
    read -r cpid cdir <"$info" 2>/dev/null
    t_ok "SIG$sig test: its server was running" kill -0 "${cpid:-0}"
    kill -s "$sig" -- "-$cpid_bash"
    wait "$cpid_bash" 2>/dev/null
    rc=$?
    case $sig in
    INT) want=130 ;; TERM) want=143 ;; HUP) want=129 ;; KILL) want=137 ;;
    esac
    t_is "$rc" "$want" "  ... the test exits $want"
    # After SIGKILL no trap runs: the watchdog notices within a second or two.
    t_ok "  ... and its server is stopped and removed" gone "${cpid:-0}" "${cdir:-/nonexistent}" 10
    kill -KILL -- "-$cpid_bash" 2>/dev/null
done

# ---------------------------------------------------------------- template race

# Two tests building a missing template at once: one wins, both succeed,
# nothing half-built is left behind.
race="$T_TMP/race"
mkdir -p "$race/test/lib" "$race/test/fixtures"
cp "$REPO_ROOT"/test/lib/*.sh "$race/test/lib/"
cp "$REPO_ROOT"/test/fixtures/load.sh "$race/test/fixtures/"
pids=()
for i in 1 2; do
    bash -c '. "$1/test/lib/pg.sh" && _pg_template && echo "$_PG_TEMPLATE"' race "$race" \
        >"$T_TMP/race.$i" 2>&1 &
    pids+=($!)
done
ok=0
for p in "${pids[@]}"; do wait "$p" && ok=$((ok + 1)); done
t_is "$ok" 2 "two racing template builds both succeed"
t_is "$(sort -u "$T_TMP"/race.? | wc -l)" 1 "  ... and agree on one template"
t_is "$(ls -A "$race/build/pgtemplate" | wc -l)" 1 "  ... with no staging leftovers"
t_ok "  ... which is complete" test -f "$(head -n 1 "$T_TMP/race.1")/PG_VERSION"

t_done
