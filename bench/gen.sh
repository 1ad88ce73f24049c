#!/usr/bin/env bash
# bench/gen.sh - generates the benchmark data sets in a running PostgreSQL.
#
# usage: bench/gen.sh skewed|tiny|dbs|huge|churn|all   (all: skewed tiny dbs)
#
# Connects through the usual PGHOST/PGPORT/PGUSER. Data is made server side with
# generate_series by the pg_temp functions in bench/gen.sql, in BENCH_GEN_JOBS
# parallel sessions (default 2), so nothing of the generator stays behind.
#
#   skewed  database bench_schema: BENCH_SKEWED_TENANTS (200) schemas tenant_0001...
#           of Zipf-like sizes (tenant of rank r gets 1/r of the share) totalling
#           about 1.5 GB x BENCH_SCALE of COPY text, plus the shared schema central
#           (plans, tenants registry; every tenant's subscription has an FK into it)
#   tiny    database bench_tiny: BENCH_TINY_TENANTS (2000) schemas x 8 tables of a
#           few rows (16,000 tables) plus central; not scaled by BENCH_SCALE
#   dbs     BENCH_DBS (200) databases bench_db_0001... (one per tenant, same 8
#           tables in public) of Zipf-like sizes totalling about 300 MB x BENCH_SCALE,
#           plus bench_master with clientes_saas(tenant, dbname, class)
#   huge    database bench_huge: BENCH_HUGE_TENANTS (10000) schemas x 8 tables of
#           the tiny set's shape (80,000 tables) plus central; and database
#           bench_one: central plus ONE tenant schema of the same 8 tables holding
#           the same bytes of COPY text as all of bench_huge's tenants together
#           (made with as many rows, then its last rows deleted to match the bytes,
#           which grow with the row numbers' digits). Schema names have at least
#           4 digits, 5 from 10,000 tenants on. Not scaled by BENCH_SCALE
#   churn   a day of churn on bench_schema: every 10th tenant (10%) gets about 5%
#           new rows in its growing tables and about 1% of its recent rows updated
#
# BENCH_SCALE (or SCALE; default 1.0) multiplies the data sizes of skewed and dbs.
# Each step drops and recreates what it makes, prints what it made and how long
# it took.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GEN_SQL=$BENCH_DIR/gen.sql
SCALE=${BENCH_SCALE:-${SCALE:-1.0}}
JOBS=${BENCH_GEN_JOBS:-2}
SKEWED_TENANTS=${BENCH_SKEWED_TENANTS:-200}
SKEWED_BYTES=$(awk -v s="$SCALE" 'BEGIN { printf "%.0f", 1.5e9 * s }')
TINY_TENANTS=${BENCH_TINY_TENANTS:-2000}
HUGE_TENANTS=${BENCH_HUGE_TENANTS:-10000}
DBS=${BENCH_DBS:-200}
DBS_BYTES=$(awk -v s="$SCALE" 'BEGIN { printf "%.0f", 3.0e8 * s }')
CHURN_NEW=${BENCH_CHURN_NEW:-0.05}
CHURN_UPD=${BENCH_CHURN_UPD:-0.01}

export PGDATABASE=${PGDATABASE:-postgres}
PSQL=(psql -X -q -v ON_ERROR_STOP=1)

log() { printf '[%(%H:%M:%S)T] gen: %s\n' -1 "$*" >&2; }
die() { printf 'gen: error: %s\n' "$*" >&2; exit 1; }

# zipf_sizes N TOTAL: N lines "index rank bytes"; rank r gets TOTAL * (1/r) / H(N).
# Ranks are spread over the indexes by a fixed permutation (index*m mod N), so
# big tenants are not all at the start of the alphabet.
zipf_sizes()
{
    awk -v n="$1" -v total="$2" '
        function gcd(a, b) { while (b) { t = b; b = a % b; a = t } return a }
        BEGIN {
            m = 73; while (gcd(m, n) != 1) m++
            for (r = 1; r <= n; r++) h += 1 / r
            for (i = 1; i <= n; i++) {
                r = ((i - 1) * m) % n + 1
                printf "%d %d %.0f\n", i, r, total / r / h
            }
        }'
}

# run_workers DB FILE...: one psql session per file, in parallel; fails if any does.
run_workers()
{
    local db=$1; shift
    local pids=() f rc=0
    for f in "$@"; do
        "${PSQL[@]}" -d "$db" -f "$GEN_SQL" -f "$f" >/dev/null &
        pids+=($!)
    done
    for p in "${pids[@]}"; do
        wait "$p" || rc=1
    done
    return $rc
}

# lpt_split DIR PREFIX: reads "weight sql" lines on stdin, writes JOBS files
# DIR/PREFIX.N.sql balancing the summed weights (largest first), prints their names.
lpt_split()
{
    local dir=$1 prefix=$2
    sort -k1,1nr | awk -v jobs="$JOBS" -v dir="$dir" -v prefix="$prefix" '
        BEGIN { for (j = 1; j <= jobs; j++) { load[j] = 0; f[j] = dir "/" prefix "." j ".sql"; printf "" > f[j] } }
        {
            best = 1; for (j = 2; j <= jobs; j++) if (load[j] < load[best]) best = j
            load[best] += $1 + 1
            sub(/^[0-9]+ /, ""); print > f[best]
        }
        END { for (j = 1; j <= jobs; j++) print f[j] }'
}

elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# The shared schema central: plans, and the tenants registry (filled by the caller).
create_central()   # DB
{
    "${PSQL[@]}" -d "$1" <<'EOF'
CREATE SCHEMA central;
CREATE TABLE central.plans (
    id integer PRIMARY KEY, name text NOT NULL UNIQUE, monthly_price numeric(10,2) NOT NULL,
    max_seats integer NOT NULL, features jsonb NOT NULL);
INSERT INTO central.plans VALUES
    (1, 'free', 0, 3, '{"api": false, "sso": false}'),
    (2, 'basic', 29, 10, '{"api": true, "sso": false}'),
    (3, 'pro', 99, 50, '{"api": true, "sso": true}'),
    (4, 'enterprise', 499, 5000, '{"api": true, "sso": true, "audit": true}');
CREATE TABLE central.tenants (
    id integer PRIMARY KEY, schema_name text NOT NULL UNIQUE, display_name text NOT NULL,
    plan_id integer NOT NULL REFERENCES central.plans, class text NOT NULL,
    status text NOT NULL, approx_bytes bigint NOT NULL, size_rank integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now());
EOF
}

gen_skewed()
{
    local t0=$EPOCHREALTIME work
    work=$(mktemp -d)
    log "skewed: $SKEWED_TENANTS tenants, about $SKEWED_BYTES bytes (scale $SCALE), $JOBS sessions"
    dropdb --if-exists bench_schema
    createdb bench_schema
    create_central bench_schema
    local i r b s calls=() rows=()
    while read -r i r b; do
        s=$(printf 'tenant_%04d' "$i")
        rows+=("($i, '$s', 'Tenant $i', 1 + $i % 4, CASE WHEN $i % 10 = 3 THEN 'demo' ELSE 'active' END, 'active', $b, $r)")
        calls+=("$b SELECT pg_temp.gen_tenant('$s', $b, true, $i);")
    done < <(zipf_sizes "$SKEWED_TENANTS" "$SKEWED_BYTES")
    "${PSQL[@]}" -d bench_schema -c "INSERT INTO central.tenants VALUES $(IFS=,; echo "${rows[*]}")"
    mapfile -t files < <(printf '%s\n' "${calls[@]}" | lpt_split "$work" skewed)
    run_workers bench_schema "${files[@]}" || die "skewed: generation failed"
    log "skewed: loaded in $(elapsed "$t0") s; vacuum analyze"
    vacuumdb -q -j "$JOBS" -z -d bench_schema
    "${PSQL[@]}" -d bench_schema -c CHECKPOINT
    rm -rf "$work"
    log "skewed: done in $(elapsed "$t0") s; database size $(psql -X -At -d bench_schema -c "SELECT pg_size_pretty(pg_database_size(current_database()))")"
}

gen_tiny()
{
    local t0=$EPOCHREALTIME work i calls=()
    work=$(mktemp -d)
    log "tiny: $TINY_TENANTS tenants x 8 tables, $JOBS sessions"
    dropdb --if-exists bench_tiny
    createdb bench_tiny
    create_central bench_tiny
    "${PSQL[@]}" -d bench_tiny -c "INSERT INTO central.tenants
        SELECT i, 'tenant_' || lpad(i::text, 4, '0'), 'Tenant ' || i, 1 + i % 4, 'active', 'active', 2000, 1
        FROM generate_series(1, $TINY_TENANTS) i"
    for (( i = 1; i <= TINY_TENANTS; i++ )); do
        calls+=("1 SELECT pg_temp.gen_tiny('$(printf 'tenant_%04d' "$i")', $i);")
    done
    mapfile -t files < <(printf '%s\n' "${calls[@]}" | lpt_split "$work" tiny)
    run_workers bench_tiny "${files[@]}" || die "tiny: generation failed"
    log "tiny: loaded in $(elapsed "$t0") s; vacuum analyze"
    "${PSQL[@]}" -d bench_tiny -c "VACUUM (ANALYZE)"
    "${PSQL[@]}" -d bench_tiny -c CHECKPOINT
    rm -rf "$work"
    log "tiny: done in $(elapsed "$t0") s; $(psql -X -At -d bench_tiny -c "SELECT count(*) || ' tables, ' || pg_size_pretty(pg_database_size(current_database())) FROM pg_tables WHERE schemaname LIKE 'tenant\_%'")"
}

# huge_width: the digits of the huge set's schema names (tenant_0001... up to
# 9,999 tenants, tenant_00001... from 10,000 on).
huge_width() { local w=${#HUGE_TENANTS}; echo $(( w < 4 ? 4 : w )); }

# huge_rows: the rows of all bench_huge tenants together: tenant i has
# 2 + (i + length(t)) % 6 rows in table t (pg_temp.gen_tiny).
huge_rows()
{
    awk -v n="$HUGE_TENANTS" 'BEGIN {
        split("8 8 5 5 5 5 4 5", len)   # accounts contacts deals notes tasks files tags audit
        for (i = 1; i <= n; i++) for (t = 1; t <= 8; t++) r += 2 + (i + len[t]) % 6
        printf "%d", r }'
}

# copy_bytes DB WHERE: the bytes of COPY text of DB's tables whose schema
# n.nspname satisfies WHERE.
copy_bytes()
{
    psql -X -At -d "$1" -c "SELECT format('COPY %I.%I TO STDOUT;', n.nspname, c.relname)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND ($2)" |
        "${PSQL[@]}" -d "$1" | wc -c
}

gen_huge()
{
    local t0=$EPOCHREALTIME work w rows per sample hb ob keep one
    work=$(mktemp -d)
    w=$(huge_width)
    rows=$(huge_rows)
    log "huge: $HUGE_TENANTS tenants x 8 tables ($rows rows) in bench_huge, $JOBS sessions; one tenant of $rows rows in bench_one"
    dropdb --if-exists bench_huge
    dropdb --if-exists bench_one
    createdb bench_huge
    create_central bench_huge
    "${PSQL[@]}" -d bench_huge -c "INSERT INTO central.tenants
        SELECT i, 'tenant_' || lpad(i::text, $w, '0'), 'Tenant ' || i, 1 + i % 4, 'active', 'active', 2000, 1
        FROM generate_series(1, $HUGE_TENANTS) i"
    # one transaction per tenant: a tenant's 40 new relations are locked until
    # its commit, and the server runs with the stock lock table
    awk -v n="$HUGE_TENANTS" -v w="$w" 'BEGIN {
        fmt = "1 SELECT pg_temp.gen_tiny(\047tenant_%0" w "d\047, %d);\n"
        for (i = 1; i <= n; i++) printf fmt, i, i }' |
        lpt_split "$work" huge >"$work/files"
    mapfile -t files <"$work/files"
    run_workers bench_huge "${files[@]}" || die "huge: generation failed"
    log "huge: bench_huge loaded in $(elapsed "$t0") s; bench_one"
    createdb bench_one
    create_central bench_one
    one=$(printf "tenant_%0${w}d" 1)
    per=$(( (rows + 7) / 8 ))
    "${PSQL[@]}" -d bench_one -c "INSERT INTO central.tenants
        VALUES (1, '$one', 'Tenant 1', 2, 'active', 'active', 2000, 1)"
    "${PSQL[@]}" -d bench_one -f "$GEN_SQL" -c "SELECT pg_temp.gen_tiny('$one', 1, $per)" >/dev/null
    # the same bytes: bench_huge's COPY text from 120 tenants (a whole period of
    # gen_tiny's row counts and words) scaled to all, against bench_one's whole
    sample=$(( HUGE_TENANTS < 120 ? HUGE_TENANTS : 120 ))
    hb=$(( $(copy_bytes bench_huge "n.nspname IN (SELECT schema_name FROM central.tenants WHERE id <= $sample)") * HUGE_TENANTS / sample ))
    ob=$(copy_bytes bench_one "n.nspname = '$one'")
    keep=$(awk -v p="$per" -v h="$hb" -v o="$ob" 'BEGIN { k = int(p * h / o); print (k < p ? k : p) }')
    if [ "$keep" -lt "$per" ]; then
        "${PSQL[@]}" -d bench_one -c "$(for t in accounts contacts deals notes tasks files tags audit; do
            printf 'DELETE FROM %s.%s WHERE id > %d;\n' "$one" "$t" "$keep"; done)"
    fi
    log "huge: bench_huge about $hb bytes of COPY text; bench_one $ob with $per rows a table, $keep kept: $(copy_bytes bench_one "n.nspname = '$one'")"
    log "huge: loaded in $(elapsed "$t0") s; vacuum analyze"
    # one VACUUM (ANALYZE) of a list of tables per session: vacuumdb -j sends a
    # command per table, several times slower on 80,000 tiny tables
    psql -X -At -d bench_huge -c "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables
        WHERE schemaname LIKE 'tenant\_%' OR schemaname = 'central'" |
        awk -v jobs="$JOBS" -v dir="$work" '
            { j = NR % jobs; f = dir "/vacuum." j ".sql"; printf "%s%s", (seen[j]++ ? ", " : "VACUUM (ANALYZE) "), $0 > f }
            END { for (j in seen) { f = dir "/vacuum." j ".sql"; print ";" > f; print f } }' >"$work/vacuum"
    mapfile -t files <"$work/vacuum"
    local pids=() f rc=0
    for f in "${files[@]}"; do "${PSQL[@]}" -d bench_huge -f "$f" & pids+=($!); done
    for f in "${pids[@]}"; do wait "$f" || rc=1; done
    [ $rc = 0 ] || die "huge: vacuum failed"
    "${PSQL[@]}" -d bench_one -c "VACUUM (ANALYZE)"
    "${PSQL[@]}" -d postgres -c CHECKPOINT
    rm -rf "$work"
    log "huge: done in $(elapsed "$t0") s; bench_huge $(psql -X -At -d bench_huge -c "SELECT count(*) || ' tables, ' || pg_size_pretty(pg_database_size(current_database())) FROM pg_tables WHERE schemaname LIKE 'tenant\_%'"), bench_one $(psql -X -At -d bench_one -c "SELECT count(*) || ' tables, ' || pg_size_pretty(pg_database_size(current_database())) FROM pg_tables WHERE schemaname LIKE 'tenant\_%'")"
}

# One database of the dbs set (run by xargs in parallel): gen.sh _db INDEX BYTES
gen_one_db()
{
    local i=$1 b=$2 db
    db=$(printf 'bench_db_%04d' "$i")
    "${PSQL[@]}" -d postgres -c "CREATE DATABASE $db STRATEGY FILE_COPY"
    "${PSQL[@]}" -d "$db" -f "$GEN_SQL" -c "SELECT pg_temp.gen_tenant('public', $b, false, $i)" >/dev/null
    vacuumdb -q -z -d "$db"
}

gen_dbs()
{
    local t0=$EPOCHREALTIME db
    log "dbs: $DBS databases, about $DBS_BYTES bytes (scale $SCALE), $JOBS sessions"
    for db in $(psql -X -At -d postgres -c "SELECT datname FROM pg_database WHERE datname LIKE 'bench\_db\_%' OR datname = 'bench_master'"); do
        dropdb "$db"
    done
    createdb bench_master
    "${PSQL[@]}" -d bench_master <<'EOF'
CREATE TABLE clientes_saas (
    id serial PRIMARY KEY, tenant text NOT NULL UNIQUE, dbname text NOT NULL UNIQUE,
    class text NOT NULL CHECK (class IN ('master', 'active', 'demo', 'legacy')),
    subdomain text NOT NULL, active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now());
EOF
    "${PSQL[@]}" -d bench_master -c "INSERT INTO clientes_saas (tenant, dbname, class, subdomain)
        SELECT 'cliente_' || lpad(i::text, 4, '0'), 'bench_db_' || lpad(i::text, 4, '0'),
               CASE WHEN i % 10 = 3 THEN 'demo' WHEN i % 25 = 7 THEN 'legacy' ELSE 'active' END,
               'c' || i || '.example.com'
        FROM generate_series(1, $DBS) i"
    zipf_sizes "$DBS" "$DBS_BYTES" | sort -k3,3nr | awk '{ print $1, $3 }' |
        xargs -P "$JOBS" -n 2 "$BENCH_DIR/gen.sh" _db || die "dbs: generation failed"
    "${PSQL[@]}" -d postgres -c CHECKPOINT
    log "dbs: done in $(elapsed "$t0") s; $(psql -X -At -d postgres -c "SELECT count(*) || ' databases, ' || pg_size_pretty(sum(pg_database_size(datname))) FROM pg_database WHERE datname LIKE 'bench\_db\_%'")"
}

gen_churn()
{
    local t0=$EPOCHREALTIME work calls=() s b t vac=()
    work=$(mktemp -d)
    while read -r s b; do
        calls+=("$b SELECT pg_temp.churn_tenant('$s', $CHURN_NEW, $CHURN_UPD);")
        for t in customers orders order_items events invoices; do vac+=(-t "$s.$t"); done
    done < <(psql -X -At -F ' ' -d bench_schema -c "SELECT schema_name, approx_bytes FROM central.tenants WHERE id % 10 = 0 ORDER BY id")
    [ ${#calls[@]} -gt 0 ] || die "churn: no tenants in bench_schema (run gen.sh skewed first)"
    log "churn: ${#calls[@]} tenants, +$CHURN_NEW new rows, $CHURN_UPD updated"
    mapfile -t files < <(printf '%s\n' "${calls[@]}" | lpt_split "$work" churn)
    run_workers bench_schema "${files[@]}" || die "churn failed"
    vacuumdb -q -j "$JOBS" -z -d bench_schema "${vac[@]}"
    "${PSQL[@]}" -d bench_schema -c CHECKPOINT
    rm -rf "$work"
    log "churn: done in $(elapsed "$t0") s"
}

case "${1:-}" in
    skewed) gen_skewed ;;
    tiny) gen_tiny ;;
    dbs) gen_dbs ;;
    huge) gen_huge ;;
    churn) gen_churn ;;
    all) gen_skewed; gen_tiny; gen_dbs ;;
    _db) shift; gen_one_db "$@" ;;
    *) echo "usage: bench/gen.sh skewed|tiny|dbs|huge|churn|all" >&2; exit 2 ;;
esac
