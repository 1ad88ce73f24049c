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
printf '\x55' | dd of="$REPO/snapshots/$snap" bs=1 seek=60 conv=notrunc 2>/dev/null
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
t_done
