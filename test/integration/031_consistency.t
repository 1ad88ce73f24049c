#!/usr/bin/env bash
# Consistency across tenants (DESIGN §2, §6): a backup taken while a
# workload moves money between two tenants restores to a state where the
# money adds up. Each transfer is one transaction: a debit in tenant_a, a
# credit in tenant_b and a ledger row in tenant_a. The two tenants' tables
# are copied by different workers at different moments; only if every
# worker reads the one exported snapshot do the restored balances and
# ledger agree. The workload (pgbench, a custom script) must commit
# transfers before, during and after the backup's snapshot.
. "$(dirname "$0")/../lib/pg.sh"

pg_start || t_bail "cannot start PostgreSQL"

DB=bank
N=250000        # accounts per tenant, each starting with 1000
START=1000
export COFFER_PASSPHRASE=consistency-test
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

pg_psql -c "CREATE DATABASE $DB" || t_bail "cannot create database $DB"
pg_psql -d "$DB" -v n=$N -v start=$START <<'SQL' || t_bail "cannot load the accounts"
CREATE SCHEMA tenant_a;
CREATE SCHEMA tenant_b;
CREATE TABLE tenant_a.accounts (id integer PRIMARY KEY, balance bigint NOT NULL, owner text NOT NULL);
CREATE TABLE tenant_b.accounts (id integer PRIMARY KEY, balance bigint NOT NULL, owner text NOT NULL);
-- amount > 0: from tenant_a to tenant_b; < 0: the other way
CREATE TABLE tenant_a.ledger (id bigserial PRIMARY KEY, amount bigint NOT NULL,
                              src integer NOT NULL, dst integer NOT NULL);
INSERT INTO tenant_a.accounts SELECT g, :start, 'a-' || md5(g::text) FROM generate_series(1, :n) g;
INSERT INTO tenant_b.accounts SELECT g, :start, 'b-' || md5(g::text) FROM generate_series(1, :n) g;
ANALYZE;
SQL
TOTAL=$((2 * N * START))

cat >"$T_TMP/transfer.sql" <<EOF
\\set src random(1, $N)
\\set dst random(1, $N)
\\set amount random(-500, 500)
BEGIN;
UPDATE tenant_a.accounts SET balance = balance - :amount WHERE id = :src;
UPDATE tenant_b.accounts SET balance = balance + :amount WHERE id = :dst;
INSERT INTO tenant_a.ledger (amount, src, dst) VALUES (:amount, :src, :dst);
COMMIT;
EOF

# transfers: how many transfers have committed so far.
transfers() { pg_psql -d "$DB" -c 'SELECT count(*) FROM tenant_a.ledger'; }

# sums SCHEMA_A SCHEMA_B: "sum_a sum_b ledger_count ledger_sum".
sums() {
    pg_psql -d "$DB" -F ' ' -v a="$1" -v b="$2" <<'SQL'
SELECT (SELECT sum(balance) FROM :"a".accounts), (SELECT sum(balance) FROM :"b".accounts),
       (SELECT count(*) FROM :"a".ledger), (SELECT coalesce(sum(amount), 0) FROM :"a".ledger)
SQL
}

# ---------------------------------------------------------------- the workload

t_ok "init" "$COFFER" init

"${PG_BINDIR:+$PG_BINDIR/}pgbench" -n -c 2 -j 2 -T 300 -f "$T_TMP/transfer.sql" "$DB" \
    >"$T_TMP/pgbench.out" 2>&1 &
BENCH=$!
t_at_exit "kill $BENCH 2>/dev/null"

# wait until transfers are flowing
for ((i = 0; i < 100; i++)); do
    [ "$(transfers)" -ge 200 ] && break
    sleep 0.1
done
before=$(transfers)
t_ok "the workload runs" test "$before" -ge 200

t_ok "backup -j 2 while money moves between the tenants" "$COFFER" backup -j 2 --json
snap=$(jq -r .id <<<"$T_OUT")
after=$(transfers)
t_note "transfers: $before before the backup, $after after it"
t_ok "the workload was still running after the backup" kill -0 "$BENCH"
kill "$BENCH"
wait "$BENCH" 2>/dev/null
t_ok "  ... and committed transfers while it ran ($before -> $after)" \
    test "$((after - before))" -ge 100

read -r la lb lcount lsum <<<"$(sums tenant_a tenant_b)"
t_is "$((la + lb))" "$TOTAL" "the live tenants hold the invariant once the workload stopped"
t_is "$la/$lb" "$((N * START - lsum))/$((N * START + lsum))" "  ... and agree with their ledger"

# ---------------------------------------------------------------- the restore

t_ok "restore tenant_a beside the live one" "$COFFER" restore --tenant tenant_a --snapshot "$snap" --as check_a
t_ok "restore tenant_b beside the live one" "$COFFER" restore --tenant tenant_b --snapshot "$snap" --as check_b
read -r ra rb rcount rsum <<<"$(sums check_a check_b)"
t_note "restored: $rcount transfers, tenant_a $ra, tenant_b $rb"

t_is "$(pg_psql -d "$DB" -c 'SELECT count(*) FROM check_a.accounts')/$(pg_psql -d "$DB" -c 'SELECT count(*) FROM check_b.accounts')" \
    "$N/$N" "every account is restored"
t_is "$((ra + rb))" "$TOTAL" "the money across both restored tenants adds up to the invariant"
t_is "$ra" "$((N * START - rsum))" "tenant_a's balances agree with its ledger"
t_is "$rb" "$((N * START + rsum))" "tenant_b's balances agree with tenant_a's ledger"
t_ok "the snapshot falls between the transfers before and after the backup ($before <= $rcount <= $after)" \
    test "$before" -le "$rcount" -a "$rcount" -le "$after"
t_ok "  ... and transfers committed after it, while the tables were copied ($rcount < $after)" \
    test "$rcount" -lt "$after"

# the ledger holds every transfer's endpoints: replaying it on the start
# state gives each restored account exactly its restored balance
t_is "$(pg_psql -d "$DB" <<SQL
SELECT count(*) FROM (
    SELECT a.id FROM check_a.accounts a
      LEFT JOIN (SELECT src AS id, sum(amount) AS s FROM check_a.ledger GROUP BY src) l USING (id)
     WHERE a.balance <> $START - coalesce(l.s, 0)
    UNION ALL
    SELECT b.id FROM check_b.accounts b
      LEFT JOIN (SELECT dst AS id, sum(amount) AS s FROM check_a.ledger GROUP BY dst) l USING (id)
     WHERE b.balance <> $START + coalesce(l.s, 0)) bad
SQL
)" 0 "every restored account matches the restored ledger, in both tenants"

t_ok "the repository checks clean" "$COFFER" check

t_done
