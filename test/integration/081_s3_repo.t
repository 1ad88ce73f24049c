#!/usr/bin/env bash
# A repository in an S3 bucket, against a real S3 server that checks every
# signature (Swift with s3api), with faults injected by a proxy:
#   - init, backup (multipart uploads for large packs), list, check
#     --read-data and a restore row for row;
#   - under 10% faults (500, 503, 429, resets, stalls) all of them complete;
#   - writes that always fail: a clear error once the tries are spent, no
#     snapshot, no unfinished upload left, a clean repository;
#   - prune aborts stale multipart uploads;
#   - bad settings, each with one clear error naming the repository.
. "$(dirname "$0")/../lib/pg.sh"
. "$(dirname "$0")/../lib/config.sh"
. "$(dirname "$0")/../lib/s3.sh"

s3_available || t_skip_all "no S3 server here (scripts/install-deps.sh installs Swift)"
s3_start || t_bail "cannot start the S3 server"
s3_mb backups || t_bail "cannot create the bucket"
pg_start || t_bail "cannot start PostgreSQL"
load_fixture schema_model || t_bail "cannot load schema_model"
DB=saas_schema
export COFFER_PASSPHRASE=s3-test
export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
unset AWS_SESSION_TOKEN AWS_PROFILE
export COFFER_CONFIG="$T_TMP/coffer.yaml"

# s3_config ENDPOINT [S3_LINE...]: a configuration for bucket "backups",
# prefix "prod", 5 MiB parts, quick timeouts
s3_config() {
    local endpoint=$1 line
    shift
    schema_model_config "$COFFER_CONFIG" "$DB" unused
    sed -i '/^repository:/,$d' "$COFFER_CONFIG"
    cat >>"$COFFER_CONFIG" <<EOF
repository:
  s3:
    endpoint: $endpoint
    part_size: 5
    timeout: 3
    retries: 6
EOF
    for line in "bucket: backups" "prefix: prod" "$@"; do
        printf '    %s\n' "$line" >>"$COFFER_CONFIG"
    done
    chmod 600 "$COFFER_CONFIG"
}

# rows that barely compress: a pack of them is larger than a part
noise_tenant "$DB" 60000 || t_bail "cannot load tenant_noise"
rows() { pg_psql -d "$DB" -c "SELECT count(*) || ' ' || md5(string_agg(b::text, ',' ORDER BY id)) FROM $1.blobs b"; }
uploads() { s3_curl GET '/backups/?prefix=prod%2F&uploads=' | grep -o '<UploadId>' | wc -l; }
snapshots() { "$COFFER" list --json | jq length; }

# ---------------------------------------------------------------- the cycle
s3_config "$S3_ENDPOINT"
t_ok "init in the bucket" "$COFFER" init
t_like "$T_OUT" 'created repository "s3://backups/prod"' "  ... named by bucket and prefix"
t_is "$(s3_ls backups prod/ | head -1)" prod/config "  ... whose objects are under the prefix"
t_ok "backup to S3" "$COFFER" backup
first_rows=$(rows tenant_noise)
big=$(s3_curl GET '/backups/?list-type=2&prefix=prod%2Fdata%2F' |
    grep -oE '<Key>[^<]+</Key><LastModified>[^<]*</LastModified><ETag>[^<]*</ETag><Size>[0-9]+' |
    sed -E 's/<Key>([^<]+)<.*<Size>([0-9]+)/\2 \1/' | sort -n | tail -1)
t_is "$((${big%% *} > 5 * 1048576))" 1 "  ... the largest pack is larger than a part (${big%% *} bytes)"
s3_curl HEAD "/backups/${big#* }" >/dev/null
t_like "$(grep -i '^etag:' <<<"$S3_HEADERS")" '-[2-9]"' "  ... and was sent as a multipart upload"
t_is "$(uploads)" 0 "  ... which left no unfinished upload"
t_ok "list" "$COFFER" list
t_ok "check --read-data" "$COFFER" check --read-data
t_like "$T_OUT" $'\n0 errors' "  ... is clean"
t_ok "restore beside the live tenant" "$COFFER" restore --tenant tenant_noise --as noise_back
t_is "$(rows noise_back)" "$first_rows" "  ... row for row"

# ---------------------------------------------------------------- 10% faults
s3_proxy_start rate=0.1 faults=500,503,429,reset,reset_req,delay delay=5 seed=3 ||
    t_bail "cannot start the fault proxy"
s3_config "$S3_PROXY_ENDPOINT"
pg_psql -d "$DB" -c "UPDATE tenant_noise.blobs SET payload = upper(payload) WHERE id % 3 = 0" >/dev/null
second_rows=$(rows tenant_noise)
t_ok "backup under 10% faults" "$COFFER" backup
t_ok "check --read-data under 10% faults" "$COFFER" check --read-data
t_like "$T_OUT" $'\n0 errors' "  ... finds the repository clean"
t_ok "restore under 10% faults" "$COFFER" restore --tenant tenant_noise --as noise_faults
t_is "$(rows noise_faults)" "$second_rows" "  ... row for row"
t_like "$(s3_proxy_stat faults)" '^[1-9][0-9]*$' "  ... with faults injected ($(s3_proxy_stat faults))"

# ---------------------------------------------------------------- writes that always fail
s3_proxy_set rate=0 && s3_proxy_stats --reset >/dev/null
before=$(snapshots)
s3_proxy_set rate=1 faults=503 methods=PUT,POST
pg_psql -d "$DB" -c "UPDATE tenant_noise.blobs SET payload = reverse(payload)" >/dev/null
t_exit 1 "a backup whose writes always fail" "$COFFER" backup
t_like "$T_ERR" 'ServiceUnavailable|HTTP 503' "  ... says what the server answered"
t_like "$T_ERR" 'gave up after 7 tries' "  ... and that it gave up after its tries"
s3_proxy_set rate=0
t_is "$(snapshots)" "$before" "  ... and writes no snapshot"
t_is "$(uploads)" 0 "  ... nor leaves an unfinished upload"

s3_proxy_set rate=1 faults=500 methods=PUT 'match=partNumber'
t_exit 1 "a backup whose multipart parts always fail" "$COFFER" backup
t_like "$T_ERR" 'could not write a part of object' "  ... names the failing step"
s3_proxy_set rate=0
t_is "$(uploads)" 0 "  ... and aborts the upload"
t_is "$(snapshots)" "$before" "  ... with no snapshot"
s3_config "$S3_PROXY_ENDPOINT" "retries: 1"
s3_proxy_set rate=1 faults=503,500 methods= match=
t_exit 1 "check when every request fails" "$COFFER" check
t_like "$T_ERR" 'repository "s3://backups/prod".*gave up after 2 tries' "  ... gives up after its tries, naming the repository"
t_exit 1 "restore when every request fails" "$COFFER" restore --tenant tenant_noise --as noise_never
t_like "$T_ERR" 'gave up after 2 tries' "  ... gives up too"
t_is "$(pg_psql -d "$DB" -c "SELECT count(*) FROM pg_namespace WHERE nspname = 'noise_never'")" 0 "  ... creating nothing"
s3_proxy_set rate=0
s3_config "$S3_PROXY_ENDPOINT"
t_ok "the repository is clean after the failures" "$COFFER" check
t_like "$T_OUT" $'\n0 errors' "  ... 0 errors"
s3_proxy_stop

# ---------------------------------------------------------------- prune
s3_config "$S3_ENDPOINT"
s3_curl POST '/backups/prod/data/ff/leftover?uploads=' >/dev/null
t_is "$(uploads)" 1 "an interrupted multipart upload is pending"
t_ok "prune" "$COFFER" prune
t_is "$(uploads)" 0 "  ... aborts it"
t_ok "check after prune" "$COFFER" check --read-data
t_like "$T_OUT" $'\n0 errors' "  ... clean"

# ---------------------------------------------------------------- addressing
port=${S3_ENDPOINT##*:}
s3_config "http://localhost:$port" "path_style: false"
t_ok "virtual-hosted addressing (the bucket in the host name)" "$COFFER" list --verbose
t_like "$T_ERR" "opened S3 storage \"s3://backups/prod\" at http://backups.localhost:$port" "  ... addresses backups.localhost"
t_like "$T_OUT" '[0-9]+ snapshots' "  ... and lists the same repository"
s3_config "http://localhost:$port"
t_ok "localhost without path_style" "$COFFER" list --verbose
t_like "$T_ERR" "at http://localhost:$port/backups" "  ... is path-style by default"

# ---------------------------------------------------------------- bad settings
t_exit 1 "a wrong secret" env AWS_SECRET_ACCESS_KEY=wrong "$COFFER" list
t_like "$T_ERR" 'repository "s3://backups/prod".*SignatureDoesNotMatch' "  ... names the repository and the refusal"
t_like "$T_ERR" 'HINT: check the access key and secret' "  ... with a hint"
t_unlike "$T_ERR" 'wrong' "  ... and never prints the secret"

s3_config "$S3_ENDPOINT" "region: eu-west-1"
t_exit 1 "a wrong region" "$COFFER" list
t_like "$T_ERR" 'repository "s3://backups/prod".*(AuthorizationHeaderMalformed|region)' "  ... names the repository"
t_like "$T_ERR" 'not in region "eu-west-1"' "  ... and says the region is wrong"

s3_config "$S3_ENDPOINT"
sed -i 's/bucket: backups/bucket: nosuch/' "$COFFER_CONFIG"
t_exit 1 "a missing bucket" "$COFFER" list
t_like "$T_ERR" 'repository "s3://nosuch/prod"' "  ... names the repository"
t_like "$T_ERR" 'bucket "nosuch" does not exist' "  ... and says the bucket is missing"

if command -v faketime >/dev/null 2>&1; then
    s3_config "$S3_ENDPOINT"
    t_exit 1 "a clock two hours off" faketime -f '-2h' "$COFFER" list
    t_like "$T_ERR" 'RequestTimeTooSkewed' "  ... names the refusal"
    t_like "$T_ERR" "clock" "  ... and says the clocks differ"
else
    t_skip "faketime is not installed" 3
fi

mkdir -p "$T_TMP/www/backups"
echo '<html><body>hello</body></html>' >"$T_TMP/www/index.html"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$T_TMP/www" >/dev/null 2>&1 &
web=$!
t_at_exit "kill $web 2>/dev/null"
for _ in $(seq 50); do curl -s "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done
s3_config "http://127.0.0.1:$port"
t_exit 1 "an endpoint that is not S3" "$COFFER" list
t_like "$T_ERR" 'does not answer like an S3 server' "  ... says so"
t_like "$T_ERR" 'repository "s3://backups/prod"' "  ... naming the repository"

s3_put backups other/readme.txt "$COFFER_CONFIG" >/dev/null
s3_config "$S3_ENDPOINT" "prefix: other"
sed -i '/prefix: prod/d' "$COFFER_CONFIG"
t_exit 1 "init where the prefix holds something else" "$COFFER" init
t_like "$T_ERR" '"s3://backups/other" is not empty and is not a coffer repository' "  ... is refused"
t_exit 1 "a prefix that holds no repository" "$COFFER" list
t_like "$T_ERR" 'is not a coffer repository' "  ... is not taken for one"

s3_config "$S3_ENDPOINT" "access_key_id: \"$S3_ACCESS_KEY\"" "secret_access_key: $S3_SECRET_KEY"
chmod 644 "$COFFER_CONFIG"
t_exit 2 "a secret in a configuration others can read" env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY "$COFFER" list
t_like "$T_ERR" 'holds an S3 secret but can be read by others' "  ... is refused"
chmod 600 "$COFFER_CONFIG"
t_ok "the same file, mode 600, works" env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY "$COFFER" list

cat >"$T_TMP/credentials" <<EOF
[other]
aws_access_key_id = $S3_ACCESS_KEY
aws_secret_access_key = $S3_SECRET_KEY
EOF
s3_config "$S3_ENDPOINT" "profile: other"
t_ok "keys from a profile of the credentials file" \
    env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY AWS_SHARED_CREDENTIALS_FILE="$T_TMP/credentials" "$COFFER" list
s3_config "$S3_ENDPOINT"
t_exit 2 "a profile that does not exist" \
    env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY AWS_SHARED_CREDENTIALS_FILE="$T_TMP/credentials" AWS_PROFILE=x \
    "$COFFER" list
t_like "$T_ERR" 'profile "x" of ".*/credentials" does not exist' "  ... says which profile of which file"
t_done
