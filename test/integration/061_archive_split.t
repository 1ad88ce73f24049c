#!/usr/bin/env bash
# Splitting one schema-only custom-format dump into one archive per owner
# (src/pg/archive.c, driven by bench/archive_tool): every part is an archive
# pg_restore lists and restores; the shared part restores alone; the shared
# part plus one tenant's part (pre-data of each, then post-data with -j 2)
# give that tenant's pg_dump --schema-only exactly; all parts together give
# the whole database's. Dependencies on entries of other parts are ignored by
# pg_restore. Truncated, plain-format and data-bearing dumps fail clearly.
. "$(dirname "$0")/../lib/pg.sh"

TOOL="$REPO_ROOT/build/bench/archive_tool"
if [ ! -x "$TOOL" ]; then
    make -s -C "$REPO_ROOT" build/bench/archive_tool >/dev/null 2>&1 ||
        t_skip_all "build/bench/archive_tool is not built (make build/bench/archive_tool)"
fi

pg_start || t_bail "cannot start PostgreSQL"
load_fixture fidelity || t_bail "cannot load the fidelity fixture"

DB=fidelity
rich=tenant_rich
hostile='tenant_rich Ünï "Q"; DROP--東x𝄞Zoë'
tenants=("$rich" "$hostile" tenant_blank tenant_empty)
D="$T_TMP/parts"
mkdir -p "$D"

# qi NAME: NAME as a quoted SQL identifier (a pg_dump pattern matching exactly NAME).
qi() { printf '"%s"' "${1//\"/\"\"}"; }

# sdump DB SCHEMA / fulldump DB: pg_dump --schema-only without the \restrict
# lines (a random key per run).
sdump() { pg_dump --schema-only --schema="$(qi "$2")" -d "$1" | grep -Ev '^\\(un)?restrict '; }
fulldump() { pg_dump --schema-only -d "$1" | grep -Ev '^\\(un)?restrict '; }

# entries FILE: the entry lines of "pg_restore -l FILE", sorted.
entries() { pg_restore -l "$1" | grep -v '^;' | LC_ALL=C sort; }

# restore DB FILE ARGS...: pg_restore into DB, stopping at the first error.
restore() {
    local db=$1 file=$2
    shift 2
    pg_restore --exit-on-error -d "$db" "$@" "$file"
}

# ------------------------------------------------------------ the dump

pg_dump --schema-only --format=custom --compress=0 -d "$DB" >"$D/full.dump" ||
    t_bail "pg_dump failed"
t_like "$(pg_restore -l "$D/full.dump" | grep 'Dump Version')" '1\.14' \
    "pg_dump 15 writes archive version 1.14"

t_ok "a byte-by-byte copy through the reader and writer" \
    "$TOOL" copy --chunk 1 "$D/full.dump" "$D/copy.dump"
t_ok "  ... is byte-identical to pg_dump's archive" cmp "$D/full.dump" "$D/copy.dump"

t_run "$TOOL" split "$D/full.dump" "$D" "${tenants[@]}"
t_is "$T_RC" 0 "split into the shared part and one part per tenant"
t_like "$T_OUT" $'^shared [0-9]+\ntenant 1 [0-9]+\ntenant 2 [0-9]+\ntenant 3 [0-9]+\ntenant 4 [0-9]+$' \
    "  ... counting the entries of each"
split_out=$T_OUT

# fed from a pipe, in odd-sized chunks, as a backup reads pg_dump's stdout
mkdir -p "$D/pipe" "$D/live"
t_run bash -c 'cat "$1" | "$2" split --chunk 4093 - "$3" "${@:4}"' split "$D/full.dump" "$TOOL" "$D/pipe" "${tenants[@]}"
t_is "$T_RC" 0 "split the archive fed from a pipe in chunks of 4093 bytes"
same=yes
for f in shared.dump tenant-1.dump tenant-2.dump tenant-3.dump tenant-4.dump; do
    cmp -s "$D/$f" "$D/pipe/$f" || same="no: $f differs"
done
t_is "$same" yes "  ... gives the same parts"
t_run bash -c 'pg_dump --schema-only --format=custom --compress=0 -d "$1" |
    "$2" split - "$3" "${@:4}"' split "$DB" "$TOOL" "$D/live" "${tenants[@]}"
t_is "$T_RC" 0 "split the output of pg_dump as it comes"
t_is "$T_OUT" "$split_out" "  ... into parts of the same sizes"

total=$(pg_restore -l "$D/full.dump" | sed -n 's/^;  *TOC Entries: //p')
sum=$(awk '{ s += $NF } END { print s }' <<<"$split_out")
t_is "$sum" $((total + 3 * 4)) "every entry is in exactly one part, the 3 setup entries in each"

# ------------------------------------------------------------ the parts list

t_ok "pg_restore -l reads the shared part" pg_restore -l "$D/shared.dump"
t_like "$T_OUT" 'TOC Entries: [0-9]+' "  ... with its own entry count"
for i in 1 2 3 4; do
    t_ok "pg_restore -l reads tenant part $i" pg_restore -l "$D/tenant-$i.dump"
done

t_same "$(for f in "$D/shared.dump" "$D"/tenant-[1-4].dump; do entries "$f"; done | LC_ALL=C sort -u)" \
    "$(entries "$D/full.dump")" "the parts' listings together are the whole listing"

rich_list=$(entries "$D/tenant-1.dump")
hostile_list=$(entries "$D/tenant-2.dump")
shared_list=$(entries "$D/shared.dump")
t_like "$rich_list" 'SCHEMA - tenant_rich postgres' "tenant_rich's part has its schema"
t_like "$rich_list" 'COMMENT - SCHEMA tenant_rich ' "  ... the comment on it"
t_like "$rich_list" 'ACL - SCHEMA tenant_rich ' "  ... the grants on it"
t_like "$rich_list" 'TABLE tenant_rich customers ' "  ... its tables"
t_unlike "$rich_list" 'Ünï|central' "  ... nothing of the tenant whose name extends its own, nor of central"
t_like "$hostile_list" 'COMMENT - SCHEMA "tenant_rich Ünï ""Q""; DROP--東x𝄞Zoë" ' \
    "the hostile tenant's part has the comment on its quoted name"
t_is "$(grep -c 'tenant_rich customers' <<<"$hostile_list")" 0 "  ... and nothing of tenant_rich"
t_like "$shared_list" 'TABLE central plans ' "the shared part has the shared schema's tables"
t_like "$shared_list" 'EXTENSION - citext' "  ... the extension"
t_unlike "$shared_list" 'tenant_' "  ... and nothing of a tenant"
t_like "$(entries "$D/tenant-4.dump")" '^[0-9]+; [0-9]+ [0-9]+ SCHEMA - tenant_empty postgres$' \
    "the empty tenant's part is its schema alone"

# the tenant parts depend on entries that are in the shared part
deps_out=$("$TOOL" list "$D/tenant-1.dump")
ids=" $(awk '{ print $1 }' <<<"$deps_out" | tr '\n' ' ')"
absent=0
for dep in $(grep -o 'deps [0-9,]*' <<<"$deps_out" | cut -c6- | tr ',' '\n' | sort -u); do
    [[ $ids == *" $dep "* ]] || absent=$((absent + 1))
done
t_like "$absent" '^[1-9][0-9]*$' "tenant_rich's part names $absent dependencies absent from it"

# ------------------------------------------------------------ restores

pg_psql -c "CREATE DATABASE split_shared" || t_bail "cannot create a database"
t_ok "the shared part restores alone into a new database" restore split_shared "$D/shared.dump"
t_same "$(sdump split_shared central)" "$(sdump "$DB" central)" "  ... the shared schema's dump equals the original's"
t_is "$(pg_psql -d split_shared -c "SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace WHERE nspname !~ '^(pg_|information_schema)'")" \
    "central,public" "  ... and no tenant came with it"

pg_psql -c "CREATE DATABASE split_empty" || t_bail "cannot create a database"
t_ok "the empty tenant's part restores alone" restore split_empty "$D/tenant-4.dump" -j 2
t_same "$(sdump split_empty tenant_empty)" "$(sdump "$DB" tenant_empty)" "  ... equal to the original"

# shared pre-data, tenant pre-data, shared post-data, tenant post-data (-j 2)
restore_tenant() {
    local db=$1 part=$2
    restore "$db" "$D/shared.dump" --section=pre-data &&
        restore "$db" "$part" --section=pre-data &&
        restore "$db" "$D/shared.dump" --section=post-data -j 2 &&
        restore "$db" "$part" --section=post-data -j 2
}
i=0
for s in "${tenants[@]}"; do
    i=$((i + 1))
    db="split_t$i"
    pg_psql -c "CREATE DATABASE $db" || t_bail "cannot create a database"
    t_ok "shared part + the part of \"$s\", post-data with -j 2" restore_tenant "$db" "$D/tenant-$i.dump"
    t_same "$(sdump "$db" "$s")" "$(sdump "$DB" "$s")" "  ... its pg_dump --schema-only equals the original's"
done
t_is "$(pg_psql -d split_t1 -c "SELECT count(*) FROM pg_constraint WHERE conrelid = 'tenant_rich.customers'::regclass AND contype = 'f'")" \
    "$(pg_psql -d "$DB" -c "SELECT count(*) FROM pg_constraint WHERE conrelid = 'tenant_rich.customers'::regclass AND contype = 'f'")" \
    "  ... foreign keys into the shared schema included"

pg_psql -c "CREATE DATABASE split_all" || t_bail "cannot create a database"
all_parts() {
    local f
    for f in "$D/shared.dump" "$D"/tenant-[1-4].dump; do
        restore split_all "$f" --section=pre-data || return 1
    done
    for f in "$D/shared.dump" "$D"/tenant-[1-4].dump; do
        restore split_all "$f" --section=post-data -j 2 || return 1
    done
}
t_ok "every part, one after another" all_parts
t_same "$(fulldump split_all)" "$(fulldump "$DB")" "  ... the whole database's pg_dump --schema-only equals the original's"

# ------------------------------------------------------------ errors

head -c 3000 "$D/full.dump" >"$D/cut.dump"
t_exit 1 "a truncated archive fails" "$TOOL" list "$D/cut.dump"
t_like "$T_ERR" 'pg_dump archive is truncated: it ends in entry [0-9]+ of [0-9]+, after 3000 bytes' \
    "  ... saying where it ends"
head -c 40 "$D/full.dump" >"$D/cut.dump"
t_exit 1 "an archive cut in its header fails" "$TOOL" list "$D/cut.dump"
t_like "$T_ERR" 'truncated: it ends in its header' "  ... saying so"

pg_dump --schema-only -d "$DB" >"$D/plain.sql"
t_exit 1 "a plain-format dump is refused" "$TOOL" list "$D/plain.sql"
t_like "$T_ERR" 'no "PGDMP" magic' "  ... for its missing magic"

pg_dump --format=custom --compress=0 --table=central.plans -d "$DB" >"$D/data.dump"
t_exit 1 "a dump with data is refused" "$TOOL" list "$D/data.dump"
t_like "$T_ERR" 'entry with data' "  ... naming the reason"
t_like "$T_ERR" 'TABLE DATA' "  ... and the entry"

cp "$D/full.dump" "$D/v.dump"
printf '\x11' | dd of="$D/v.dump" bs=1 seek=6 conv=notrunc status=none
t_exit 1 "an unknown archive version is refused" "$TOOL" list "$D/v.dump"
t_like "$T_ERR" 'unsupported pg_dump archive version 1\.17\.0' "  ... naming it"

cat "$D/full.dump" "$D/full.dump" >"$D/twice.dump"
t_exit 1 "bytes after the table of contents are refused" "$TOOL" list "$D/twice.dump"
t_like "$T_ERR" 'data after the table of contents' "  ... saying so"

t_done
