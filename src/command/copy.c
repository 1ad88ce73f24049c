/*
 * copy.c - "coffer copy --from A --to B": opens both repositories (each
 * with its own passphrase), takes a shared lock on each, runs the copy
 * engine and prints what it copied.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command/command.h"
#include "common/fmt.h"
#include "common/mem.h"
#include "common/progress.h"
#include "copy/copy.h"

typedef struct CopyArgs
{
    const char *from;
    const char *to;
    const char *snapshot;
    const char **tenants;
    size_t n_tenants;
} CopyArgs;

enum
{
    COPY_OPT_FROM = CMD_OPT_FIRST_COMMAND,
    COPY_OPT_TO,
    COPY_OPT_SNAPSHOT,
    COPY_OPT_TENANT,
};

static bool copy_option(int opt, const char *arg, void *state, Error *err)
{
    CopyArgs *a = state;

    (void)err;
    switch (opt)
    {
    case COPY_OPT_FROM:
        a->from = arg;
        return true;
    case COPY_OPT_TO:
        a->to = arg;
        return true;
    case COPY_OPT_SNAPSHOT:
        a->snapshot = arg;
        return true;
    case COPY_OPT_TENANT:
        cmd_names_add(&a->tenants, &a->n_tenants, arg);
        return true;
    default:
        return false;
    }
}

static void copy_print(const CopyResult *res, const char *to, bool json)
{
    json_t *s;
    size_t i;

    if (json)
    {
        json_t *o = json_pack("{s:s, s:O, s:O, s:I, s:I, s:I, s:I, s:f}", "to", to, "copied",
                              res->copied, "skipped", res->skipped, "bytes", (json_int_t)res->bytes,
                              "bytes_added", (json_int_t)res->bytes_added, "chunks",
                              (json_int_t)res->chunks, "chunks_new", (json_int_t)res->chunks_new,
                              "seconds", res->seconds);

        json_dumpf(o, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(o);
        return;
    }
    json_array_foreach (res->copied, i, s)
    {
        char read[32], added[32];

        fmt_bytes((uint64_t)json_integer_value(json_object_get(s, "bytes")), read, sizeof(read));
        fmt_bytes((uint64_t)json_integer_value(json_object_get(s, "bytes_added")), added,
                  sizeof(added));
        printf("copied snapshot %s to \"%s\": %lld parts, %s read, %s added\n",
               json_string_value(json_object_get(s, "id")), to,
               (long long)json_integer_value(json_object_get(s, "parts")), read, added);
    }
    json_array_foreach (res->skipped, i, s)
        printf("skipped snapshot %.12s: %s\n", json_string_value(json_object_get(s, "id")),
               json_string_value(json_object_get(s, "why")));
    printf("%zu snapshot%s copied, %llu of %llu chunks new to \"%s\", in %.1fs\n",
           json_array_size(res->copied), json_array_size(res->copied) == 1 ? "" : "s",
           (unsigned long long)res->chunks_new, (unsigned long long)res->chunks, to, res->seconds);
}

bool cmd_copy(CmdContext *ctx, int argc, char **argv, Error *err)
{
    static const struct option longopts[] = {
        {"from", required_argument, NULL, COPY_OPT_FROM},
        {"to", required_argument, NULL, COPY_OPT_TO},
        {"snapshot", required_argument, NULL, COPY_OPT_SNAPSHOT},
        {"tenant", required_argument, NULL, COPY_OPT_TENANT},
        CMD_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    CopyArgs a = {NULL, NULL, "latest", NULL, 0};
    ProgressPrinter printer = {0};
    CopyPlan plan;
    CopyResult res = {0};
    Repo *from = NULL, *to = NULL;
    RepoLock *lf = NULL, *lt = NULL;
    char to_loc[1024] = "";
    bool exit_now, ok = false;
    int first;

    first = cmd_parse(ctx, "copy", argc, argv, "", longopts, copy_option, &a, &exit_now, err);
    if (first < 0)
        goto out;
    if (first < argc)
    {
        error_set(err, ERR_USAGE, "copy: unexpected argument \"%s\"", argv[first]);
        goto out;
    }
    if (a.from == NULL || a.to == NULL)
    {
        error_set(err, ERR_USAGE, "copy: name the source and the destination");
        error_hint(err, "coffer copy --from NAME --to NAME (repositories of the configuration, "
                        "or directories)");
        goto out;
    }
    from = cmd_repo_open_named(ctx, a.from, 0, err);
    to = from != NULL ? cmd_repo_open_named(ctx, a.to, 0, err) : NULL;
    lf = to != NULL ? repo_lock(from, REPO_LOCK_SHARED, "copy", err) : NULL;
    lt = lf != NULL ? repo_lock(to, REPO_LOCK_SHARED, "copy", err) : NULL;
    if (lt == NULL)
        goto out;
    snprintf(to_loc, sizeof(to_loc), "%s", repo_location(to));
    memset(&plan, 0, sizeof(plan));
    plan.snapshot = a.snapshot;
    plan.tenants = a.tenants;
    plan.n_tenants = a.n_tenants;
    plan.progress = progress_print;
    plan.progress_arg = &printer;
    ok = copy_run(&plan, from, to, &res, err);
    if (res.copied != NULL && (ok || json_array_size(res.copied) > 0))
        copy_print(&res, to_loc, ctx->json);
out:
    repo_unlock(lt);
    repo_unlock(lf);
    if (to != NULL)
        repo_close(to);
    if (from != NULL)
        repo_close(from);
    copy_result_free(&res);
    free(a.tenants);
    return ok;
}
