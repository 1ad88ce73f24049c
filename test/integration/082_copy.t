#!/usr/bin/env bash
# coffer copy between repositories, each with its own passphrase: a local
# one to an S3 bucket (through the fault proxy, which counts the bytes
# sent), and one tenant to a third repository; an incremental copy sends
# about its new chunks; an interrupted copy is run again and sends nothing
# twice; under 10% faults a copy completes; backup --repo all writes every
# repository from one database snapshot.
. "$(dirname "$0")/../lib/pg.sh"
. "$(dirname "$0")/../lib/config.sh"
. "$(dirname "$0")/../lib/s3.sh"

s3_available || t_skip_all "no S3 server here (scripts/install-deps.sh installs Swift)"
s3_start || t_bail "cannot start the S3 server"
s3_mb backups || t_bail "cannot create the bucket"
s3_proxy_start rate=0 || t_bail "cannot start the fault proxy"
pg_start || t_bail "cannot start PostgreSQL"
load_fixture schema_model || t_bail "cannot load schema_model"
DB=saas_schema
unset COFFER_PASSPHRASE AWS_SESSION_TOKEN AWS_PROFILE
export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
export COFFER_CONFIG="$T_TMP/coffer.yaml"
for r in local offsite region2 second; do
    printf 'passphrase of %s\n' "$r" >"$T_TMP/$r.pass"
    chmod 600 "$T_TMP/$r.pass"
done
cat >"$COFFER_CONFIG" <<EOF
postgres:
  conninfo: "host=$PGHOST port=$PGPORT dbname=$DB user=postgres"
tenancy:
  model: schema
  shared: [central, parametros, public]
  discover:
    pattern: "tenant_%"
repositories:
  - name: local
    path: $T_TMP/local
    passphrase_file: $T_TMP/local.pass
  - name: offsite
    passphrase_file: $T_TMP/offsite.pass
    s3: { endpoint: "$S3_PROXY_ENDPOINT", bucket: backups, prefix: offsite, part_size: 5, timeout: 3 }
  - name: region2
    path: $T_TMP/region2
    passphrase_file: $T_TMP/region2.pass
  - name: second
    passphrase_file: $T_TMP/second.pass
    s3: { endpoint: "$S3_PROXY_ENDPOINT", bucket: backups, prefix: second, part_size: 5, timeout: 3 }
EOF

noise_tenant "$DB" 40000 || t_bail "cannot load tenant_noise"
rows() { pg_psql -d "$DB" -c "SELECT count(*) || ' ' || md5(string_agg(b::text, ',' ORDER BY b::text)) FROM $1.$2 b"; }
sent() { echo $(($(s3_proxy_stat req_body_bytes.PUT) + $(s3_proxy_stat req_body_bytes.POST))); }

for r in local offsite region2 second; do
    t_ok "init $r" "$COFFER" init --repo "$r"
done
t_ok "backup to the first repository" "$COFFER" backup
first=$(grep -oE '[0-9a-f]{64}' <<<"$T_OUT" | head -1)
noise1=$(rows tenant_noise blobs)

# ---------------------------------------------------------------- a full copy
s3_proxy_stats --reset >/dev/null
t_ok "copy local to offsite" "$COFFER" copy --from local --to offsite --json
t_is "$(jq -r '.copied[0].id' <<<"$T_OUT")" "$first" "  ... keeps the snapshot's id"
full_added=$(jq .bytes_added <<<"$T_OUT")
full_sent=$(sent)
t_note "first copy: $full_sent bytes sent, $full_added bytes of new chunks"
t_ok "list --repo offsite" "$COFFER" list --repo offsite --json
t_is "$(jq -r '.[0].id' <<<"$T_OUT")" "$first" "  ... holds it"
t_ok "check --read-data of the copy" "$COFFER" check --repo offsite --read-data
t_like "$T_OUT" $'\n0 errors' "  ... is clean"
t_ok "restore from the copy beside the live tenant" \
    "$COFFER" restore --repo offsite --tenant tenant_noise --as noise_offsite
t_is "$(rows noise_offsite blobs)" "$noise1" "  ... row for row"
t_exit 1 "the copy does not open with the source's passphrase" \
    env COFFER_PASSPHRASE="passphrase of local" "$COFFER" list --repo offsite
t_like "$T_ERR" 'wrong passphrase' "  ... each repository keeps its own"

t_ok "copy again" "$COFFER" copy --from local --to offsite
t_like "$T_OUT" "skipped snapshot ${first:0:12}: already in the destination" "  ... skips what is there"

# ---------------------------------------------------------------- incremental
pg_psql -d "$DB" -c "UPDATE tenant_noise.blobs SET payload = upper(payload) WHERE id <= 400" >/dev/null
t_ok "a second backup (1% of the rows changed)" "$COFFER" backup
second=$(grep -oE '[0-9a-f]{64}' <<<"$T_OUT" | head -1)
s3_proxy_stats --reset >/dev/null
t_ok "copy the second snapshot" "$COFFER" copy --from local --to offsite --json
added=$(jq .bytes_added <<<"$T_OUT")
bytes_sent=$(sent)
t_note "incremental copy: $bytes_sent bytes sent for $added bytes of new chunks"
t_is "$((bytes_sent * 10 < full_sent))" 1 "  ... sends a tenth of the first copy at most ($bytes_sent of $full_sent)"
t_is "$((bytes_sent <= added * 13 / 10 + 65536))" 1 "  ... about its new chunks ($bytes_sent bytes sent, $added new)"

# ---------------------------------------------------------------- interrupted, then again
pg_psql -d "$DB" -c "UPDATE tenant_noise.blobs SET payload = lower(payload) WHERE id <= 4000" >/dev/null
t_ok "a third backup" "$COFFER" backup
third=$(grep -oE '[0-9a-f]{64}' <<<"$T_OUT" | head -1)
s3_proxy_set rate=1 faults=503 methods=PUT 'match=snapshots'
t_exit 1 "a copy whose snapshot write always fails" "$COFFER" copy --from local --to offsite
t_like "$T_ERR" "could not copy snapshot ${third:0:12}" "  ... names the snapshot"
s3_proxy_set rate=0
t_ok "  ... leaves no snapshot in the destination" "$COFFER" list --repo offsite --json
t_is "$(jq length <<<"$T_OUT")" 2 "  ... (still two)"
s3_proxy_stats --reset >/dev/null
t_ok "the same copy again" "$COFFER" copy --from local --to offsite --json
t_is "$(jq -r '.copied[0].id' <<<"$T_OUT")" "$third" "  ... copies the snapshot"
t_is "$(jq .chunks_new <<<"$T_OUT")" 0 "  ... sending no chunk twice"
t_ok "check --read-data after the interrupted copy" "$COFFER" check --repo offsite --read-data
t_like "$T_OUT" $'\n0 errors' "  ... is clean"

# ---------------------------------------------------------------- one tenant
acme=$(rows tenant_acme customers)
t_ok "copy one tenant to region2" "$COFFER" copy --from local --to region2 --tenant tenant_acme --snapshot all
t_like "$T_OUT" '3 snapshots copied' "  ... of every snapshot"
t_ok "region2 lists them" "$COFFER" info --repo region2 latest --json
t_is "$(jq -r '[.tenants[] | select(.shared | not) | .name] | join(",")' <<<"$T_OUT")" tenant_acme \
    "  ... with that tenant alone"
t_ok "restore the tenant from region2" "$COFFER" restore --repo region2 --tenant tenant_acme --as acme_moved
t_is "$(rows acme_moved customers)" "$acme" "  ... row for row"
t_exit 1 "another tenant is not there" "$COFFER" restore --repo region2 --tenant tenant_noise --as noise_x

# ---------------------------------------------------------------- faults
s3_proxy_set rate=0.1 faults=500,503,429,reset,reset_req seed=5
t_ok "copy everything under 10% faults" "$COFFER" copy --from local --to second --snapshot all
t_like "$T_OUT" '3 snapshots copied' "  ... copies all three"
s3_proxy_set rate=0
t_ok "check --read-data of that copy" "$COFFER" check --repo second --read-data
t_like "$T_OUT" $'\n0 errors' "  ... is clean"

# ---------------------------------------------------------------- backup --repo all
pg_psql -d "$DB" -c "UPDATE tenant_noise.blobs SET payload = reverse(payload) WHERE id <= 100" >/dev/null
t_ok "backup --repo all" "$COFFER" backup --repo all
all=$(grep -oE '[0-9a-f]{64}' <<<"$T_OUT" | head -1)
t_like "$T_OUT" "snapshot $all copied to repository \"offsite\"" "  ... writes the snapshot to offsite"
t_like "$T_OUT" "copied to repository \"second\"" "  ... and to every other repository"
for r in offsite region2 second; do
    t_ok "  ... $r holds it" "$COFFER" info --repo "$r" "$all"
done

# ---------------------------------------------------------------- bad input
t_exit 2 "copy without a destination" "$COFFER" copy --from local
t_like "$T_ERR" 'name the source and the destination' "  ... says what is missing"
t_exit 2 "copy to the same repository" "$COFFER" copy --from local --to local
t_like "$T_ERR" 'same repository' "  ... is refused"
t_exit 2 "copy to a repository the configuration does not have" "$COFFER" copy --from local --to nowhere
t_like "$T_ERR" 'no repository "nowhere"' "  ... names it"
t_exit 1 "copy of an unknown snapshot" "$COFFER" copy --from local --to offsite --snapshot ffffffff
t_done
