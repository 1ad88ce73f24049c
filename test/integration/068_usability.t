#!/usr/bin/env bash
# Small usability promises a user reported broken:
#   (a) init refuses a non-empty directory that is not a repository
#   (b) an unknown --tenant is a usage error (exit 2), like an unknown --class
#   (c) a per-tenant failure prints its hint as a plain "HINT: " line
#   (d) "coffer help config" explains the file; usage lines list every option
#   (e) forget --json and config check --json print JSON
#   (f) control characters in tags and names are escaped in human output,
#       exact in --json
. "$(dirname "$0")/../lib/pg.sh"

pg_start || t_bail "cannot start PostgreSQL"
load_fixture schema_model || t_bail "cannot load schema_model"

DB=saas_schema
REPO="$T_TMP/repo"
export COFFER_PASSPHRASE="usability test"
export COFFER_CONFIG="$T_TMP/coffer.yaml"
# config FILE USER: a coffer.yaml for the schema model, connecting as USER.
config() {
    cat >"$1" <<EOF
postgres:
  conninfo: "host=$PGHOST port=$PGPORT dbname=$DB user=$2"
tenancy:
  model: schema
  shared: [central, parametros, public]
  discover:
    pattern: "tenant_%"
repository:
  path: $REPO
EOF
}
config "$COFFER_CONFIG" postgres

# ------------------------------------------------ (a) init on a non-empty directory
mkdir -p "$T_TMP/notes"
echo "keep me" >"$T_TMP/notes/todo.txt"
t_exit 1 "(a) init into a directory holding other files is refused" \
    "$COFFER" init --repo "$T_TMP/notes"
t_like "$T_ERR" "\"$T_TMP/notes\" is not empty and is not a coffer repository" "  ... saying why"
t_like "$T_ERR" $'\nHINT: choose an empty or new directory' "  ... with a hint"
t_is "$(ls -A "$T_TMP/notes")" "todo.txt" "  ... and writes nothing into it"
mkdir -p "$T_TMP/empty"
t_ok "(a) init into an empty directory works" "$COFFER" init --repo "$T_TMP/empty"
t_ok "init" "$COFFER" init
t_exit 1 "(a) a second init of a repository still says it exists" "$COFFER" init
t_like "$T_ERR" "already exists" "  ... as before"

# ------------------------------------------------ (b) unknown tenant is a usage error
t_exit 2 "(b) backup --tenant of an unknown tenant is a usage error" \
    "$COFFER" backup --tenant nosuch
t_like "$T_ERR" 'unknown tenant "nosuch"' "  ... naming the tenant"
t_like "$T_ERR" $'\nHINT: run "coffer tenants"' "  ... with its hint"
t_exit 2 "(b) as is an unknown class" "$COFFER" backup --class nope

# ------------------------------------------------ (c) per-tenant hints
pg_psql -d "$DB" <<'SQL' || t_bail "cannot create the backup role"
CREATE ROLE coffer_bk LOGIN;
DO $$
DECLARE s text;
BEGIN
    FOR s IN SELECT nspname FROM pg_namespace
              WHERE nspname LIKE 'tenant\_%' OR nspname IN ('central', 'parametros', 'public')
    LOOP
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO coffer_bk', s);
        EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO coffer_bk', s);
        EXECUTE format('GRANT SELECT ON ALL SEQUENCES IN SCHEMA %I TO coffer_bk', s);
    END LOOP;
END $$;
REVOKE SELECT ON tenant_globex.orders FROM coffer_bk;
SQL
config "$T_TMP/bk.yaml" coffer_bk
t_exit 3 "(c) a backup that cannot read one tenant is partial" \
    "$COFFER" --config "$T_TMP/bk.yaml" backup --tenant tenant_globex --tenant tenant_acme
t_like "$T_ERR" 'coffer: error: tenant "tenant_globex" failed: permission denied' \
    "  ... the error names the tenant"
t_like "$T_ERR" $'(^|\n)HINT: grant the backup role' "  ... the hint is a plain HINT: line"
t_unlike "$T_ERR" 'error: (HINT|DETAIL):' "  ... not prefixed by coffer: error:"

# ------------------------------------------------ (d) help
t_ok "(d) coffer help config" "$COFFER" help config
for key in conninfo bin_dir lock_budget lock_timeout model shared column pattern query classes path passphrase_file \
    encryption compression chunk_size scratch_dir; do
    t_like "$T_OUT" "(^|[[:space:]])$key:" "  ... explains $key"
done
t_ok "(d) coffer help lists the topic" "$COFFER" help
t_like "$T_OUT" 'help config' "  ... help config"
usage() { "$COFFER" help "$@" | sed -n '/^usage:/,/^$/p'; }
t_like "$(usage check)" '--rebuild-index' "(d) check's usage lists --rebuild-index"
t_like "$(usage check)" '--json' "  ... and --json"
t_like "$(usage restore)" '--json' "(d) restore's usage lists --json"

# ------------------------------------------------ (e) --json of forget and config check
t_ok "(e) coffer help config check still shows the command" "$COFFER" help config check
t_like "$T_OUT" '^usage: coffer config check \[--config FILE\] \[--json\]' "  ... with --json"
t_like "$(usage forget)" '--json' "(e) forget's usage lists --json"
t_ok "(e) config check --json" "$COFFER" config check --json
t_is "$(jq -r '.path, .valid, .model' <<<"$T_OUT" | paste -sd' ')" "$COFFER_CONFIG true schema" \
    "  ... prints path, valid and model"
t_is "$(jq -c .shared <<<"$T_OUT")" '["central","parametros","public"]' "  ... and the shared schemas"
t_ok "a backup to forget" "$COFFER" backup --tenant tenant_acme --json
gone=$(jq -r .id <<<"$T_OUT")
t_ok "(e) forget --json" "$COFFER" forget --json "${gone:0:12}"
t_is "$(jq -c .forgotten <<<"$T_OUT")" "[\"$gone\"]" "  ... prints the full id forgotten"
t_unlike "$T_OUT" 'forgot snapshot' "  ... and no human lines"
t_ok "list --json" "$COFFER" list --json
t_is "$(jq --arg id "$gone" '[.[] | select(.id == $id)] | length' <<<"$T_OUT")" 0 \
    "  ... the snapshot is gone"
t_exit 2 "(e) forget --json with nothing to forget is still a usage error" "$COFFER" forget --json

# ------------------------------------------------ (f) control characters
TAG=$'x\ny\033[31mred'
t_ok "(f) backup with a tag holding a newline and an escape" \
    "$COFFER" backup --tenant tenant_acme --tag "$TAG" --json
tagged=$(jq -r .id <<<"$T_OUT")
t_ok "(f) list" "$COFFER" list
t_like "$T_OUT" "${tagged:0:12}  .*x\?y\?\[31mred" "  ... shows the tag escaped"
t_unlike "$T_OUT" $'\033' "  ... with no escape character"
t_is "$(grep -c "${tagged:0:12}" <<<"$T_OUT")" 1 "  ... on one line"
t_ok "(f) list --json" "$COFFER" list --json
t_is "$(jq -r --arg id "$tagged" '.[] | select(.id == $id) | .tags[0]' <<<"$T_OUT")" "$TAG" \
    "  ... keeps the tag exact"
AS=$'acme\033[2Jcopy'
t_ok "(f) restore --as a name with an escape" "$COFFER" restore --tenant tenant_acme --as "$AS"
t_like "$T_OUT" 'restored "tenant_acme" into schema "acme\?\[2Jcopy"' "  ... prints it escaped"
t_unlike "$T_OUT" $'\033' "  ... with no escape character"
t_is "$(pg_psql -d "$DB" -v s="$AS" <<<'SELECT count(*) FROM :"s".orders')" 10 \
    "  ... under its exact name"
t_ok "(f) info" "$COFFER" info "$tagged" --tenant tenant_acme
t_unlike "$(tr -d "\n" <<<"$T_OUT")" $'[\001-\037]' "  ... prints no control character"

t_done
