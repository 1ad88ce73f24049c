/*
 * tenants.c - "coffer tenants": list what the configuration discovers.
 */
#include "command/command.h"

bool cmd_tenants(CliContext *ctx, int argc, char **argv, Error *err)
{
    (void)ctx;
    (void)argc;
    (void)argv;
    return error_set(err, ERR_FAILURE, "not yet available");
}
