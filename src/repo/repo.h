/*
 * repo.h - the repository: a content-addressed, deduplicated, compressed,
 * encrypted and crash-safe store of tenant backups, over a Storage.
 *
 * Layout under the storage root (no tenant name ever appears in a key):
 *   config              plain header: format version, encryption, chunker
 *   keys/master         master key wrapped by the passphrase key (scrypt)
 *   keys/<ownerid>      an owner's data key and id key, wrapped by the master key
 *   data/<xx>/<packid>  packs: many chunks of a single owner, encrypted header
 *   index/<id>          which chunk lives in which pack (encrypted)
 *   snapshots/<id>      one encrypted JSON manifest per backup, written last
 *   locks/<id>          shared (backup) and exclusive (prune) locks
 *
 * Write order is data, then index, then snapshot: whatever a crash leaves
 * behind is unreferenced and removed by prune; nothing referenced is missing.
 * The byte formats of every object are documented in repo_intern.h.
 *
 * Threads: a Repo may be shared by several threads, each with its own
 * RepoWriter; repo_* functions that touch shared state lock internally.
 */
#ifndef COFFER_REPO_REPO_H
#define COFFER_REPO_REPO_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "codec/codec.h"
#include "common/error.h"
#include "common/sink.h"
#include "storage/storage.h"

/* 2: chunk ids are HMAC-SHA-256 of the chunk's SHA-256, and content
 * hashes are over chunk digests; 3: a snapshot is a header and parts, each
 * tenant's sealed under its own key */
#define REPO_FORMAT_VERSION 3

typedef struct Repo Repo;
typedef struct RepoOwner RepoOwner;
typedef struct RepoWriter RepoWriter;
typedef struct RepoStream RepoStream;
typedef struct RepoLock RepoLock;

/* ---- creating and opening ---------------------------------------------- */

typedef struct RepoInitOptions
{
    bool encryption;       /* false = "encryption: none", recorded in config */
    int compression;       /* zstd level, default 3 */
    ChunkerParams chunker; /* zero = chunker_default_params() */
    uint32_t pack_size;    /* target pack size in bytes, 0 = 32 MiB */
    KdfParams *kdf;        /* NULL = codec_kdf_default(); tests pass cheap params */
} RepoInitOptions;

/* Creates a new repository on st. Refuses (ERR_FAILURE, "repository ...
 * already exists") when a config object is present. passphrase may be NULL
 * only when encryption is false. */
bool repo_init(Storage *st, const char *passphrase, const RepoInitOptions *opts, Error *err);

/* Opens a repository: reads config (unknown format version is an error that
 * names the version), unwraps the master key (a wrong passphrase is one clear
 * error: "wrong passphrase for repository \"LOCATION\"", ERR_FAILURE), and
 * loads the index (one listing plus one read per index object, never one
 * round trip per tenant). Takes ownership of st (freed by repo_close). */
Repo *repo_open(Storage *st, const char *passphrase, Error *err);
void repo_close(Repo *repo);

/* Flags of repo_open_ex. */
enum
{
    /* Index objects that cannot be read are remembered instead of failing
     * the open; repo_check reports each one. For check only: a repository
     * opened this way must not be written to. */
    REPO_OPEN_TOLERANT = 1,
};

/* repo_open with flags. Like repo_open, takes ownership of st even when it
 * fails (st is freed then). */
Repo *repo_open_ex(Storage *st, const char *passphrase, unsigned flags, Error *err);

/* Reads only the config object of the repository on st (it stays the
 * caller's): fails like repo_open for a missing repository or an unknown
 * format version; sets *encrypted and, when id_out is not NULL, the id. */
bool repo_probe(Storage *st, bool *encrypted, char id_out[65], Error *err);

Storage *repo_storage(Repo *repo);
int repo_compression(const Repo *repo);
bool repo_encrypted(const Repo *repo);
/* The repository id (64 hex digits) and printable location. */
const char *repo_id(const Repo *repo);
const char *repo_location(const Repo *repo);

/* ---- owners and keys ---------------------------------------------------- */

/* An owner is a tenant name or "shared": each has its own data key and id
 * key, so equal data dedups within an owner only, and destroying an owner's
 * keys makes every chunk of it unreadable (GDPR erasure without rewriting
 * backups). Returns the cached owner; create=false fails for an unknown
 * owner. The returned pointer lives as long as the Repo. */
RepoOwner *repo_owner_get(Repo *repo, const char *name, bool create, Error *err);
const char *repo_owner_name(const RepoOwner *owner);

/* A value derived from the owner's id key for label (64 hex digits): the
 * same for the same owner and label, and unknown to whoever lacks the
 * repository's keys. */
void repo_owner_derive(const RepoOwner *owner, const char *label, char out[65]);

/* Deletes the owner's keys. Afterwards reading any chunk of that owner fails
 * with a clear error ("keys of owner ... were destroyed"). */
bool repo_owner_destroy(Repo *repo, const char *name, Error *err);

/* Reads the owner key object key ("keys/<ownerid>-<generation>"), unwraps
 * it with the master key and checks that it belongs to the owner its name
 * says. Fails naming the object when it is missing, damaged ("owner key
 * \"keys/...\": authentication failed") or not an owner key's name. */
bool repo_key_verify(Repo *repo, const char *key, Error *err);

/* Were owner name's keys destroyed? Sets when to the time it was done
 * (UTC ISO-8601, "" if unknown). */
bool repo_owner_destroyed_at(Repo *repo, const char *name, char when[40]);

/* ---- journal of swaps in progress (journal.c) ---------------------------- */

/* Writes (or replaces) journal entry id (64 hex) with doc, sealed with the
 * master key. A restore records there what it renames aside, so that a
 * process killed mid-swap can be put right by the next one. */
bool repo_journal_put(Repo *repo, const char *id, json_t *doc, Error *err);
/* Every readable entry, as [{"id": ..., "doc": {...}}]; unreadable ones are
 * warned about and skipped. */
json_t *repo_journal_list(Repo *repo, Error *err);
bool repo_journal_remove(Repo *repo, const char *id, Error *err);

/* ---- locks -------------------------------------------------------------- */

typedef enum
{
    REPO_LOCK_SHARED,    /* backups, restores, check */
    REPO_LOCK_FREEING,   /* shared, and frees space (forget): may use the reserve */
    REPO_LOCK_EXCLUSIVE, /* prune, repair, unlock of others: may use the reserve */
    REPO_LOCK_SOLO,      /* shared, but one at a time per command (coffer run): conflicts
                          * with another live solo lock of the same command */
} RepoLockMode;

/* Takes a lock recording host, pid, time and the command. Conflicts with an
 * exclusive lock (or, for exclusive, any lock) fail with "repository is
 * locked by PID on HOST since TIME (COMMAND)" and a hint to run "coffer
 * unlock" if that process is gone. A conflicting lock whose process no longer
 * exists on this same host is removed automatically, with a log line. */
RepoLock *repo_lock(Repo *repo, RepoLockMode mode, const char *command, Error *err);
void repo_unlock(RepoLock *lock);

/* Puts the space reserve (1 MiB, local disks only) in place when it is
 * missing, so that a lock that frees space can still be taken on a full
 * disk; silent when there is no room. repo_init and the unlock of such a
 * lock call it. */
void repo_reserve_ensure(Repo *repo);

/* A lock is rewritten ("refreshed") while its holder runs, every third of
 * this time (at most every 5 minutes); one not refreshed for this long
 * counts as stale on any host, since its holder is gone or cut off. The
 * default is 30 minutes; repo_open_ex sets it. */
#define REPO_LOCK_STALE_DEFAULT 1800
void repo_set_lock_stale(Repo *repo, unsigned seconds);

/* Removes stale locks (all = every lock, also live ones on other hosts).
 * Returns the number removed in *removed and, when locks is not NULL, every
 * lock seen as [{"key", "mode", "host", "pid", "command", "time",
 * "refreshed", "age", "state": "removed" | "kept", "why"}]. */
bool repo_unlock_stale(Repo *repo, bool all, int *removed, json_t **locks, Error *err);

/* ---- writing ------------------------------------------------------------ */

typedef struct RepoStreamStats
{
    uint64_t bytes_in;     /* plaintext bytes written to the stream */
    uint64_t chunks;       /* chunks in the stream */
    uint64_t chunks_new;   /* chunks not already in the repository */
    uint64_t bytes_stored; /* bytes added to packs (after compression/encryption) */
    char hash[65];         /* content hash: SHA-256 of the chunks' SHA-256 digests, hex */
} RepoStreamStats;

/* A writer belongs to one thread. It keeps a few open packs (one per owner,
 * at most a handful; the least recently used is finished when another is
 * needed), so several tables of one owner share packs. */
RepoWriter *repo_writer_new(Repo *repo);

/* Finishes open packs and hands their index entries to the repository.
 * Must be called (and succeed) before the snapshot that uses its chunks is
 * written. */
bool repo_writer_flush(RepoWriter *w, Error *err);
/* Frees the writer; an unflushed writer's open packs are abandoned (their
 * partial objects never appear). */
void repo_writer_free(RepoWriter *w);

/* One stream of bytes (one table's COPY data, one DDL dump, ...) for owner. */
RepoStream *repo_stream_begin(RepoWriter *w, RepoOwner *owner, Error *err);
bool repo_stream_write(RepoStream *s, const void *data, size_t len, Error *err);
/* Ends the stream: returns a new JSON array of the chunk ids (hex) in order
 * (caller owns it) and fills stats; NULL with err on failure. The stream is
 * freed either way. */
json_t *repo_stream_end(RepoStream *s, RepoStreamStats *stats, Error *err);
void repo_stream_abort(RepoStream *s);

/* Writes all index entries handed over by flushed writers as one index
 * object. Called by the backup after every writer flushed, before the
 * snapshot. */
bool repo_index_commit(Repo *repo, Error *err);

/* Brings the in-memory index up to date with storage: loads index objects
 * written since the open, or reloads everything when one was removed (a
 * prune ran). repo_lock calls it once the lock is held, so a backup never
 * dedups against chunks a prune deleted in the meantime. */
bool repo_index_sync(Repo *repo, Error *err);

/* Repairs a lost or damaged index: every pack that no index object names is
 * indexed again from its own (sealed) header, in one new index object, and
 * index objects that failed to load because they are damaged (not, say, of
 * a newer format) are removed. The caller holds an exclusive lock. Sets the
 * number of packs indexed and of damaged index objects removed. Packs left
 * by interrupted backups get indexed too; prune removes them as before. */
bool repo_index_rebuild(Repo *repo, uint64_t *packs_added, uint64_t *damaged_removed, Error *err);

/* ---- lost packs (repair.c) ---------------------------------------------- */

/* A pack the index named that was missing or of another size than indexed,
 * as repo_repair_index dropped it. */
typedef struct RepoLostPack
{
    char key[80];    /* "data/xx/<packid>" */
    bool missing;    /* else: the object has another size (truncated when smaller) */
    uint64_t size;   /* as indexed */
    uint64_t found;  /* as listed (0 when missing) */
    uint64_t chunks; /* chunks indexed in it, dropped from the index */
    uint64_t moved;  /* of those, chunks another pack holds too: served from there now */
} RepoLostPack;

typedef struct RepoRepairReport
{
    RepoLostPack *packs; /* malloc'd; repo_repair_report_free */
    size_t n_packs;
    uint64_t chunks_lost;   /* chunks that no sound pack holds: gone from the index */
    uint64_t index_removed; /* old index objects replaced by the new one */
} RepoRepairReport;

/* Lists data/ once and marks the packs the index names that are missing or
 * of another size than indexed as lost: their chunks no longer serve dedup
 * (a backup stores them again) nor count as readable. Sets *lost to their
 * number. A backup does this by itself before its first dedup. */
bool repo_packs_verify(Repo *repo, uint64_t *lost, Error *err);

/* Counts the chunk ids in every "chunks" array of doc (a snapshot header or
 * part) that cannot be read: not in the index, or only in packs
 * repo_packs_verify found lost. */
uint64_t repo_chunks_lost(Repo *repo, json_t *doc);

/* Drops the index entries of packs that are missing or of another size
 * than indexed: one listing of data/, then a new index object without them,
 * then removal of the old index objects (a kill in between leaves both,
 * and running it again finishes). The caller holds the exclusive lock. Fills
 * r (nothing to do: no packs, no rewrite); fails while this process has
 * packs not yet in an index object. */
bool repo_repair_index(Repo *repo, RepoRepairReport *r, Error *err);
void repo_repair_report_free(RepoRepairReport *r);

/* ---- reading ------------------------------------------------------------ */

/* Reads the chunks (a JSON array of hex ids, as returned by repo_stream_end)
 * in order, checks each one (decrypts, decompresses, re-computes its id) and
 * hands the plaintext to fn. When hash is not NULL it receives the content
 * hash of what was read (as RepoStreamStats.hash) once all chunks are read. Errors name the chunk and pack and say what is
 * wrong (missing, truncated, authentication failed, id mismatch, keys
 * destroyed). Memory: one chunk at a time. Thread-safe. */
bool repo_read_chunks(Repo *repo, json_t *chunks, SinkFn fn, void *arg, char hash[65],
                      Error *err);

/* ---- snapshots (manifests) --------------------------------------------- */

/* A snapshot is a JSON object chosen by the backup layer. The repository
 * only relies on this: every member named "chunks" anywhere in the document
 * is an array of chunk ids the snapshot references. repo_snapshot_write adds
 * "id" (64 hex) and "time" (UTC ISO-8601) when missing, encrypts it with the
 * master key and stores it under snapshots/. id_out receives the id. */
bool repo_snapshot_write(Repo *repo, json_t *doc, char id_out[65], Error *err);

/* Loads one snapshot by full id, unique id prefix (at least 4 hex digits)
 * or "latest". Unknown or ambiguous ids are errors that say so. Returns a
 * new reference. */
json_t *repo_snapshot_load(Repo *repo, const char *id, Error *err);

/* Loads every snapshot, oldest first, as a new JSON array. Fails when one
 * cannot be read; for a damaged one the error names it ("snapshot
 * \"snapshots/ID\" cannot be read (authentication failed)") and how to
 * forget it. */
json_t *repo_snapshot_list(Repo *repo, Error *err);

/* Like repo_snapshot_list, but a snapshot whose object is damaged (it can
 * be fetched, yet does not authenticate or parse) is left out and named in
 * *unreadable instead, a new array of {"id", "key", "error"}. Still fails
 * when listing or reading storage fails (then *unreadable is NULL). */
json_t *repo_snapshot_list_readable(Repo *repo, json_t **unreadable, Error *err);

/* Logs a warning naming each snapshot of an unreadable array (from
 * repo_snapshot_list_readable) as skipped, and what to run about it. */
void repo_snapshot_warn_unreadable(json_t *unreadable);

/* Turns "latest", a full id or a unique prefix (at least 4 hex digits)
 * into the full id of a snapshot object that exists. Only "latest" reads
 * snapshots: the newest readable one, damaged ones warned about (when none
 * can be read, the error names one). A damaged snapshot can still be named. */
bool repo_snapshot_resolve(Repo *repo, const char *id, char full[65], Error *err);

/* ---- snapshot parts ------------------------------------------------------ */

/* A snapshot's header (sealed with the master key) may list parts as
 * "parts": [{"id": ..., "kid": ...}]: JSON objects each sealed with its
 * owner's data key under parts/<id>, so that a tenant's part, names
 * included, is readable only with that tenant's keys, and destroying them
 * leaves nothing of it readable. */

/* Writes doc as a part of owner; *ref_out receives its reference (new).
 * The part's id is keyed by the owner's id key over its content: the same
 * part again (a tenant that did not change) is not written twice, and
 * snapshots share it. Parts are removed only by prune (repo_parts_sweep),
 * once no snapshot lists them. */
bool repo_part_write(Repo *repo, RepoOwner *owner, json_t *doc, json_t **ref_out, Error *err);

/* Loads the part a reference names (a new reference). Errors name the part
 * ("snapshot part \"parts/ID\" is missing", "... authentication failed");
 * *destroyed (when not NULL) tells that its owner's keys were destroyed. */
json_t *repo_part_load(Repo *repo, json_t *ref, bool *destroyed, Error *err);

/* Is the referenced part owner_name's? Decided from the keyed owner id in
 * the reference, without reading the part. */
bool repo_part_of(Repo *repo, json_t *ref, const char *owner_name);

/* An owner's keyed id as hex (REPO_OWNER_HEX bytes with the NUL): what
 * part references carry instead of the owner's name. */
#define REPO_OWNER_HEX 33
void repo_owner_id(Repo *repo, const char *owner_name, char out[REPO_OWNER_HEX]);

/* The owner id a part reference carries; false for a malformed one. */
bool repo_part_owner(json_t *ref, char out[REPO_OWNER_HEX]);

/* The ids of every snapshot object, unordered, without reading any (a new
 * array of strings). */
json_t *repo_snapshot_ids(Repo *repo, Error *err);

/* The owner's key id ("<ownerid>-<generation>"), as part references hold it. */
const char *repo_owner_kid(const RepoOwner *owner);

/* Removes one snapshot named as repo_snapshot_resolve takes it (its data
 * stays until prune). A damaged snapshot is removed without being read;
 * the parts it listed are then left for prune to remove. */
bool repo_snapshot_forget(Repo *repo, const char *id, Error *err);

/* ---- state (state.c) ------------------------------------------------------
 *
 * Small documents a command keeps between runs under state/<name>, sealed
 * with the master key. They cache what the snapshots say, so a lost or
 * damaged one is never an error: repo_state_load then returns an empty
 * object (with a warning for a damaged one), and the caller rebuilds it. */

/* The document (a new reference), or an empty object; NULL only when the
 * storage cannot be asked. */
json_t *repo_state_load(Repo *repo, const char *name, Error *err);
bool repo_state_write(Repo *repo, const char *name, json_t *doc, Error *err);

/* An owner's small documents (notes/<ownerid>/<name>), sealed with its data
 * key like its snapshot parts: a restore drill's per-table detail. Load
 * returns NULL without an error when there is none. */
bool repo_note_write(Repo *repo, RepoOwner *owner, const char *name, json_t *doc, Error *err);
json_t *repo_note_load(Repo *repo, RepoOwner *owner, const char *name, Error *err);

/* The bytes the packs take in storage, and how many there are (one listing
 * of data/). */
bool repo_size(Repo *repo, uint64_t *bytes, uint64_t *packs, Error *err);

/* ---- integrity and cleanup ---------------------------------------------- */

typedef struct RepoCheckOptions
{
    bool read_data;        /* also read, decrypt and re-hash chunk data */
    int read_data_percent; /* 1..100: subset of packs read (100 = all) */
} RepoCheckOptions;

typedef struct RepoCheckReport
{
    uint64_t snapshots;
    uint64_t packs;
    uint64_t chunks;
    uint64_t packs_read;
    uint64_t errors;             /* problems found; each is logged with its object */
    uint64_t unreferenced_packs; /* harmless leftovers of crashes; prune removes them */
    uint64_t index_objects;      /* index objects read */
    uint64_t duplicates;         /* chunks stored in two packs (concurrent backups, an
                                    interrupted prune) */
    uint64_t destroyed_packs;    /* packs of owners whose keys were destroyed */
    uint64_t destroyed_parts;    /* snapshot parts of owners whose keys were destroyed */
    json_t *problems;            /* each problem's message, naming its object (a new array:
                                    the caller json_decref's it) */
} RepoCheckReport;

/* Verifies structure: every snapshot decrypts and parses, every chunk a
 * snapshot references is in the index, every indexed pack exists with the
 * right size (and with read_data, every chunk decrypts and re-hashes to its
 * id). Logs each problem naming the object; returns false (ERR_FAILURE,
 * "repository has N errors") when any was found. */
bool repo_check(Repo *repo, const RepoCheckOptions *opts, RepoCheckReport *report, Error *err);

typedef struct RepoPruneStats
{
    uint64_t packs_deleted;
    uint64_t packs_repacked;
    uint64_t bytes_freed;
    uint64_t index_rewritten;
    uint64_t temp_removed;  /* temp files that interrupted writes left */
    uint64_t parts_removed; /* snapshot parts no snapshot lists */
} RepoPruneStats;

/* Under an exclusive lock: deletes packs with no chunk referenced by any
 * snapshot, repacks packs that are mostly (> half) unreferenced, and rewrites
 * the index. Order keeps it crash-safe: new packs, then new index, then
 * removal of old index objects, then old packs. Takes the exclusive lock
 * itself (failing when another process holds any lock) and reloads the index
 * under it. Refuses to delete anything when a snapshot cannot be read or
 * references a chunk missing from the index (run check). Repacking copies
 * sealed blobs as they are: it needs no owner key. Last, it removes the temp
 * files that interrupted writes left (under locks/ only when old). */
bool repo_prune(Repo *repo, RepoPruneStats *stats, Error *err);

#endif
