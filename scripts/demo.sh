#!/usr/bin/env bash
# make demo: Coffer's main job on a throwaway PostgreSQL 15.
#
# Starts a private server (stopped again on exit, whatever happens), loads a
# small schema-per-tenant SaaS database, backs every tenant up from one
# consistent snapshot, "accidentally" deletes rows in one tenant, restores
# that tenant beside the live one to show the difference (its triggers write
# into the copy, not the live tenant), interrupts a restore in place to show
# that the live tenant is put back, then restores in place. Then schedules
# and retention per class, rehearsed on a drill repository under a simulated
# clock (COFFER_NOW): coffer run twice in a period (the second does
# nothing), a deploy rolled back by its pinned pre-deploy tag, and expire
# --dry-run. Last, an offsite copy: a second repository in an S3 bucket on a
# throwaway S3 server (OpenStack Swift with s3api, as in the tests; skipped
# if Swift is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

. test/lib/pg.sh # loads test/lib/tap.sh for its exit traps and $T_TMP; prints no TAP
. test/lib/s3.sh # the throwaway S3 server; stopped on exit like PostgreSQL

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
sql() { psql -X -qAt -d saas -c "$1"; }

say "a throwaway PostgreSQL 15 with a multi-tenant database"
pg_start >/dev/null || { echo "could not start PostgreSQL" >&2; exit 1; }
echo "server on socket $PGHOST, port $PGPORT"
psql -X -q -d postgres -v ON_ERROR_STOP=1 <<'SQL'
CREATE DATABASE saas;
\connect saas
CREATE SCHEMA central;
CREATE TABLE central.plans (id int PRIMARY KEY, name text NOT NULL, price numeric(10,2));
INSERT INTO central.plans VALUES (1, 'free', 0), (2, 'pro', 49), (3, 'enterprise', 499);
CREATE TABLE central.tenants (schema_name text PRIMARY KEY, class text NOT NULL);
CREATE FUNCTION central.make_tenant(s text, cls text, n int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE SCHEMA %I', s);
    EXECUTE format('CREATE TABLE %I.customers (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    name text NOT NULL, email text, plan_id int REFERENCES central.plans(id))', s);
    EXECUTE format('CREATE TABLE %I.invoices (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    customer_id int NOT NULL REFERENCES %I.customers(id), amount numeric(12,2),
                    issued date, note text)', s, s);
    EXECUTE format('INSERT INTO %I.customers (name, email, plan_id)
                    SELECT ''customer '' || i, ''c'' || i || ''@example.com'', 1 + i %% 3
                      FROM generate_series(1, %s) i', s, n);
    EXECUTE format('INSERT INTO %I.invoices (customer_id, amount, issued, note)
                    SELECT 1 + i %% %s, (i %% 997) * 1.5, date ''2026-01-01'' + i %% 300,
                           repeat(''line item '', 1 + i %% 5)
                      FROM generate_series(1, %s) i', s, n, n * 20);
    INSERT INTO central.tenants VALUES (s, cls);
END $$;
SELECT central.make_tenant('tenant_acme', 'active', 8000);
-- an audit trigger whose function names its own schema: a copy restored
-- under another name must write into its own audit table
CREATE TABLE tenant_acme.audit (at timestamptz DEFAULT now(), what text);
CREATE FUNCTION tenant_acme.log_invoice() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tenant_acme.audit (what) VALUES ('invoice ' || NEW.id);
    RETURN NEW;
END $$;
CREATE TRIGGER log_invoice AFTER INSERT ON tenant_acme.invoices
    FOR EACH ROW EXECUTE FUNCTION tenant_acme.log_invoice();
SELECT central.make_tenant('tenant_globex', 'active', 1500);
SELECT central.make_tenant('tenant_initech', 'active', 800);
SELECT central.make_tenant('tenant_demo1', 'demo', 50);
SQL

WORK=$(mktemp -d /tmp/coffer-demo.XXXXXX)
t_at_exit "rm -rf '$WORK'"
export COFFER_CONFIG="$WORK/coffer.yaml" COFFER_PASSPHRASE="demo passphrase"
cat >"$COFFER_CONFIG" <<YAML
postgres:
  conninfo: "host=$PGHOST port=$PGPORT dbname=saas user=postgres"
tenancy:
  model: schema
  shared: [central]
  discover:
    query: "SELECT schema_name AS tenant, class FROM central.tenants"
classes:
  active: {}
  demo: {}
repository:
  path: $WORK/repo
YAML
say "the configuration ($COFFER_CONFIG)"
cat "$COFFER_CONFIG"
echo "(the passphrase comes from COFFER_PASSPHRASE here; use repository.passphrase_file in production)"

say "create an encrypted repository"
run ./coffer init

say "which tenants does Coffer see?"
run ./coffer tenants

say "back up every tenant from one consistent snapshot"
run ./coffer backup --tag nightly

say "an accident: a third of tenant_acme's invoices are deleted"
before=$(sql "SELECT count(*) FROM tenant_acme.invoices")
globex_before=$(sql "SELECT md5(string_agg(i::text, ',' ORDER BY id)) FROM tenant_globex.invoices i")
run sql "DELETE FROM tenant_acme.invoices WHERE id % 3 = 0"
echo "tenant_acme.invoices: $before rows before, $(sql "SELECT count(*) FROM tenant_acme.invoices") now"

say "restore tenant_acme beside the live one, as tenant_acme_restored"
run ./coffer restore --tenant tenant_acme --as tenant_acme_restored
echo "rows in the restored copy that the live tenant lost:"
sql "SELECT count(*) FROM tenant_acme_restored.invoices r
      WHERE NOT EXISTS (SELECT 1 FROM tenant_acme.invoices l WHERE l.id = r.id)"
echo "(they could be copied back with INSERT ... SELECT; instead we restore in place)"
echo "the copy is its own: its audit trigger now writes into tenant_acme_restored.audit"
sql "INSERT INTO tenant_acme_restored.invoices (customer_id, amount) VALUES (1, 10)"
echo "audit rows: copy $(sql "SELECT count(*) FROM tenant_acme_restored.audit"), live tenant $(sql "SELECT count(*) FROM tenant_acme.audit")"

say "Ctrl-C during a restore in place: the live tenant is put back"
live=$(sql "SELECT count(*) FROM tenant_acme.invoices")
set -m # job control, so that the restore in the background gets SIGINT
./coffer restore --tenant tenant_acme --clean --yes &
pid=$!
set +m
for _ in $(seq 200); do
    [ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY %FROM STDIN'")" -gt 0 ] && break
    sleep 0.05
done
echo "$ kill -INT $pid    # while it loads the data"
kill -INT "$pid" 2>/dev/null || true
wait "$pid" && echo "(the restore finished before the interrupt)" || echo "exit status $?"
echo "tenant_acme.invoices: $(sql "SELECT count(*) FROM tenant_acme.invoices") rows (the live tenant had $live)"
echo "schemas left aside: $(sql "SELECT count(*) FROM pg_namespace WHERE nspname LIKE '%coffer_old%'")"

say "kill -9 during a restore in place: the journal puts the live tenant back"
./coffer restore --tenant tenant_acme --clean --yes 2>/dev/null &
pid=$!
for _ in $(seq 200); do
    [ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY %FROM STDIN'")" -gt 0 ] && break
    sleep 0.05
done
echo "$ kill -9 $pid    # nothing in the process can run now"
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
echo "schemas left aside: $(sql "SELECT count(*) FROM pg_namespace WHERE nspname LIKE '%coffer_old%'")"
echo "coffer check names what the killed restore left behind (warnings: the repository itself is fine)"
run ./coffer check
run ./coffer restore --recover
echo "tenant_acme.invoices: $(sql "SELECT count(*) FROM tenant_acme.invoices") rows (the live tenant had $live)"
echo "schemas left aside: $(sql "SELECT count(*) FROM pg_namespace WHERE nspname LIKE '%coffer_old%'")"

say "restore tenant_acme in place (a safety backup of the damaged state is taken first)"
run ./coffer restore --tenant tenant_acme --clean --yes
echo "tenant_acme.invoices: $(sql "SELECT count(*) FROM tenant_acme.invoices") rows (was $before)"
if [ "$(sql "SELECT md5(string_agg(i::text, ',' ORDER BY id)) FROM tenant_globex.invoices i")" = "$globex_before" ]; then
    echo "tenant_globex: untouched (same content hash as before)"
else
    echo "tenant_globex: CHANGED" >&2
    exit 1
fi

say "a second backup stores only what changed"
run ./coffer backup --tag nightly

say "schedules and retention per class, rehearsed under a simulated clock (COFFER_NOW)"
# the rehearsal's own configuration and repository: its simulated days stay out of the real one
DRILL="$WORK/drill.yaml"
DRILL_REPO="$WORK/drill" perl -0pe 's|^classes:\n(  .*\n)*|classes:\n  active: { every: 1d, at: "02:00", keep: { daily: 7, weekly: 4, monthly: 12 } }\n  demo:   { every: 7d, keep: { within: 30d } }\n  deleted: { keep: { within: 730d } }\n|m;
    s|^(repository:\n  path: ).*|$1$ENV{DRILL_REPO}|m' "$COFFER_CONFIG" >"$DRILL"
grep -qx "  path: $WORK/drill" "$DRILL" || { echo "could not write $DRILL" >&2; exit 1; }
echo "a copy of the configuration ($DRILL), with a drill repository and these classes:"
sed -n '/^classes:/,/^repository:/p' "$DRILL" | sed '$d'
at() { printf '$ COFFER_NOW=%s %s\n' "$1" "${*:2}"; COFFER_NOW=$1 "${@:2}"; }
MAIN_CONFIG=$COFFER_CONFIG
export COFFER_CONFIG="$DRILL"
./coffer init >/dev/null
echo "one cron line (or coffer schedule --systemd: a timer) calls coffer run every 5 minutes:"
./coffer schedule --crontab
echo "Wednesday 02:05: every tenant is due, and all are backed up together, from one snapshot"
at 2027-01-06T02:05:00Z ./coffer run
echo "five minutes later nothing is due, and the run does nothing"
at 2027-01-06T02:10:00Z ./coffer run

say "a deploy: a pinned backup before the migration, then one tenant rolled back by its tag"
at 2027-01-06T10:00:00Z ./coffer backup --tag pre-deploy-v42 --pin 14d | tee "$WORK/pre-deploy.out"
pre=$(sed -n 's/^snapshot \([0-9a-f]*\) saved$/\1/p' "$WORK/pre-deploy.out")
[ -n "$pre" ] || { echo "the pre-deploy backup printed no snapshot id" >&2; exit 1; }
initech_before=$(sql "SELECT sum(amount) FROM tenant_initech.invoices")
echo "the migration goes wrong in tenant_initech:"
run sql "UPDATE tenant_initech.invoices SET amount = 0"
echo "tenant_initech.invoices: sum(amount) $(sql "SELECT sum(amount) FROM tenant_initech.invoices") (before the deploy: $initech_before)"
echo "roll that tenant back to its pre-deploy snapshot (the others keep what the deploy did):"
at 2027-01-06T10:30:00Z ./coffer restore --tenant tenant_initech --tag pre-deploy-v42 --clean --yes
echo "tenant_initech.invoices: sum(amount) $(sql "SELECT sum(amount) FROM tenant_initech.invoices") again"
echo "what would expire keep now, and by which rule? (daily keeps each day's newest snapshot:"
echo "today that is the pre-deploy one, so the night's goes; tenant_demo1 keeps 30 days)"
at 2027-01-06T10:35:00Z ./coffer expire --dry-run --tenant tenant_acme --tenant tenant_demo1
echo "once the deploy is verified, the pin can go:"
run ./coffer unpin "${pre:0:12}"
export COFFER_CONFIG="$MAIN_CONFIG" # back to the real repository

say "200 more tenants, backed up within a lock budget of 150 relation locks"
psql -X -q -d saas -v ON_ERROR_STOP=1 \
    -c "SELECT central.make_tenant('tenant_small' || lpad(g::text, 3, '0'), 'demo', 3) FROM generate_series(1, 200) g" >/dev/null
sed -i 's|^postgres:|postgres:\n  lock_budget: 150|' "$COFFER_CONFIG"
echo "(postgres.lock_budget: 150 in the configuration; by default a quarter of the server's lock table)"
printf '$ ./coffer backup --verbose\n'
./coffer backup --verbose 2>&1 | grep -E 'dumping the schemas|saved|tenants, ' | sed -n '1,3p;$p'
sed -i '/^  lock_budget: 150$/d' "$COFFER_CONFIG"

say "what the repository holds"
echo "each tenant's part of a snapshot is sealed under its own key: $(ls "$WORK/repo/parts" | wc -l) parts"
run ./coffer list
run ./coffer info latest --tenant tenant_acme

say "an application's long transaction: the restore waits postgres.lock_timeout (3 s here), then names it"
sed -i 's|^postgres:|postgres:\n  lock_timeout: 3|' "$COFFER_CONFIG"
PGAPPNAME=billing-app psql -X -q -d saas \
    -c "BEGIN; LOCK TABLE tenant_globex.invoices IN ACCESS SHARE MODE; SELECT pg_sleep(6); COMMIT;" >/dev/null &
app=$!
sleep 1
printf '$ %s\n' "./coffer restore --tenant tenant_globex --table invoices --data-only --clean --yes"
./coffer restore --tenant tenant_globex --table invoices --data-only --clean --yes &
restore=$!
sleep 1.5
echo "meanwhile, coffer unlock shows who holds the repository's lock, and keeps it: its holder is alive"
run ./coffer unlock
wait "$restore" || echo "(exit $?: nothing was changed)"
wait "$app"
sed -i '/^  lock_timeout: 3$/d' "$COFFER_CONFIG"

say "drop the safety snapshots and free what only they used"
safety=$(./coffer list --json | perl -MJSON::PP -e 'local $/; for (@{decode_json(<STDIN>)}) { print $_->{id}, "\n" if grep { $_ eq "safety" } @{$_->{tags}} }')
run ./coffer forget $safety
run ./coffer prune

say "verify every byte of the repository"
run ./coffer check --read-data

say "offsite: a second repository in an S3 bucket"
if ! s3_available; then
    echo "(skipped: OpenStack Swift, the throwaway S3 server, is not installed; scripts/install-deps.sh installs it)"
else
    s3_start 2>"$WORK/s3.err" || { cat "$WORK/s3.err" >&2; echo "could not start the S3 server" >&2; exit 1; }
    s3_mb coffer-demo || { echo "could not create the bucket" >&2; exit 1; }
    echo "a throwaway S3 server (OpenStack Swift with s3api) at $S3_ENDPOINT, bucket coffer-demo"
    # the keys come from the environment, not from the configuration file
    export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
    unset AWS_SESSION_TOKEN AWS_PROFILE
    perl -0pi -e "s|^repository:\n  path: (.*)\n|repositories:\n  - name: local\n    path: \$1\n  - name: offsite\n    s3:\n      endpoint: $S3_ENDPOINT\n      bucket: coffer-demo\n      prefix: saas\n|m" "$COFFER_CONFIG"
    grep -q '^repositories:' "$COFFER_CONFIG" || { echo "could not add the offsite repository to $COFFER_CONFIG" >&2; exit 1; }
    echo "the configuration now lists two repositories; the first, local, is the default:"
    sed -n '/^repositories:/,$p' "$COFFER_CONFIG"
    echo "(the keys come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; --repo picks a repository)"
    run ./coffer init --repo offsite
    echo "offsite holds the active tenants; the 201 demo tenants need no second copy"
    run ./coffer backup --repo offsite --class active
    echo "copy: the latest local snapshot's part of two tenants goes offsite, under its own id;"
    echo "only the chunks offsite lacks are sent, and offsite stores them under its own keys"
    run ./coffer copy --from local --to offsite --tenant tenant_acme --tenant tenant_globex
    run ./coffer list --repo offsite
    run ./coffer check --repo offsite --read-data

    say "restore tenant_globex from offsite, beside the live one"
    run ./coffer restore --repo offsite --tenant tenant_globex --as tenant_globex_offsite
    if [ "$(sql "SELECT md5(string_agg(i::text, ',' ORDER BY id)) FROM tenant_globex_offsite.invoices i")" = "$globex_before" ]; then
        echo "tenant_globex_offsite.invoices: the same rows as the live tenant (same content hash)"
    else
        echo "tenant_globex_offsite.invoices: DIFFERENT from the live tenant" >&2
        exit 1
    fi
fi

say "done: the servers and the demo files are removed on exit"
