/*
 * test_restore.c - unit tests for the restore engine's pure parts: the
 * put-back decision of the swap protocol (what an interrupt or a failure
 * does, judged from the catalog alone) and the checks of a plan's options
 * in each model. Also the worker pool the engines run on.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pool.h"
#include "config/config.h"
#include "restore/restore_intern.h"
#include "tap.h"

static void check_decide(bool aside, bool live, bool created, bool drop, bool back,
                         const char *name)
{
    SwapActions a = restore_swap_decide(aside, live, created);

    ok(a.drop_live == drop && a.rename_back == back, name);
}

static void test_swap(void)
{
    /* before the rename aside: the live tenant holds the name, untouched */
    check_decide(false, true, false, false, false, "before the swap: the live name is left alone");
    /* renamed aside, nothing created yet */
    check_decide(true, false, false, false, true, "aside only: renamed back");
    /* renamed aside, the new copy (partial) under the name */
    check_decide(true, true, true, true, true, "aside and a partial copy: drop it, rename back");
    /* the flag may lag behind the catalog (created but not yet marked) */
    check_decide(true, true, false, true, true, "aside and anything under the name: it goes");
    /* a new tenant (nothing replaced) partially restored */
    check_decide(false, true, true, true, false, "a new tenant's partial copy is dropped");
    /* a new tenant whose creation never committed */
    check_decide(false, false, true, false, false, "nothing there: nothing to do");
    check_decide(false, false, false, false, false, "nothing at all: nothing to do");
}

static Config *test_config(TenancyModel model)
{
    Config *cfg = calloc(1, sizeof(Config));

    cfg->model = model;
    cfg->path = "coffer.yaml";
    return cfg;
}

static void check_plan(TenancyModel model, RestorePlan p, const char *want, const char *name)
{
    Error err;
    Config *cfg = test_config(model);
    bool good;

    p.cfg = cfg;
    error_clear(&err);
    good = restore_plan_check(&p, &err);
    if (want == NULL)
        ok(good, name);
    else
    {
        ok(!good && err.code == ERR_USAGE, name);
        like(err.message, want, "  ... with the message");
    }
    free(cfg);
}

static void test_plan(void)
{
    const char *one[] = {"acme"};
    const char *two[] = {"acme", "globex"};
    const char *tables[] = {"orders"};
    RestorePlan p;

    memset(&p, 0, sizeof(p));
    check_plan(TENANCY_SCHEMA, p, "name a tenant with --tenant NAME, or use --all",
               "no tenant and no --all");
    p.tenants = one;
    p.n_tenants = 1;
    check_plan(TENANCY_SCHEMA, p, NULL, "one tenant");
    p.all = true;
    check_plan(TENANCY_SCHEMA, p, "--tenant and --all exclude each other", "--tenant with --all");
    p.all = false;
    p.tenants = two;
    p.n_tenants = 2;
    p.as = "copy";
    check_plan(TENANCY_SCHEMA, p, "--as renames one tenant", "--as with two tenants");
    p.tenants = one;
    p.n_tenants = 1;
    check_plan(TENANCY_SCHEMA, p, NULL, "--as with one tenant");
    p.into_db = "other";
    check_plan(TENANCY_SCHEMA, p, NULL, "--as and --into-db in the schema model");
    check_plan(TENANCY_DATABASE, p, "both name the new database",
               "--as and --into-db in the database model");
    p.into_db = NULL;
    p.as = "";
    check_plan(TENANCY_SCHEMA, p, "--as needs a name of 1 to 63 bytes", "an empty --as");
    p.as = "0123456789012345678901234567890123456789012345678901234567890123";
    check_plan(TENANCY_SCHEMA, p, "--as needs a name of 1 to 63 bytes", "a 64-byte --as");
    p.as = NULL;
    p.data_only = p.schema_only = true;
    check_plan(TENANCY_SCHEMA, p, "--data-only and --schema-only exclude each other",
               "--data-only with --schema-only");
    p.data_only = false;
    p.tables = tables;
    p.n_tables = 1;
    check_plan(TENANCY_SCHEMA, p, "--table selects data", "--table with --schema-only");
    p.schema_only = false;
    check_plan(TENANCY_ROW, p, "restore does not support the row model yet", "the row model");
}

typedef struct PoolTest
{
    pthread_mutex_t mu;
    int ran[4];
    int ticks;
} PoolTest;

static void pool_work(void *arg, int id)
{
    PoolTest *t = arg;
    struct timespec pause = {0, 30 * 1000 * 1000};

    nanosleep(&pause, NULL);
    pthread_mutex_lock(&t->mu);
    t->ran[id]++;
    pthread_mutex_unlock(&t->mu);
}

static void pool_tick(void *arg)
{
    ((PoolTest *)arg)->ticks++;
}

static void test_pool(void)
{
    PoolTest t;

    memset(&t, 0, sizeof(t));
    pthread_mutex_init(&t.mu, NULL);
    pool_wait(pool_start(4, pool_work, &t), 5, pool_tick, &t);
    ok(t.ran[0] == 1 && t.ran[1] == 1 && t.ran[2] == 1 && t.ran[3] == 1,
       "pool: every worker ran once, with its own id");
    ok(t.ticks > 0, "pool: the waiter ticked while they worked");
    memset(t.ran, 0, sizeof(t.ran));
    pool_wait(pool_start(1, pool_work, &t), 0, NULL, NULL);
    ok(t.ran[0] == 1, "pool: one worker, no tick");
    pthread_mutex_destroy(&t.mu);
}

int main(void)
{
    test_swap();
    test_plan();
    test_pool();
    return tap_done();
}
