/*
 * backup.h - the backup engine, shared by "coffer backup" and by restores
 * that take a safety backup of what they are about to replace.
 */
#ifndef COFFER_COMMAND_BACKUP_H
#define COFFER_COMMAND_BACKUP_H

#include <jansson.h>

#include "cli/cli.h"
#include "repo/repo.h"

typedef struct BackupArgs
{
    char **tenants; /* names; none = every tenant */
    size_t n_tenants;
    char *class;  /* only tenants of this class, or NULL */
    json_t *tags; /* array of strings */
    int jobs;     /* workers */
} BackupArgs;

/* Backs up the selected tenants, every shared part and the globals into
 * repo (the caller holds a shared lock). On success writes the snapshot id
 * to id_out and, when doc_out is not NULL, hands over the manifest. Returns
 * false with ERR_PARTIAL when some tenants failed but a snapshot was
 * written, and with ERR_FAILURE when nothing was written. */
bool backup_execute(CliContext *ctx, Repo *repo, BackupArgs *args, char id_out[65],
                    json_t **doc_out, Error *err);

#endif
