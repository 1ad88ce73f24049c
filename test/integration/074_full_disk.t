#!/usr/bin/env bash
# A repository whose disk is full: the tools that free space still run.
#   - a backup onto the full disk fails with "the disk is full" and leaves
#     nothing half-written;
#   - forget and prune give up the repository's space reserve to take their
#     lock and write a new index, free the space, and put the reserve back;
#   - afterwards backups work again and the repository checks clean.
# The repository sits on a small tmpfs, in a private mount namespace when
# it can, so that the mount cannot outlive the test.
if [ -z "${COFFER_074_NS:-}" ] && [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null 2>&1 &&
    unshare -m --propagation private true 2>/dev/null; then
    COFFER_074_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/../lib/pg.sh"
. "$(dirname "$0")/../lib/config.sh"

MNT="$T_TMP/small"
mkdir -p "$MNT"
if [ "$(id -u)" -ne 0 ] || ! mount -t tmpfs -o size=24m,mode=0700 coffer-074 "$MNT" 2>"$T_TMP/mount.err"; then
    t_skip_all "cannot mount a tmpfs here ($(head -c 200 "$T_TMP/mount.err" 2>/dev/null || echo 'not root'))"
fi
t_at_exit "umount '$MNT' 2>/dev/null || umount -l '$MNT' 2>/dev/null"

pg_start || t_bail "cannot start PostgreSQL"
load_fixture schema_model || t_bail "cannot load schema_model"
DB=saas_schema
export COFFER_PASSPHRASE=full-disk-test
export COFFER_CONFIG="$T_TMP/coffer.yaml"
schema_model_config "$COFFER_CONFIG" "$DB" "$MNT/repo"

# rows that do not compress, so that each backup of them takes real space
noise_tenant "$DB" 20000 || t_bail "cannot load tenant_noise"

t_ok "init on the small disk" "$COFFER" init
t_is "$(stat -c %s "$MNT/repo/reserve" 2>/dev/null)" 1048576 "  ... which keeps a 1 MiB space reserve"
t_ok "a first backup" "$COFFER" backup
first=$(grep -oE '[0-9a-f]{64}' <<<"$T_OUT" | head -1)
pg_psql -d "$DB" -c "UPDATE tenant_noise.blobs SET payload = md5(payload) || payload" ||
    t_bail "cannot change tenant_noise"
t_ok "a second backup of other rows" "$COFFER" backup
second=$(grep -oE '[0-9a-f]{64}' <<<"$T_OUT" | head -1)
want=$(pg_psql -d "$DB" -c "SELECT md5(string_agg(b::text, ',' ORDER BY id)) FROM tenant_noise.blobs b")

# fill the disk to the last byte
dd if=/dev/zero of="$MNT/filler" bs=64k 2>/dev/null
t_is "$(df --output=avail "$MNT" | tail -1 | tr -d ' ')" 0 "the disk is full"

t_exit 1 "a backup onto the full disk fails" "$COFFER" backup
t_like "$T_ERR" 'the disk is full' "  ... saying the disk is full"
t_unlike "$T_ERR" 'reserve' "  ... without touching the reserve"
t_is "$(stat -c %s "$MNT/repo/reserve" 2>/dev/null)" 1048576 "  ... which is still there"
t_is "$(find "$MNT/repo" -name '*.tmp*' | wc -l)" 0 "  ... and leaves no temporary file"
t_is "$(ls "$MNT/repo/locks" | wc -l)" 0 "  ... nor a lock"

t_ok "forget takes its lock on the full disk" "$COFFER" forget "$first"
t_like "$T_OUT" "forgot snapshot $first" "  ... and forgets the first snapshot"
t_is "$(stat -c %s "$MNT/repo/reserve" 2>/dev/null)" 1048576 "  ... and puts the space reserve it used back"
t_ok "prune takes its lock on the full disk and frees the space" "$COFFER" prune
t_like "$T_OUT" 'pruned: [1-9][0-9]* packs? deleted' "  ... deleting the packs only the first snapshot used"
t_is "$(stat -c %s "$MNT/repo/reserve" 2>/dev/null)" 1048576 "  ... and puts the reserve back"
t_is "$(ls "$MNT/repo/locks" | wc -l)" 0 "  ... leaving no lock"

rm -f "$MNT/filler"
t_ok "with room again, a backup works" "$COFFER" backup
t_ok "check --read-data is clean" "$COFFER" check --read-data
t_ok "the second snapshot restores beside the live tenant" \
    "$COFFER" restore --tenant tenant_noise --snapshot "$second" --as noise_back
t_is "$(pg_psql -d "$DB" -c "SELECT md5(string_agg(b::text, ',' ORDER BY id)) FROM noise_back.blobs b")" \
    "$want" "  ... row for row"
t_done
