#!/usr/bin/env bash
# coffer run, expire, pin and tags under a moving clock (COFFER_NOW): what
# is due per class is backed up together, running again does nothing, GFS
# retention keeps per tenant what its class says, pins hold snapshots, a
# deleted tenant follows the "deleted" class, and bad input gets a clear
# error without changing anything.

. "$(dirname "$0")/../lib/pg.sh"

pg_start || t_bail "cannot start PostgreSQL"
pg_psql -c "CREATE DATABASE sched" >/dev/null || t_bail "cannot create database"
pg_psql -d sched >/dev/null <<'SQL' || t_bail "cannot load data"
CREATE SCHEMA central;
CREATE TABLE central.plans (id int PRIMARY KEY, name text);
INSERT INTO central.plans VALUES (1, 'basic'), (2, 'pro');
CREATE SCHEMA tenant_a;  CREATE TABLE tenant_a.items (id int PRIMARY KEY, v text);
CREATE SCHEMA tenant_b;  CREATE TABLE tenant_b.items (id int PRIMARY KEY, v text);
CREATE SCHEMA tenant_demo; CREATE TABLE tenant_demo.items (id int PRIMARY KEY, v text);
INSERT INTO tenant_a.items SELECT g, 'a' || g FROM generate_series(1, 50) g;
INSERT INTO tenant_b.items SELECT g, 'b' || g FROM generate_series(1, 50) g;
INSERT INTO tenant_demo.items SELECT g, 'd' || g FROM generate_series(1, 20) g;
SQL

export COFFER_PASSPHRASE="schedule test"
cfg="$T_TMP/coffer.yaml"
write_config() { # $1: the classes block
    cat >"$cfg" <<YAML
postgres:
  conninfo: "host=$PGHOST port=$PGPORT dbname=sched user=${DBUSER:-postgres}"
tenancy:
  model: schema
  shared: [central, public]
  shared_class: master
  discover:
    query: "SELECT nspname AS tenant, CASE WHEN nspname LIKE 'tenant_demo%' THEN 'demo' ELSE 'active' END AS class FROM pg_namespace WHERE nspname LIKE 'tenant\\\\_%'"
classes:
$1
repository:
  path: $T_TMP/repo
YAML
}
write_config '  master: { every: 1h, keep: { hourly: 3, daily: 2 } }
  active: { every: 1d, at: "02:00", keep: { daily: 3, weekly: 2 } }
  demo:   { every: 7d, keep: { within: 8d } }
  deleted: { keep: { within: 3d } }'
export COFFER_CONFIG=$cfg
at() { COFFER_NOW=$1 "${@:2}"; }
snapshots() { "$COFFER" list --json | jq length; }
tenant_snaps() { "$COFFER" list --tenant "$1" --json | jq -r '[.[].time[0:16]] | join(" ")'; }

t_ok "init" "$COFFER" init
t_ok "tenants show the classes" "$COFFER" tenants --json
t_is "$(jq -r '[.[] | select(.shared|not) | .name + ":" + .class] | sort | join(" ")' <<<"$T_OUT")" \
    "tenant_a:active tenant_b:active tenant_demo:demo" "  ... from the discovery query"

# ---- the first run backs up everything, together
t_ok "first run" at 2027-01-04T00:10:00Z "$COFFER" run --json
t_is "$(jq -r '[.owners[] | select(.due) | (.tenant // "shared")] | sort | join(" ")' <<<"$T_OUT")" \
    "shared tenant_a tenant_b tenant_demo" "  ... finds every tenant and the shared part due"
t_is "$(jq -r '.backup.stats.tenants' <<<"$T_OUT")" "3" "  ... backs them up in one snapshot"
t_is "$(jq -r '.owners[] | select(.tenant == "tenant_a") | .why' <<<"$T_OUT")" "never backed up" \
    "  ... says why"
t_is "$(snapshots)" "1" "  ... one snapshot"

t_ok "run again in the same period" at 2027-01-04T00:20:00Z "$COFFER" run
t_like "$T_OUT" "nothing to do until something is due" "  ... does nothing"
t_is "$(snapshots)" "1" "  ... and writes no snapshot"

t_ok "dry run an hour later" at 2027-01-04T01:05:00Z "$COFFER" run --dry-run --json
t_is "$(jq -r '[.owners[] | select(.due) | (.tenant // "shared")] | join(" ")' <<<"$T_OUT")" \
    "shared" "  ... only the hourly shared part is due"
t_is "$(jq -r '.owners[] | select(.tenant == "tenant_a") | .next' <<<"$T_OUT")" \
    "2027-01-04T02:00:00Z" "  ... tenant_a is next due at 02:00"
t_is "$(snapshots)" "1" "  ... and nothing was written"
t_ok "run an hour later" at 2027-01-04T01:05:00Z "$COFFER" run --json
t_is "$(jq -r '.backup.stats.tenants' <<<"$T_OUT")" "0" "  ... backs up the shared part alone"

t_ok "run at 02:05" at 2027-01-04T02:05:00Z "$COFFER" run --json
t_is "$(jq -r '[.owners[] | select(.due) | (.tenant // "shared")] | sort | join(" ")' <<<"$T_OUT")" \
    "shared tenant_a tenant_b" "  ... the active tenants are due at their hour, demo is not"

# ---- days go by: one run per day at 02:05
for d in 05 06 07 08 09 10 11; do
    at 2027-01-${d}T02:05:00Z "$COFFER" run --yes >/dev/null 2>"$T_TMP/run.err" ||
        t_diag "run on day $d failed: $(cat "$T_TMP/run.err")"
done
t_ok "check is clean after a week of runs" "$COFFER" check
# active: daily 3 + weekly 2 (ISO weeks: 2027-01-04 is a Monday)
t_is "$(tenant_snaps tenant_a)" "2027-01-09T02:05 2027-01-10T02:05 2027-01-11T02:05" \
    "tenant_a keeps its daily 3 (the weekly 2 fall on kept days)"
# every: 7d counts weeks from 1970-01-01, a Thursday: 2027-01-07 begins one
t_is "$(tenant_snaps tenant_demo)" "2027-01-04T00:10 2027-01-07T02:05" \
    "tenant_demo (every 7d, within 8d) keeps both of its backups"

t_ok "expire --dry-run says which rule keeps each" at 2027-01-11T03:00:00Z "$COFFER" expire --dry-run --json
t_is "$(jq -r '.owners[] | select(.tenant == "tenant_a") | [.snapshots[] | select(.keep) | .why] | join("|")' <<<"$T_OUT")" \
    "daily, weekly|daily, weekly|daily" "  ... the newest of ISO weeks 2 and 1 are weekly too"
t_is "$(jq -r '.parts_dropped' <<<"$T_OUT")" "0" "  ... nothing is left to drop"

# ---- pins and tags
t_ok "a pre-deploy backup, tagged and pinned" at 2027-01-11T10:00:00Z "$COFFER" backup --tag pre-deploy-v42 --pin 14d --json
pre=$(jq -r .id <<<"$T_OUT")
t_ok "list shows the pin" "$COFFER" list --json
t_is "$(jq -r --arg id "$pre" '.[] | select(.id == $id) | .pin_until' <<<"$T_OUT")" "2027-01-25T10:00:00Z" \
    "  ... until 14 days later"
pg_psql -d sched -c "UPDATE tenant_a.items SET v = 'broken'" >/dev/null
t_ok "restore --tag rolls tenant_a back to the pre-deploy snapshot" \
    "$COFFER" restore --tenant tenant_a --tag pre-deploy-v42 --as tenant_a_back
t_is "$(pg_psql -d sched -c "SELECT count(*) FROM tenant_a_back.items WHERE v = 'broken'")" "0" \
    "  ... with the data from before the deploy"
pg_psql -d sched -c "DROP SCHEMA tenant_a_back CASCADE" >/dev/null
t_exit 1 "restore --tag of a tag nobody has" "$COFFER" restore --tenant tenant_a --tag nope --as x
t_like "$T_ERR" 'no snapshot tagged "nope" holds tenant "tenant_a"' "  ... says so"

for d in 12 13 14 15 16; do
    at 2027-01-${d}T02:05:00Z "$COFFER" run --yes >/dev/null 2>&1
done
t_ok "the pinned snapshot outlives its daily rule" "$COFFER" list --json
t_is "$(jq -r --arg id "$pre" '[.[] | select(.id == $id)] | length' <<<"$T_OUT")" "1" "  ... it is still there"
t_ok "unpin it" "$COFFER" unpin "${pre:0:12}"
t_ok "expire after the unpin" at 2027-01-16T03:00:00Z "$COFFER" expire --yes
t_ok "list tenant_a" "$COFFER" list --tenant tenant_a --json
t_is "$(jq -r --arg id "$pre" '[.[] | select(.id == $id)] | length' <<<"$T_OUT")" "0" \
    "  ... tenant_a's part of it is gone"
t_ok "info of the unpinned snapshot" "$COFFER" info "$pre" --json
t_is "$(jq -r '[.tenants[] | select(.shared|not) | .name] | join(" ")' <<<"$T_OUT")" "tenant_demo" \
    "  ... it still holds tenant_demo, whose class keeps 8 days"

# ---- a tenant that is deleted follows the deleted class
pg_psql -d sched -c "DROP SCHEMA tenant_b CASCADE" >/dev/null
t_ok "a run after tenant_b was dropped" at 2027-01-17T02:05:00Z "$COFFER" run --json --yes
t_is "$(jq -r '.expire.owners[] | select(.tenant == "tenant_b") | .gone' <<<"$T_OUT")" "true" \
    "  ... expire knows it is gone"
t_is "$(jq -r '.expire.owners[] | select(.tenant == "tenant_b") | .class' <<<"$T_OUT")" "deleted" \
    "  ... and applies the deleted class"
t_is "$(jq -r '.expire.owners[] | select(.tenant == "tenant_b") | [.kept, .snapshots[0].why] | join(" ")' <<<"$T_OUT")" \
    "1 within" "  ... which keeps its last snapshot, within 3 days of when it was last seen"
t_ok "five days later" at 2027-01-22T02:05:00Z "$COFFER" expire --json --yes
t_is "$(jq -r '.owners[] | select(.tenant == "tenant_b") | [.kept, (.snapshots[0].why)] | join(" ")' <<<"$T_OUT")" \
    "1 its last snapshot" "  ... past its window (3d after last seen), only its last snapshot stays"
t_ok "expire --allow-empty --tenant tenant_b" at 2027-01-22T02:05:00Z "$COFFER" expire --tenant tenant_b --allow-empty --yes
t_is "$(tenant_snaps tenant_b)" "" "  ... removes it from every snapshot"
t_isnt "$(tenant_snaps tenant_a)" "" "  ... and leaves tenant_a alone"

# ---- bad input
t_exit 2 "a clock that went backwards" at 2027-01-01T00:00:00Z "$COFFER" run
t_like "$T_ERR" 'the clock went backwards' "  ... is refused"
t_exit 2 "an unparsable COFFER_NOW" at yesterday "$COFFER" list
t_like "$T_ERR" 'COFFER_NOW="yesterday" is not an RFC 3339 time' "  ... is named"
t_exit 1 "a pin on an unknown snapshot" "$COFFER" pin ffffffffff --for 1d
t_like "$T_ERR" 'ffffffffff' "  ... names it"
t_exit 2 "a pin without a length" "$COFFER" pin latest
t_like "$T_ERR" 'say how long' "  ... asks for one"
t_exit 2 "a pin in the past" at 2027-02-01T00:00:00Z "$COFFER" pin latest --until 2027-01-01
t_like "$T_ERR" 'is in the past' "  ... is refused"

cp "$cfg" "$T_TMP/good.yaml"
write_config '  master: { every: 1h, keep: { last: 2 } }
  active: { every: 1d, keep: { daily: 3 } }'
t_exit 2 "a tenant class that is not defined, and no default" at 2027-01-23T02:05:00Z "$COFFER" run
t_like "$T_ERR" 'tenant "tenant_demo" has class "demo", which is not defined' "  ... names the tenant and class"
write_config '  active: { every: 1d, keep: { daily: 0 } }'
t_exit 2 "a policy that keeps nothing" "$COFFER" config check
t_like "$T_ERR" 'keep would keep nothing' "  ... is a configuration error"
write_config '  active: { every: 1m }'
t_exit 2 "an every finer than coffer run honours" "$COFFER" config check
t_like "$T_ERR" 'finer than coffer run can honour' "  ... is a configuration error"
cp "$T_TMP/good.yaml" "$cfg"

n=$(snapshots)
write_config '  master: { every: 1h, keep: { last: 1 } }
  active: { every: 1d, keep: { last: 1 } }
  demo: { every: 7d, keep: { last: 1 } }'
t_exit 2 "a policy change that would forget more than half, without --yes" at 2027-01-23T03:00:00Z "$COFFER" expire
t_like "$T_ERR" 'needs confirmation' "  ... asks for confirmation"
t_is "$(snapshots)" "$n" "  ... and forgets nothing"
cp "$T_TMP/good.yaml" "$cfg"

# ---- a tenant whose backup failed is due again on the next run, not the next period
pg_psql -d sched >/dev/null <<'SQL'
CREATE SCHEMA tenant_c; CREATE TABLE tenant_c.items (id int PRIMARY KEY);
CREATE ROLE ro LOGIN;
GRANT USAGE ON SCHEMA central, public, tenant_a, tenant_c, tenant_demo TO ro;
GRANT SELECT ON ALL TABLES IN SCHEMA central, tenant_a, tenant_demo TO ro;
SQL
DBUSER=ro write_config '  master: { every: 1h, keep: { hourly: 3, daily: 2 } }
  active: { every: 1d, at: "02:00", keep: { daily: 3, weekly: 2 } }
  demo:   { every: 7d, keep: { within: 8d } }
  deleted: { keep: { within: 3d } }'
t_exit 3 "a run where tenant_c cannot be read ends partial" at 2027-01-24T02:05:00Z "$COFFER" run --json --yes
t_is "$(jq -r '[.backup.failed[].name] | join(" ")' <<<"$T_OUT")" "tenant_c" "  ... naming tenant_c"
t_like "$T_ERR" 'permission denied for table "tenant_c"."items"' "  ... and why"
t_exit 1 "ten minutes later, only tenant_c is due, and fails again" at 2027-01-24T02:15:00Z "$COFFER" run --json
t_is "$(jq -r '[.owners[] | select(.due) | .tenant] | join(" ")' <<<"$T_OUT")" "tenant_c" \
    "  ... it is retried on the next run"
pg_psql -d sched -c "GRANT SELECT ON ALL TABLES IN SCHEMA tenant_c TO ro" >/dev/null
t_ok "once it can be read, the next run backs it up" at 2027-01-24T02:25:00Z "$COFFER" run --json
t_is "$(jq -r '[.backup.stats.tenants, (.backup.failed | length)] | join(" ")' <<<"$T_OUT")" "1 0" \
    "  ... alone, and it succeeds"
t_ok "and the run after that" at 2027-01-24T02:35:00Z "$COFFER" run
t_like "$T_OUT" "nothing to do until something is due" "  ... does nothing"
cp "$T_TMP/good.yaml" "$cfg"

# ---- two runs never overlap: a live run's lock makes the second one do nothing
sleep 300 &
holder=$!
printf '{"mode":"shared","solo":true,"host":"%s","pid":%d,"time":"2027-01-24T03:00:00Z","command":"run","refreshed":%d}' \
    "$(hostname)" "$holder" "$(date +%s)" >"$T_TMP/repo/locks/$(printf '%064d' 7)"
n=$(snapshots)
t_exit 1 "a run while another one runs" at 2027-01-25T02:05:00Z "$COFFER" run
t_like "$T_ERR" "another coffer run is running: process $holder" "  ... says so"
t_is "$(snapshots)" "$n" "  ... and backs up nothing"
t_ok "a backup by hand still runs beside it" at 2027-01-25T02:06:00Z "$COFFER" backup --tenant tenant_a
kill "$holder"; wait "$holder" 2>/dev/null
t_ok "once it is gone, run works again" at 2027-01-25T02:10:00Z "$COFFER" run --yes

# ---- the units a timer installs
t_ok "schedule --systemd" "$COFFER" schedule --systemd
t_like "$T_OUT" 'Persistent=true' "  ... a persistent timer"
t_like "$T_OUT" "ExecStart=.*coffer --config .*coffer.yaml run" "  ... calling coffer run"
t_ok "schedule --crontab" "$COFFER" schedule --crontab
t_like "$T_OUT" '\*/5 \* \* \* \* root .*/coffer --config .*/coffer.yaml run --quiet' "  ... one cron line"

t_ok "prune" "$COFFER" prune
t_ok "check --read-data is clean at the end" "$COFFER" check --read-data
t_done
