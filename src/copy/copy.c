/*
 * copy.c - snapshots from one repository into another (see copy.h).
 */
#include "copy/copy.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/mem.h"
#include "manifest/manifest.h"

typedef struct Copy
{
    const CopyPlan *plan;
    Repo *from, *to;
    RepoWriter *writer;
    CopyResult *res;
    struct timespec start;
    double last_report;
    uint64_t snap_bytes, snap_added;
    uint64_t tenants, tables, rows, bytes; /* of the parts copied, for the header's stats */
} Copy;

static double copy_elapsed(const Copy *c)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - c->start.tv_sec) + (double)(now.tv_nsec - c->start.tv_nsec) / 1e9;
}

static void copy_report(Copy *c, bool final)
{
    ProgressSample s;
    double t = copy_elapsed(c);

    if (c->plan->progress == NULL || (!final && t - c->last_report < 0.25))
        return;
    c->last_report = t;
    memset(&s, 0, sizeof(s));
    s.what = "copy";
    s.verb = "read";
    s.done = json_array_size(c->res->copied);
    s.bytes = c->res->bytes;
    s.elapsed = t;
    s.final = final;
    c->plan->progress(c->plan->progress_arg, &s);
}

/* The sink between the source's reader and the destination's stream. */
typedef struct CopyPipe
{
    Copy *c;
    RepoStream *out;
} CopyPipe;

static bool copy_sink(void *arg, const void *data, size_t len, Error *err)
{
    CopyPipe *p = arg;

    p->c->res->bytes += len;
    copy_report(p->c, false);
    return repo_stream_write(p->out, data, len, err);
}

/* One stream: the source's chunks, read and checked there, become the
 * destination's chunks; the object's "chunks" and "hash" change to the
 * destination's, and its "bytes" must match what was read. */
static bool copy_stream(Copy *c, RepoOwner *owner, json_t *obj, Error *err)
{
    CopyPipe p = {c, repo_stream_begin(c->writer, owner, err)};
    RepoStreamStats st;
    json_t *chunks;
    json_t *bytes = json_object_get(obj, "bytes");
    char hash[65];

    if (p.out == NULL)
        return false;
    if (!repo_read_chunks(c->from, json_object_get(obj, "chunks"), copy_sink, &p, hash, err))
    {
        repo_stream_abort(p.out);
        return false;
    }
    chunks = repo_stream_end(p.out, &st, err);
    if (chunks == NULL)
        return false;
    if (json_is_integer(bytes) && (uint64_t)json_integer_value(bytes) != st.bytes_in)
    {
        json_decref(chunks);
        return error_set(err, ERR_FAILURE,
                         "a stream of %" JSON_INTEGER_FORMAT " bytes was read as %llu bytes",
                         json_integer_value(bytes), (unsigned long long)st.bytes_in);
    }
    json_object_set_new(obj, "chunks", chunks);
    if (json_object_get(obj, "hash") != NULL)
        json_object_set_new(obj, "hash", json_string(st.hash));
    c->res->chunks += st.chunks;
    c->res->chunks_new += st.chunks_new;
    c->snap_added += st.bytes_stored;
    return true;
}

/* Every stream of a part document, at any depth. */
static bool copy_walk(Copy *c, RepoOwner *owner, json_t *doc, Error *err)
{
    const char *key;
    json_t *v;
    size_t i;

    if (json_is_object(doc))
    {
        if (json_is_array(json_object_get(doc, "chunks")))
            return copy_stream(c, owner, doc, err);
        json_object_foreach (doc, key, v)
            if (!copy_walk(c, owner, v, err))
                return false;
    }
    else if (json_is_array(doc))
    {
        json_array_foreach (doc, i, v)
            if (!copy_walk(c, owner, v, err))
                return false;
    }
    return true;
}

/* Is the part one the plan selects: the shared part, or a named tenant's? */
static bool copy_selected(const Copy *c, json_t *ref)
{
    if (c->plan->n_tenants == 0 || repo_part_of(c->from, ref, MANIFEST_SHARED_OWNER))
        return true;
    for (size_t i = 0; i < c->plan->n_tenants; i++)
    {
        char *owner = manifest_owner_name(c->plan->tenants[i]);
        bool mine = repo_part_of(c->from, ref, owner);

        free(owner);
        if (mine)
            return true;
    }
    return false;
}

/* Does the snapshot hold at least one of the tenants the plan names? */
static bool copy_holds_any(const Copy *c, json_t *header)
{
    if (c->plan->n_tenants == 0)
        return true;
    for (size_t i = 0; i < c->plan->n_tenants; i++)
        if (manifest_holds(c->from, header, c->plan->tenants[i]))
            return true;
    return false;
}

/* Adds a part's tenants, tables, rows and bytes to the snapshot's counts. */
static void copy_count(Copy *c, json_t *part)
{
    json_t *t;
    size_t i;

    json_array_foreach (json_object_get(part, "tenants"), i, t)
    {
        if (!json_is_true(json_object_get(t, "shared")))
            c->tenants++;
        c->tables += json_array_size(json_object_get(t, "tables"));
        c->rows += (uint64_t)json_integer_value(json_object_get(t, "rows"));
        c->bytes += (uint64_t)json_integer_value(json_object_get(t, "bytes"));
    }
}

/* The header's stats in the destination: what this copy added there, and
 * for a copy of some tenants, what their parts hold. */
static void copy_stats(Copy *c, json_t *header)
{
    json_t *st = json_object_get(header, "stats");

    if (!json_is_object(st))
        return;
    json_object_set_new(st, "bytes_added", json_integer((json_int_t)c->snap_added));
    if (c->plan->n_tenants == 0)
        return;
    json_object_set_new(st, "tenants", json_integer((json_int_t)c->tenants));
    json_object_set_new(st, "tables", json_integer((json_int_t)c->tables));
    json_object_set_new(st, "rows", json_integer((json_int_t)c->rows));
    json_object_set_new(st, "bytes_read", json_integer((json_int_t)c->bytes));
}

/* Copies one part; *ref_out receives the destination's reference, or
 * stays NULL for a part whose keys were destroyed in the source. The
 * destination's index is written after each part, so that a copy run
 * again after an interruption sends nothing twice. */
static bool copy_part(Copy *c, json_t *ref, json_t **ref_out, Error *err)
{
    bool destroyed = false, ok;
    json_t *part = repo_part_load(c->from, ref, &destroyed, err);
    const char *name;
    RepoOwner *owner;

    *ref_out = NULL;
    if (part == NULL && destroyed)
    {
        log_warning("left out a part whose owner's keys were destroyed: %s", err->message);
        error_clear(err);
        return true;
    }
    if (part == NULL)
        return false;
    copy_count(c, part);
    name = json_string_value(json_object_get(part, "owner"));
    owner = name != NULL ? repo_owner_get(c->to, name, true, err) : NULL;
    if (name == NULL && !error_is_set(err))
        error_set(err, ERR_FAILURE, "a snapshot part names no owner");
    ok = owner != NULL && copy_walk(c, owner, part, err) && repo_writer_flush(c->writer, err) &&
         repo_index_commit(c->to, err) && repo_part_write(c->to, owner, part, ref_out, err);
    json_decref(part);
    return ok;
}

static bool copy_snapshot(Copy *c, const char *id, Error *err)
{
    json_t *header = repo_snapshot_load(c->from, id, err);
    json_t *refs = json_array(), *ref, *parts, *skipped = NULL;
    char key[96], done_id[65];
    bool exists = false, ok = header != NULL;
    size_t i;

    snprintf(key, sizeof(key), "snapshots/%s", id);
    ok = ok && storage_exists(repo_storage(c->to), key, &exists, NULL, err);
    if (ok && exists)
        skipped = json_pack("{s:s, s:s}", "id", id, "why", "already in the destination");
    else if (ok && !copy_holds_any(c, header))
    {
        skipped = json_pack("{s:s, s:s}", "id", id, "why", "holds none of the tenants named");
        exists = true; /* nothing to write */
    }
    c->snap_bytes = c->res->bytes;
    c->snap_added = 0;
    c->tenants = c->tables = c->rows = c->bytes = 0;
    /* nothing to read when the snapshot is there already or left out */
    parts = ok && !exists ? json_object_get(header, "parts") : NULL;
    json_array_foreach (parts, i, ref)
    {
        json_t *out;

        if (!copy_selected(c, ref))
            continue;
        if (!(ok = copy_part(c, ref, &out, err)))
            break;
        if (out != NULL)
            json_array_append_new(refs, out);
    }
    if (ok && !exists)
    {
        json_t *from = json_pack("{s:s, s:s}", "repository", repo_id(c->from), "location",
                                 repo_location(c->from));

        json_object_set(header, "parts", refs);
        json_object_set_new(header, "copied_from", from);
        copy_stats(c, header);
        ok = repo_snapshot_write(c->to, header, done_id, err);
        if (ok)
            json_array_append_new(c->res->copied,
                                  json_pack("{s:s, s:I, s:I, s:I}", "id", done_id, "parts",
                                            (json_int_t)json_array_size(refs), "bytes",
                                            (json_int_t)(c->res->bytes - c->snap_bytes),
                                            "bytes_added", (json_int_t)c->snap_added));
    }
    c->res->bytes_added += c->snap_added;
    if (skipped != NULL)
        json_array_append_new(c->res->skipped, skipped);
    if (!ok)
        error_prefix(err, "could not copy snapshot %.12s", id);
    json_decref(refs);
    json_decref(header);
    return ok;
}

/* The ids the plan names, oldest first. */
static json_t *copy_ids(Copy *c, Error *err)
{
    json_t *ids = json_array();
    char full[65];

    if (strcmp(c->plan->snapshot, "all") == 0)
    {
        json_t *unreadable = NULL, *snaps, *s;
        size_t i;

        snaps = repo_snapshot_list_readable(c->from, &unreadable, err);
        if (snaps == NULL)
        {
            json_decref(ids);
            return NULL;
        }
        repo_snapshot_warn_unreadable(unreadable);
        json_decref(unreadable);
        json_array_foreach (snaps, i, s)
            json_array_append(ids, json_object_get(s, "id"));
        json_decref(snaps);
        return ids;
    }
    if (!repo_snapshot_resolve(c->from, c->plan->snapshot, full, err))
    {
        json_decref(ids);
        return NULL;
    }
    json_array_append_new(ids, json_string(full));
    return ids;
}

bool copy_run(const CopyPlan *plan, Repo *from, Repo *to, CopyResult *res, Error *err)
{
    Copy c = {.plan = plan, .from = from, .to = to, .res = res};
    json_t *ids, *id;
    bool ok = true;
    size_t i;

    memset(res, 0, sizeof(*res));
    res->copied = json_array();
    res->skipped = json_array();
    clock_gettime(CLOCK_MONOTONIC, &c.start);
    if (strcmp(repo_id(from), repo_id(to)) == 0)
        return error_set(err, ERR_USAGE, "copy: source and destination are the same repository "
                                         "(%s)",
                         repo_location(from));
    ids = copy_ids(&c, err);
    if (ids == NULL)
        return false;
    c.writer = repo_writer_new(to);
    json_array_foreach (ids, i, id)
        if (!(ok = copy_snapshot(&c, json_string_value(id), err)))
            break;
    repo_writer_free(c.writer);
    json_decref(ids);
    res->seconds = copy_elapsed(&c);
    copy_report(&c, true);
    return ok;
}

void copy_result_free(CopyResult *res)
{
    json_decref(res->copied);
    json_decref(res->skipped);
    res->copied = res->skipped = NULL;
}
