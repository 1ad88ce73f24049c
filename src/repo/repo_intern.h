/*
 * repo_intern.h - private structures of the repository module, shared by its
 * source files and by nothing else.
 *
 * Object formats (all integers little-endian):
 *
 * config (plain JSON, the one object that names the format):
 *   {"format":1,"id":"<64 hex>","encryption":"aes-256-gcm"|"none",
 *    "compression":3,"chunker":{"min":N,"avg":N,"max":N},"pack_size":N}
 *
 * keys/master (plain JSON):
 *   {"format":1,"kdf":{"name":"scrypt","n":N,"r":R,"p":P,"salt":"<hex>"}|null,
 *    "key":"<hex of sealed master>"}
 *   The master is 64 bytes: an encryption key (seals owner keys, pack
 *   headers, index objects and snapshots) and an id key (derives owner ids).
 *   It is sealed by the scrypt key with AAD "coffer master key <repo id>";
 *   with encryption none it is null-sealed (see below) under a zero key.
 *
 * Sealing: nonce(12) | ciphertext | tag(16) (codec_seal). With encryption
 *   none the same layout holds a "null seal": 12 zero bytes | plaintext |
 *   first 16 bytes of SHA-256(key | u64 aad length | aad | plaintext), so
 *   both modes share one code path and damage is detected either way.
 *
 * Envelope objects (keys/<kid>, index/<id>, snapshots/<id>):
 *   magic(4) | u32 version (1) | u32 flags (1 = zstd) | u64 plaintext length
 *   | sealed(master encryption key, AAD = these 20 bytes | object key, body)
 *   Magic: "CFRK" owner keys, "CFRI" index, "CFRS" snapshot.
 *
 * keys/<ownerid>-<gen> (envelope "CFRK", JSON body):
 *   {"name":"...","data_key":"<hex>","id_key":"<hex>","created":"<time>"}
 *   ownerid = first 16 bytes of HMAC-SHA-256(master id key, name) in hex;
 *   gen = 8 random bytes in hex. A "kid" is ownerid | gen (24 bytes). Two
 *   processes creating the same owner at once each write their own
 *   generation; both stay valid, so no write ever loses a key.
 * keys/<ownerid>-destroyed (plain JSON {"destroyed":"<time>"}): tombstone
 *   left by repo_owner_destroy, so that reading says "destroyed".
 *
 * data/<xx>/<packid> (pack; packid = 32 random bytes in hex, xx its first 2):
 *   blob* | sealed header | trailer
 *   blob    = seal(owner data key, AAD = "B" | chunk id | flags, payload),
 *             payload = zstd frame (flags & 1) or the raw chunk
 *   header  = seal(master encryption key, AAD = "H" | pack id,
 *             u32 version | kid(24) | u32 count | count x entry)
 *   entry   = chunk id(32) | u32 offset | u32 length | u32 raw length | u8 flags
 *   trailer = u32 sealed header length | u32 version | "COFFERPK"
 *
 * index/<id> (envelope "CFRI", binary body):
 *   u32 npacks | npacks x (pack id(32) | kid(24) | u64 pack size | u32 n |
 *   n x entry), entries as in the pack header.
 *
 * snapshots/<id> (envelope "CFRS", zstd-compressed JSON body).
 * locks/<id> (plain JSON {"mode","host","pid","time","command","refreshed"},
 *             refreshed in seconds since 1970, rewritten while the lock is held).
 */
#ifndef COFFER_REPO_REPO_INTERN_H
#define COFFER_REPO_REPO_INTERN_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "repo/repo.h"

#define REPO_OWNERID_LEN 16
#define REPO_GEN_LEN 8
#define REPO_KID_LEN (REPO_OWNERID_LEN + REPO_GEN_LEN)
#define REPO_MASTER_LEN (2 * CODEC_KEY_LEN)
#define REPO_ENTRY_LEN 45 /* serialized entry: id, offset, length, raw length, flags */
#define REPO_PACK_TRAILER_LEN 16
#define REPO_PACK_MAGIC "COFFERPK"
#define REPO_ENVELOPE_LEN 20
#define REPO_NONE UINT32_MAX
#define REPO_DEFAULT_PACK_SIZE (32u * 1024 * 1024)
#define REPO_MIN_PACK_SIZE (64u * 1024)
#define REPO_MAX_PACK_SIZE (1024u * 1024 * 1024)
#define REPO_WRITER_PACKS 4 /* open packs per writer (one per owner) */

enum
{
    REPO_ENTRY_COMPRESSED = 1, /* serialized flag: payload is a zstd frame */
};

/* Open-addressing hash table of fixed-size items whose key (a random-looking
 * id) starts each item. Items live in one array and keep their index. */
typedef struct RepoTable
{
    unsigned char *items;
    size_t stride;
    size_t keylen;
    uint32_t count;
    uint32_t alloc;
    uint32_t *slots; /* item index + 1; 0 = empty */
    uint32_t mask;   /* slot count - 1 (power of two), or 0 before the first add */
} RepoTable;

void repo_table_init(RepoTable *t, size_t stride, size_t keylen);
void repo_table_free(RepoTable *t);
/* Returns the index of the item with this key, or REPO_NONE. */
uint32_t repo_table_find(const RepoTable *t, const void *key);
/* Appends a copy of item (the caller checked that its key is new). */
uint32_t repo_table_add(RepoTable *t, const void *item);
void *repo_table_at(const RepoTable *t, uint32_t i);

/* One chunk in the index: 52 bytes, plus 4-8 bytes of hash slots. */
typedef struct RepoEntry
{
    unsigned char id[CODEC_ID_LEN];
    uint32_t pack; /* index into Repo.packs */
    uint32_t offset;
    uint32_t length;     /* sealed blob length */
    uint32_t raw_length; /* plaintext length */
    uint8_t flags;       /* REPO_ENTRY_COMPRESSED */
    uint8_t mark;        /* scratch for check and prune */
} RepoEntry;

typedef struct RepoPack
{
    unsigned char id[32];
    uint64_t size;    /* whole object, as recorded in the index */
    uint32_t kid;     /* index into Repo.kids */
    uint32_t entries; /* entries attributed to this pack */
    bool lost;        /* missing or of another size than indexed (repo_packs_scan) */
} RepoPack;

typedef struct RepoKid
{
    unsigned char kid[REPO_KID_LEN];
    RepoOwner *owner; /* loaded keys, or NULL */
} RepoKid;

/* What a listing of keys/ says about one owner id. */
typedef struct RepoKeyInfo
{
    unsigned char ownerid[REPO_OWNERID_LEN];
    unsigned char gen[REPO_GEN_LEN]; /* smallest live generation */
    bool has_gen;
    bool destroyed; /* a tombstone exists */
} RepoKeyInfo;

struct RepoOwner
{
    char *name;
    unsigned char kid[REPO_KID_LEN];
    char kid_str[2 * REPO_OWNERID_LEN + 1 + 2 * REPO_GEN_LEN + 1]; /* "<ownerid>-<gen>" */
    unsigned char data_key[CODEC_KEY_LEN];
    unsigned char id_key[CODEC_KEY_LEN];
    bool destroyed;
};

/* Current owner for an owner id: the generation new data is written with. */
typedef struct RepoCurrent
{
    unsigned char ownerid[REPO_OWNERID_LEN];
    RepoOwner *owner;
} RepoCurrent;

struct Repo
{
    Storage *st;
    char id[65];
    char config_digest[65]; /* SHA-256 of the "config" object's bytes, hex ("" unknown) */
    bool encrypted;
    int compression;
    ChunkerParams chunker;
    uint32_t pack_size;
    unsigned flags; /* REPO_OPEN_* */
    unsigned lock_stale; /* seconds without a refresh after which a lock is stale */
    unsigned char master_enc[CODEC_KEY_LEN];
    unsigned char master_id[CODEC_KEY_LEN];

    pthread_mutex_t verify_mu; /* one repo_packs_scan at a time (taken before mu) */
    pthread_mutex_t mu;        /* guards everything below */

    /* index */
    RepoTable entries;  /* RepoEntry, keyed by chunk id */
    RepoTable packs;    /* RepoPack, keyed by pack id */
    RepoTable kids;     /* RepoKid, keyed by kid */
    char **index_names; /* index objects loaded, sorted */
    size_t n_index_names;
    uint64_t index_dups;   /* entries skipped because their chunk was already indexed */
    RepoTable alts;        /* RepoEntry: the first other copy of a chunk indexed twice */
    bool packs_verified;   /* repo_packs_scan ran since the index last changed on load */
    uint64_t index_errors; /* index objects that failed to load (tolerant mode) */
    char **index_failed;   /* their keys, and below the errors, for repo_check */
    char **index_failed_msg;
    RepoTable parts_seen; /* ids (raw, 32 bytes) of the part objects known to exist */
    bool parts_listed;    /* parts_seen was filled from a listing of parts/ */
    Buf pending; /* pack records of committed packs not yet in an index object */
    uint32_t pending_packs;

    /* owners */
    RepoTable keyinfo;  /* RepoKeyInfo, keyed by owner id, from one listing of keys/ */
    RepoTable current;  /* RepoCurrent, keyed by owner id */
    RepoOwner **owners; /* every owner loaded, freed at close */
    size_t n_owners;
};

/* ---- object.c: sealing, envelopes, names, time ------------------------- */

/* Appends a sealed blob of in (AES-256-GCM, or the null seal). */
bool repo_seal(bool encrypted, const unsigned char key[CODEC_KEY_LEN], const void *aad,
               size_t aad_len, const void *in, size_t len, Buf *out, Error *err);
/* Opens a sealed blob into out (replacing it); "authentication failed" or
 * "checksum mismatch" on damage. */
bool repo_unseal(bool encrypted, const unsigned char key[CODEC_KEY_LEN], const void *aad,
                 size_t aad_len, const void *in, size_t len, Buf *out, Error *err);

/* Writes an envelope object sealed by the master encryption key. */
bool repo_object_put(Repo *repo, const char *key, const char magic[4], const void *body, size_t len,
                     bool compress, Error *err);
/* Reads an envelope object into out; errors name what ("index", ...) and key. */
bool repo_object_get(Repo *repo, const char *key, const char magic[4], const char *what, Buf *out,
                     Error *err);
/* The same, sealed with another key than the master key (an owner's data
 * key: snapshot parts). */
bool repo_object_put_sealed(Repo *repo, const char *key, const char magic[4], const void *body,
                            size_t len, bool compress, const unsigned char seal[CODEC_KEY_LEN],
                            Error *err);
bool repo_object_get_sealed(Repo *repo, const char *key, const char magic[4], const char *what,
                            const unsigned char seal[CODEC_KEY_LEN], Buf *out, Error *err);
/* storage_get with a "WHAT "KEY" is missing" error for a missing object. */
bool repo_get(Repo *repo, const char *key, const char *what, unsigned char **data, size_t *len,
              Error *err);

/* 32 random bytes as 64 hex digits. */
void repo_random_id(char out[65]);
/* "2024-05-01T12:00:00.123456Z" (UTC, sortable). */
void repo_time_now(char out[40]);
/* The object key of a pack: "data/xx/<64 hex>". */
void repo_pack_key(const unsigned char id[32], char out[80]);
/* Parses "data/xx/<64 hex>"; false for anything else. */
bool repo_pack_key_parse(const char *key, unsigned char id[32]);
/* Short printable chunk id (first 16 hex digits). */
void repo_chunk_str(const unsigned char id[32], char out[20]);
/* Serializes one chunk entry (REPO_ENTRY_LEN bytes), the format pack
 * headers and index records share. */
void repo_entry_put(Buf *b, const unsigned char id[32], uint32_t offset, uint32_t length,
                    uint32_t raw_length, uint8_t flags);

/* Test hook: when $COFFER_CRASH_POINT equals name (or "name@N" and this is
 * the Nth time name is reached), the process kills itself with SIGKILL. */
void repo_crash_point(const char *name);

/* ---- keys.c ------------------------------------------------------------ */

bool repo_master_create(Repo *repo, const char *passphrase, const KdfParams *kdf, Error *err);
bool repo_master_load(Repo *repo, const char *passphrase, Error *err);
/* Lists keys/ once and fills Repo.keyinfo. */
bool repo_keys_scan(Repo *repo, Error *err);
/* The owner of a kid index (keys loaded on first use); caller holds no lock.
 * Fails with "keys of owner ... were destroyed" / "are missing". */
RepoOwner *repo_owner_for_kid(Repo *repo, uint32_t kid, Error *err);
void repo_owners_free(Repo *repo);
void repo_kid_str(const unsigned char kid[REPO_KID_LEN], char *out);
/* The keyed owner id of an owner name, in hex. */
void repo_owner_id_hex(Repo *repo, const char *name, char out[2 * REPO_OWNERID_LEN + 1]);
/* Index of a kid in Repo.kids, added when new; caller holds mu. */
uint32_t repo_kid_intern(Repo *repo, const unsigned char kid[REPO_KID_LEN]);

/* ---- index.c ----------------------------------------------------------- */

/* (Re)loads every index object into fresh tables (plus pending records). */
bool repo_index_load(Repo *repo, Error *err);
/* Adds one serialized pack record (pack id | kid | size | n | entries) to
 * the tables; pending=true also queues it for repo_index_commit. Caller
 * holds mu. Returns false on a malformed record. */
bool repo_index_add_record(Repo *repo, const unsigned char *rec, size_t len, size_t *used,
                           bool pending, const char *what, Error *err);
/* Chunk lookup under the lock: copies the entry. */
bool repo_index_lookup(Repo *repo, const unsigned char id[32], RepoEntry *e, RepoPack *p);
/* The other copy of a chunk indexed twice (in another pack), if any. */
bool repo_index_lookup_alt(Repo *repo, const unsigned char id[32], RepoEntry *e, RepoPack *p);
/* Makes the other copy of entry i (when there is one) the entry the index
 * serves, and the served one the other copy. Caller holds mu. */
void repo_index_swap_alt(Repo *repo, uint32_t i);
void repo_index_free(Repo *repo);
/* Groups entries by pack: entries of pack p are order[first[p] .. first[p+1]),
 * by offset. Both arrays are malloc'd (caller frees). Caller holds mu or
 * owns the repository. */
void repo_entries_by_pack(Repo *repo, uint32_t **first, uint32_t **order);

/* ---- repair.c --------------------------------------------------------- */

/* A pack the index names that is missing or of another size than indexed. */
typedef struct RepoPackProblem
{
    uint32_t pack;    /* index into Repo.packs */
    bool missing;     /* else: listed with another size */
    uint64_t found;   /* the size listed */
    uint32_t entries; /* chunks it served before copies in sound packs took over */
} RepoPackProblem;

/* Lists data/ once and marks every pack the index names that is missing or
 * of another size than indexed as lost, so that its chunks no longer serve
 * dedup; a chunk of a lost pack that is indexed again in a sound pack is
 * served from there. Sets *lost to the number of lost packs and, when
 * problems is not NULL, a malloc'd array of them (caller frees). Caller
 * holds neither mu nor verify_mu. */
bool repo_packs_scan(Repo *repo, uint64_t *lost, RepoPackProblem **problems, Error *err);
/* Runs repo_packs_scan once per index state (the first stream of a
 * backup), warning when packs are lost. */
bool repo_packs_verify_once(Repo *repo, Error *err);

/* ---- pack.c ------------------------------------------------------------ */

typedef struct PackWriter
{
    Repo *repo;
    unsigned char kid[REPO_KID_LEN];
    unsigned char id[32];
    char key[80];
    StorageWrite *sw;
    uint64_t size; /* bytes written so far */
    Buf entries;   /* serialized header entries */
    uint32_t count;
    RepoTable ids;     /* chunk ids in this pack (stride 32) */
    uint64_t last_use; /* writer's LRU tick */
} PackWriter;

PackWriter *pack_writer_new(Repo *repo, const unsigned char kid[REPO_KID_LEN], Error *err);
/* Appends one sealed blob. */
bool pack_writer_add(PackWriter *pw, const unsigned char id[32], uint8_t flags, uint32_t raw_len,
                     const void *blob, size_t len, Error *err);
/* Writes header and trailer and commits the object; appends the pack's index
 * record to record. The writer is then spent (free it). */
bool pack_writer_finish(PackWriter *pw, Buf *record, Error *err);
/* Frees; an unfinished pack is discarded. */
void pack_writer_free(PackWriter *pw);

typedef struct PackHeader
{
    unsigned char kid[REPO_KID_LEN];
    uint32_t count;
    unsigned char *entries; /* count x REPO_ENTRY_LEN */
    uint64_t data_end;      /* where the sealed header starts */
} PackHeader;

/* Reads and checks trailer and header of a pack of the given size. */
bool pack_header_read(Repo *repo, const unsigned char packid[32], uint64_t size, PackHeader *h,
                      Error *err);
void pack_header_free(PackHeader *h);

/* Opens a blob: unseal with the owner's data key, decompress, re-hash. Sets
 * digest (when not NULL) to the plaintext's SHA-256. On failure err says
 * what is wrong (the caller names pack and chunk). */
bool repo_blob_open(Repo *repo, const RepoOwner *owner, const unsigned char id[32], uint8_t flags,
                    uint32_t raw_len, const void *blob, size_t len, Buf *plain, Buf *tmp,
                    unsigned char digest[CODEC_DIGEST_LEN], Error *err);

/* ---- snapshot.c -------------------------------------------------------- */

/* Calls fn for every chunk id string in every "chunks" array of doc. */
typedef bool (*RepoChunkVisit)(void *arg, const char *hex, Error *err);
bool repo_snapshot_walk(json_t *doc, RepoChunkVisit fn, void *arg, Error *err);
/* The same over the header and every part it lists; parts of owners whose
 * keys were destroyed are skipped and counted in *destroyed. */
bool repo_snapshot_walk_all(Repo *repo, json_t *doc, RepoChunkVisit fn, void *arg,
                            uint64_t *destroyed, Error *err);
/* Removes parts no snapshot lists (left by an interrupted backup or
 * forget); the caller holds the exclusive lock. */
bool repo_parts_sweep(Repo *repo, uint64_t *removed, Error *err);
/* Loads snapshots/<64 hex id>. */
json_t *repo_snapshot_load_id(Repo *repo, const char *id, Error *err);

#endif
