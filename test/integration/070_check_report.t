#!/usr/bin/env bash
# coffer check: --json lists every problem by its object, and packs the
# index does not name are not called harmless when the index itself is
# damaged or lost (they hold the data then).
. "$(dirname "$0")/../lib/pg.sh"
. "$(dirname "$0")/../lib/config.sh"

pg_start || t_bail "cannot start PostgreSQL"
load_fixture schema_model || t_bail "cannot load schema_model"

REPO="$T_TMP/repo"
export COFFER_PASSPHRASE="check report"
export COFFER_CONFIG="$T_TMP/coffer.yaml"
schema_model_config "$COFFER_CONFIG" saas_schema "$REPO"
t_ok "init" "$COFFER" init
t_ok "backup" "$COFFER" backup
t_ok "a clean check" "$COFFER" check --json
t_is "$(jq -c .problems <<<"$T_OUT")" '[]' "  ... lists no problem"

snap=$(ls "$REPO/snapshots" | head -1)
t_flip_byte "$REPO/snapshots/$snap" 60
t_exit 1 "a damaged snapshot fails check --json" "$COFFER" check --json
t_is "$(jq '.problems | length' <<<"$T_OUT")" "$(jq .errors <<<"$T_OUT")" \
    "  ... one problem listed for each error"
t_like "$(jq -r '.problems[]' <<<"$T_OUT")" "snapshots/$snap" "  ... naming the damaged snapshot"
t_ok "forget it" "$COFFER" forget "$snap"

t_ok "a second backup" "$COFFER" backup
rm -f "$REPO"/index/*
t_exit 1 "with the index lost, check fails" "$COFFER" check
t_unlike "$T_OUT" 'harmless' "  ... and does not call the packs harmless"
t_like "$T_OUT" 'run "coffer check --rebuild-index" before "coffer prune"' "  ... but says what to run"
t_ok "rebuild the index" "$COFFER" check --rebuild-index
t_ok "then check is clean" "$COFFER" check --json
t_is "$(jq -c .problems <<<"$T_OUT")" '[]' "  ... with no problem listed"

# two backups at once store the same new chunks twice: check's note says
# so, and does not blame an interrupted prune
pg_psql -d saas_schema >/dev/null <<'SQL'
CREATE TABLE tenant_acme.bulk AS SELECT g AS id, md5(g::text) || repeat('y', 80) AS v FROM generate_series(1, 150000) g;
SQL
REPO2="$T_TMP/repo2"
schema_model_config "$T_TMP/two.yaml" saas_schema "$REPO2"
t_ok "init a second repository" "$COFFER" --config "$T_TMP/two.yaml" init
"$COFFER" --config "$T_TMP/two.yaml" backup >/dev/null 2>&1 &
one=$!
"$COFFER" --config "$T_TMP/two.yaml" backup >/dev/null 2>&1 &
two=$!
rc1=0 rc2=0
wait "$one" || rc1=$?
wait "$two" || rc2=$?
t_is "$rc1/$rc2" 0/0 "two backups at the same time both succeed"
t_ok "check" "$COFFER" --config "$T_TMP/two.yaml" check --json
dups=$(jq .duplicates <<<"$T_OUT")
if [ "$dups" -gt 0 ]; then
    t_like "$T_ERR" 'backups that ran at the same time both stored them' \
        "  ... its note on the $dups chunks stored twice names the cause"
    t_unlike "$T_ERR" 'indexed twice \(an interrupted prune\)' "  ... not only an interrupted prune"
    t_ok "prune" "$COFFER" --config "$T_TMP/two.yaml" prune
    t_ok "  ... after which check" "$COFFER" --config "$T_TMP/two.yaml" check --json
    t_is "$(jq .duplicates <<<"$T_OUT")" 0 "  ... finds no chunk stored twice"
else
    t_skip "the two backups did not overlap: no chunk stored twice" 5
fi
t_done
