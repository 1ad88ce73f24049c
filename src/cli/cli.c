/*
 * cli.c - the command table, help and dispatch.
 *
 * Global options may come before the command name; every command also takes
 * them after it (parsed by cmd_parse in the command layer). Errors are
 * printed once here and mapped to exit codes.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/clock.h"
#include "common/log.h"

#define COFFER_VERSION "0.1.0"

static const CliCommand cli_commands[] = {
    {"tenants", "list the tenants the configuration discovers",
     "usage: coffer tenants [--json]\n"
     "\n"
     "Connects to the configured PostgreSQL, discovers tenants by the\n"
     "tenancy model (schema, database or row) and lists each one with its\n"
     "class, database, schema, number of tables and size in bytes. Shared\n"
     "schemas or databases are listed apart, marked shared.\n"
     "\n"
     "options:\n"
     "  --json          print one JSON array of objects with the keys name,\n"
     "                  class, model, database, schema, tables, bytes, shared\n"
     "\n"
     "exit codes: 0 ok, 1 failure, 2 configuration error,\n"
     "            3 some tenants could not be inspected (warnings printed)\n",
     cmd_tenants},
    {"backup", "back up every tenant from one consistent snapshot",
     "usage: coffer backup [--tenant NAME]... [--class CLASS] [--tag TAG]... [--pin DURATION]\n"
     "                     [-j N] [--repo NAME|PATH|all] [--json]\n"
     "\n"
     "Backs up the discovered tenants (or the ones named), every shared schema or\n"
     "database, and the globals (roles without passwords, tablespaces). All data\n"
     "of one database comes from one exported snapshot shared by the workers; the\n"
     "DDL is one pg_dump --schema-only per database; table data streams with COPY\n"
     "straight into the deduplicated, compressed, encrypted repository. The\n"
     "snapshot is written last: a backup that did not finish does not exist.\n"
     "\n"
     "options:\n"
     "  --tenant NAME   back up this tenant (repeat for more); default: all\n"
     "  --class CLASS   only tenants of this class\n"
     "  --tag TAG       label the snapshot (repeatable), e.g. --tag pre-deploy\n"
     "  --pin 14d       keep it 14 days whatever retention says (or --pin DATE)\n"
     "  -j, --jobs N    parallel workers (default 2)\n"
     "  --repo all      back up into the configuration's first repository, then\n"
     "                  copy the snapshot to each other one (coffer help copy)\n"
     "  --json          print a summary: id, tenants, tables, rows, bytes_read,\n"
     "                  bytes_added, seconds, failed\n"
     "\n"
     "The passphrase comes from $COFFER_PASSPHRASE, repository.passphrase_file,\n"
     "or a prompt on a terminal.\n"
     "\n"
     "exit codes: 0 ok, 1 failure (no snapshot written), 2 usage or configuration,\n"
     "            3 some tenants failed (the others are in the snapshot)\n",
     cmd_backup},
    {"list", "list the snapshots in the repository",
     "usage: coffer list [--tenant NAME] [--json]\n"
     "\n"
     "Lists snapshots, oldest first, with time, tags, tenants, tables, the bytes\n"
     "read and the bytes they added to the repository.\n"
     "\n"
     "options:\n"
     "  --tenant NAME   only snapshots holding this tenant, with its own figures\n"
     "  --json          print a JSON array\n",
     cmd_list},
    {"info", "show what one snapshot holds",
     "usage: coffer info SNAPSHOT [--tenant NAME] [--json]\n"
     "\n"
     "Shows a snapshot's time, server, tenants with tables, rows and sizes, and\n"
     "any tenant that failed. SNAPSHOT is an id, a unique prefix, or \"latest\".\n"
     "\n"
     "options:\n"
     "  --tenant NAME   that tenant's tables with their row counts\n"
     "  --json          print the manifest (without chunk lists)\n",
     cmd_info},
    {"forget", "remove snapshots (their data stays until prune)",
     "usage: coffer forget SNAPSHOT... [--repo NAME|PATH] [--json]\n"
     "\n"
     "Removes the named snapshots (ids, unique prefixes or \"latest\"). Their\n"
     "data is freed by the next \"coffer prune\".\n"
     "\n"
     "options:\n"
     "  --repo NAME|PATH  a repository of the configuration, or a directory\n"
     "  --json          print {\"forgotten\": [ids]}, also the ones forgotten\n"
     "                  before an error\n",
     cmd_forget},
    {"prune", "free the space that no snapshot uses",
     "usage: coffer prune [--repo NAME|PATH] [--json]\n"
     "\n"
     "Under an exclusive lock, deletes packs no snapshot references (left by\n"
     "forgotten snapshots or interrupted backups), repacks packs that are mostly\n"
     "unused, and rewrites the index. It also removes the temp files that\n"
     "writes cut short by a crash left behind (under locks/ only once they are\n"
     "ten minutes old). Safe to interrupt: a kill at any point leaves a\n"
     "repository that \"coffer check\" calls clean.\n"
     "\n"
     "options:\n"
     "  --json          print packs_deleted, packs_repacked, bytes_freed,\n"
     "                  index_rewritten, temp_files_removed\n",
     cmd_prune},
    {"expire", "drop the snapshots each tenant class no longer keeps",
     "usage: coffer expire [--dry-run] [--tenant NAME]... [--allow-empty] [--offline]\n"
     "                     [--yes] [--json]\n"
     "\n"
     "Applies retention per tenant. Each tenant keeps the snapshots its class's\n"
     "keep: rules select (restic's forget rules, in UTC):\n"
     "  last: N        the newest N snapshots\n"
     "  hourly: N      the newest snapshot of each of the newest N hours that have one\n"
     "  daily, weekly (ISO weeks), monthly, yearly: the same per period\n"
     "  within: 30d    every snapshot up to 30 days older than the newest\n"
     "A snapshot pinned (coffer pin, backup --pin) stays until its pin ends. A\n"
     "tenant loses its part of the other snapshots; a snapshot left with no part\n"
     "is forgotten. The shared part stays wherever a tenant stays, else follows\n"
     "tenancy.shared_class. A tenant discovery no longer finds follows the class\n"
     "\"deleted\", counted from when it was last seen. A class without keep:\n"
     "keeps everything. A tenant's last snapshot is never dropped without\n"
     "--allow-empty. \"coffer prune\" then frees the space.\n"
     "\n"
     "options:\n"
     "  --dry-run       list each snapshot per tenant: keep (and which rule) or drop\n"
     "  --tenant NAME   only this tenant's parts (repeatable)\n"
     "  --allow-empty   a tenant may lose its last snapshot (archival deletion)\n"
     "  --offline       no discovery: every tenant counts as live\n"
     "  --yes           do not ask when more than half of the snapshots would go\n"
     "  --json          print the verdicts: owners[] with snapshots[] {id, time,\n"
     "                  keep, why}, and the totals\n"
     "\n"
     "exit codes: 0 ok, 1 failure, 2 usage, an undefined class, or a clock that\n"
     "            went backwards (nothing was changed)\n",
     cmd_expire},
    {"run", "back up what is due, expire and prune (what a timer calls)",
     "usage: coffer run [--dry-run] [-j N] [--json]\n"
     "\n"
     "The one command cron or a systemd timer calls every few minutes (coffer\n"
     "schedule prints the units). Each class's every: and at: (UTC) cut time into\n"
     "periods; a tenant is due when its newest snapshot is older than the start\n"
     "of the current period, or it has none. Every tenant due is backed up\n"
     "together, from one database snapshot; a tenant whose backup failed stays\n"
     "due and is tried again on the next run. Then retention is applied (coffer\n"
     "help expire) and, at most once per run.prune_every (default 1d), coffer\n"
     "prune runs. When nothing is due, it does nothing. Two runs never overlap:\n"
     "the second exits at once.\n"
     "\n"
     "options:\n"
     "  --dry-run       say what is due and why, and change nothing\n"
     "  -j, --jobs N    parallel backup workers (default 2)\n"
     "  --json          print {now, owners: [{tenant, class, due, last, next, why}],\n"
     "                  backup, expire, prune}\n"
     "\n"
     "COFFER_NOW (RFC 3339) replaces the clock, for tests and drills.\n"
     "\n"
     "exit codes: 0 ok, 1 failure, 2 configuration (an undefined class) or a\n"
     "            clock that went backwards, 3 some tenants failed (due again)\n",
     cmd_run},
    {"schedule", "print the crontab line or systemd units that call coffer run",
     "usage: coffer schedule --crontab | --systemd\n"
     "\n"
     "Prints what to install so that \"coffer run\" is called every 5 minutes,\n"
     "with this binary and configuration: a line for /etc/cron.d, or a service\n"
     "and a timer (Persistent=true: a run missed while the machine was off\n"
     "happens at boot). The classes decide what each run backs up.\n",
     cmd_schedule},
    {"pin", "keep a snapshot until a date, whatever retention says",
     "usage: coffer pin SNAPSHOT (--for DURATION | --until DATE) [--json]\n"
     "\n"
     "Pins a snapshot (an id, a unique prefix or \"latest\"): coffer expire keeps\n"
     "it, every tenant in it, until the pin ends. For a backup before a deploy:\n"
     "coffer backup --tag pre-deploy-v42 --pin 14d does both at once.\n"
     "\n"
     "options:\n"
     "  --for 14d       from now (s, m, h, d, w, y)\n"
     "  --until DATE    2027-01-31 or 2027-01-31T12:00:00Z\n",
     cmd_pin},
    {"unpin", "let a pinned snapshot follow retention again",
     "usage: coffer unpin SNAPSHOT [--json]\n",
     cmd_unpin},
    {"verify", "restore drills: restore tenants into scratch databases and check them",
     "usage: coffer verify (--tenant NAME... | --sample N | --all) [--snapshot ID|latest]\n"
     "                     [--into CONNINFO] [-j N] [--json]\n"
     "\n"
     "A backup is known to restore only once it has. Each chosen tenant is\n"
     "restored from the snapshot (default: its newest) into a scratch database\n"
     "of its own, named coffer_scratch_verify_* and marked with a comment, where\n"
     "every table's row count and content hash must match the snapshot and its\n"
     "class's smoke queries (classes.NAME.checks: [\"SELECT count(*) > 0 FROM\n"
     "users\"], run with the tenant's schema first in search_path) must return\n"
     "true. The scratch database is dropped afterwards, also on failure or\n"
     "Ctrl-C; one a killed drill left is dropped by the next restore or drill.\n"
     "Each result is recorded in the repository (coffer status shows it).\n"
     "\n"
     "options:\n"
     "  --tenant NAME   drill this tenant (repeatable)\n"
     "  --sample N      drill N tenants, the least recently verified first, so\n"
     "                  that every tenant is drilled in turn\n"
     "  --all           drill every tenant discovery finds\n"
     "  --snapshot ID   drill this snapshot instead of each tenant's newest\n"
     "  --into CONNINFO restore on another server (libpq conninfo without a\n"
     "                  password: use PGPASSFILE or ~/.pgpass)\n"
     "  --json          print [{tenant, class, snapshot, ok, seconds, tables, rows,\n"
     "                  bytes, checks, checks_failed, error}]\n"
     "\n"
     "exit codes: 0 every drill passed, 1 a drill failed (each is still tried),\n"
     "            2 usage\n",
     cmd_verify},
    {"status", "per tenant: last backup, age against its schedule, size, growth, last drill",
     "usage: coffer status [--json] [--prometheus FILE]\n"
     "\n"
     "For every tenant discovery finds, and the shared part: the newest snapshot\n"
     "holding it and its age, STALE when older than 1.5 x its class's every,\n"
     "its size and growth over the last 30 days, and its last restore drill\n"
     "(coffer verify). Then the repository: snapshots, bytes stored, bytes the\n"
     "snapshots read, and the dedup ratio between the two.\n"
     "\n"
     "options:\n"
     "  --json             print {now, snapshots, repo_bytes, logical_bytes,\n"
     "                     dedup_ratio, stale, never, verify_failed, tenants: [...]}\n"
     "  --prometheus FILE  write the node_exporter textfile format to FILE (a\n"
     "                     temporary file renamed into place): coffer_backup_*,\n"
     "                     coffer_verify_*, coffer_repo_* (the README lists them)\n"
     "\n"
     "For Nagios or Icinga, coffer check --nagios gives one plugin line.\n",
     cmd_status},
    {"restore", "bring one tenant back: in place, beside the live one, or elsewhere",
     "usage: coffer restore --tenant NAME [--snapshot ID|latest | --tag TAG]\n"
     "                      [--as NEWNAME | --into-db DBNAME] [--table NAME]...\n"
     "                      [--data-only | --schema-only] [--clean] [--yes] [-j N] [--json]\n"
     "       coffer restore --all [--into-db DBNAME] [--clean --yes] [-j N] [--json]\n"
     "       coffer restore --recover\n"
     "\n"
     "Restores a tenant from a snapshot (default: the latest) without touching\n"
     "any other tenant: pre-data DDL, then table data by parallel COPY, then\n"
     "indexes, constraints and triggers, then sequence values, materialized views\n"
     "and ANALYZE. Every table's row count and content hash are checked against\n"
     "the snapshot; any mismatch fails the restore.\n"
     "\n"
     "  in place        (no --as/--into-db) refuses while the tenant exists,\n"
     "                  unless --clean: then a safety backup is taken first (its\n"
     "                  snapshot id is printed) and, on a terminal, you confirm.\n"
     "                  The live copy is renamed aside and dropped only when the\n"
     "                  restore succeeded; on failure or an interrupt (Ctrl-C,\n"
     "                  SIGTERM, SIGHUP) it is put back before coffer exits.\n"
     "  --recover       after a restore was killed where nothing could run\n"
     "                  (SIGKILL, power loss): put the live tenant back, or\n"
     "                  finish the swap, from the repository's journal. Every\n"
     "                  restore does this first on its own.\n"
     "  --as NEWNAME    restore beside the live tenant: a new schema (schema\n"
     "                  model) or a new database (database model), self-contained\n"
     "  --into-db DB    restore into another database (created if missing),\n"
     "                  with the shared schemas it lacks\n"
     "\n"
     "options:\n"
     "  --snapshot ID   snapshot id or unique prefix; default: the newest snapshot\n"
     "                  holding the tenant (safety backups are only used by id)\n"
     "  --tag TAG       the newest snapshot with this tag holding the tenant, e.g.\n"
     "                  --tag pre-deploy-v42 to roll back a deploy\n"
     "  --table NAME    only this table's data (repeatable)\n"
     "  --data-only     load data into existing tables (with --clean: emptied first)\n"
     "  --schema-only   only the DDL\n"
     "  --clean         replace what exists\n"
     "  --yes           do not ask for confirmation\n"
     "  -j, --jobs N    parallel workers (default 2)\n"
     "  --json          print a JSON summary\n"
     "\n"
     "exit codes: 0 ok, 1 failure (the target is left as it was), 2 usage\n",
     cmd_restore},
    {"config check", "validate the configuration file",
     "usage: coffer config check [--config FILE] [--json]\n"
     "\n"
     "Reads and validates coffer.yaml: every key known, every value of the\n"
     "right type. Errors name the file, the line and the key, and exit 2.\n"
     "\"coffer help config\" explains the keys.\n"
     "\n"
     "options:\n"
     "  --json          print {\"path\", \"valid\": true, \"model\", \"shared\",\n"
     "                  \"classes\"}\n",
     cmd_config_check},
    {"init", "create a repository",
     "usage: coffer init [--repo NAME|PATH] [--encryption aes-256-gcm|none] [--json]\n"
     "\n"
     "Creates an empty repository at repository.path (or PATH): a random\n"
     "master key wrapped by a key derived from the passphrase (scrypt), and\n"
     "a config naming the format. The passphrase comes from\n"
     "$COFFER_PASSPHRASE, from repository.passphrase_file (mode 600), or is\n"
     "asked twice on the terminal. Refuses when a repository already exists.\n"
     "Prints the location and the repository id.\n"
     "\n"
     "options:\n"
     "  --repo PATH     the repository directory (overrides repository.path;\n"
     "                  no configuration file is needed then)\n"
     "  --encryption MODE\n"
     "                  aes-256-gcm (the default) or none (overrides\n"
     "                  repository.encryption; recorded in the repository)\n"
     "  --json          print {\"location\", \"id\", \"encryption\"}\n"
     "\n"
     "exit codes: 0 created, 1 failure (already exists, not writable, ...),\n"
     "            2 usage or configuration error\n",
     cmd_init},
    {"check", "verify the repository's structure (and data)",
     "usage: coffer check [--repo NAME|PATH] [--read-data[=PERCENT]] [--rebuild-index] [--json]\n"
     "\n"
     "Verifies that every snapshot can be read, that every chunk a snapshot\n"
     "references is in the index and in a pack that exists with the right\n"
     "size, and that every owner key is present. Each problem is printed\n"
     "with the object it concerns. Packs that no index names (left by an\n"
     "interrupted backup or prune) are reported as a note, not an error:\n"
     "\"coffer prune\" removes them. Takes a shared lock.\n"
     "\n"
     "options:\n"
     "  --repo NAME|PATH  a repository of the configuration, or a directory\n"
     "  --read-data[=PERCENT]\n"
     "                  also read, decrypt and re-hash every chunk of all\n"
     "                  packs, or of a random PERCENT of them (1-100)\n"
     "  --rebuild-index first index again, from their own headers, the packs\n"
     "                  that no index object names, and remove damaged index\n"
     "                  objects (the repair for a lost or damaged index; takes\n"
     "                  an exclusive lock)\n"
     "  --json          print the report as one JSON object: ok, snapshots,\n"
     "                  packs, chunks, packs_read, errors,\n"
     "                  unreferenced_packs, index_objects, duplicates,\n"
     "                  destroyed_packs\n"
     "\n"
     "exit codes: 0 clean, 1 errors found (or the check could not run),\n"
     "            2 usage or configuration error\n",
     cmd_check},
    {"repair index", "drop missing or truncated packs from the index",
     "usage: coffer repair index [--repo NAME|PATH] [--json]\n"
     "\n"
     "Under an exclusive lock, lists data/ once and writes the index again\n"
     "without the packs it names that are missing or whose size is not the\n"
     "indexed one (truncated), then removes the old index objects (a kill in\n"
     "between is harmless: run it again). Prints each pack dropped and the\n"
     "chunks lost with it; chunks another pack also holds (a later backup\n"
     "stored them again) stay readable from there. Then run \"coffer repair\n"
     "snapshots\" for the snapshots that used the lost chunks.\n"
     "\n"
     "options:\n"
     "  --repo NAME|PATH  a repository of the configuration, or a directory\n"
     "  --json          print repository, packs_dropped, chunks_lost,\n"
     "                  index_objects_replaced and packs: [{pack, problem\n"
     "                  (missing, truncated, wrong size), size, found, chunks,\n"
     "                  kept}]\n"
     "\n"
     "exit codes: 0 repaired (or nothing to repair), 1 failure,\n"
     "            2 usage or configuration error\n",
     cmd_repair_index},
    {"repair snapshots", "drop from snapshots the tenants whose data was lost",
     "usage: coffer repair snapshots [--repo NAME|PATH] [--force] [--json]\n"
     "\n"
     "Under an exclusive lock, finds the snapshots that use chunks which can\n"
     "no longer be read (not in the index, or only in missing or truncated\n"
     "packs) and writes each one again without the tenants whose part uses\n"
     "them, naming every tenant of every snapshot that was lost; the other\n"
     "tenants of the snapshot stay restorable. A snapshot whose shared part\n"
     "(shared schemas or databases, globals) lost chunks cannot be repaired\n"
     "tenant by tenant: it is left as it is, unless --force.\n"
     "\n"
     "options:\n"
     "  --repo NAME|PATH  a repository of the configuration, or a directory\n"
     "  --force         forget the snapshots whose shared part lost chunks\n"
     "  --json          print repository, snapshots, rewritten, forgotten, left\n"
     "                  and lost: [{snapshot, time, tenant (null for the shared\n"
     "                  part), shared, chunks, action (dropped, forgotten, left)}]\n"
     "\n"
     "exit codes: 0 repaired (or nothing to repair), 1 failure, 2 usage or\n"
     "            configuration error, 3 some snapshots were left as they are\n",
     cmd_repair_snapshots},
    {"copy", "copy snapshots to another repository (offsite)",
     "usage: coffer copy --from NAME|PATH --to NAME|PATH [--snapshot ID|latest|all]\n"
     "                   [--tenant NAME]... [--json]\n"
     "\n"
     "Copies snapshots from one repository into another: a local one to an S3\n"
     "bucket for the offsite copy, or one tenant to another region. Every chunk\n"
     "is read and checked in the source, then stored by the destination with its\n"
     "own keys: it sends only the chunks it lacks, and computes every id itself.\n"
     "Each repository keeps its own passphrase (repository passphrase_file).\n"
     "A snapshot keeps its id; one already in the destination is skipped, so an\n"
     "interrupted copy is simply run again and sends nothing twice.\n"
     "\n"
     "options:\n"
     "  --from NAME|PATH  the source: a repository of the configuration, or a directory\n"
     "  --to NAME|PATH    the destination\n"
     "  --snapshot ID     an id, a unique prefix, latest (default) or all\n"
     "  --tenant NAME     only this tenant's part (and the shared part); repeatable\n"
     "  --json            print {\"copied\", \"skipped\", \"bytes\", \"bytes_added\",\n"
     "                    \"chunks\", \"chunks_new\", \"seconds\"}\n"
     "\n"
     "exit codes: 0 ok, 1 failure (snapshots copied before it stand), 2 usage\n",
     cmd_copy},
    {"unlock", "show repository locks and remove stale ones",
     "usage: coffer unlock [--repo NAME|PATH] [--all] [--json]\n"
     "\n"
     "Shows every lock: its mode, command, process, host, since when and when\n"
     "its holder last refreshed it; then removes the stale ones: those whose\n"
     "process no longer exists on this host, and those not refreshed for\n"
     "repository.lock_stale seconds (30 minutes), whatever host took them.\n"
     "A holder refreshes its lock every 5 minutes while it runs. Any command\n"
     "that takes a lock also breaks stale ones by itself. --all removes the\n"
     "rest too, once you know their processes are gone.\n"
     "\n"
     "options:\n"
     "  --repo NAME|PATH  a repository of the configuration, or a directory\n"
     "  --all           remove every lock, also live ones and those of\n"
     "                  other hosts (make sure no coffer process runs)\n"
     "  --json          print {\"repository\", \"removed\", \"locks\": [{\"key\",\n"
     "                  \"mode\", \"host\", \"pid\", \"command\", \"time\",\n"
     "                  \"refreshed\", \"state\", \"why\"}]}\n"
     "\n"
     "exit codes: 0 ok, 1 failure, 2 usage or configuration error\n",
     cmd_unlock},
};

#define CLI_NCOMMANDS (sizeof(cli_commands) / sizeof(cli_commands[0]))

static const char cli_global_usage[] =
    "global options (before or after the command):\n"
    "  --config FILE   configuration file (default: $COFFER_CONFIG, then\n"
    "                  /etc/coffer/coffer.yaml)\n"
    "  --repo NAME|PATH  which repository: one named in repositories:, or a\n"
    "                  directory (default: the configuration's first)\n"
    "  --verbose       more log output      --quiet   errors only\n"
    "  --help          help for the command\n";

/* "coffer help config": the configuration file, key by key (README, Configuration). */
static const char cli_config_help[] =
    "coffer reads coffer.yaml from --config FILE, else $COFFER_CONFIG, else\n"
    "/etc/coffer/coffer.yaml. \"coffer config check\" validates it; every error\n"
    "names the file, the line and the key.\n"
    "\n"
    "postgres:\n"
    "  conninfo: \"host=/run/postgresql dbname=saas user=backup\"\n"
    "                  any libpq conninfo; PG* variables and .pgpass apply\n"
    "  bin_dir: /usr/lib/postgresql/15/bin\n"
    "                  where pg_dump and pg_restore of the server's version\n"
    "                  are (found by default)\n"
    "  lock_budget: 1600\n"
    "                  relation locks a backup holds at once (default: a\n"
    "                  quarter of max_locks_per_transaction x (max_connections\n"
    "                  + max_prepared_transactions)); less when the server's\n"
    "                  lock table is busy\n"
    "  lock_timeout: 30\n"
    "                  seconds a restore waits for a lock an application holds\n"
    "                  before it gives up and names that session (0: no limit)\n"
    "tenancy:\n"
    "  model: schema   schema | database | row\n"
    "  shared: [central]\n"
    "                  schema model: shared schemas; database model: shared\n"
    "                  databases\n"
    "  column: tenant_id\n"
    "                  row model only: the tenant column\n"
    "  discover:\n"
    "    pattern: \"tenant_%\"\n"
    "                  LIKE pattern on schema (or database) names, or\n"
    "    query: \"SELECT schema_name AS tenant, class FROM central.tenants\"\n"
    "                  run in the conninfo's database; columns tenant[, schema]\n"
    "                  [, class] (database model: tenant, database[, class];\n"
    "                  row model: tenant[, class])\n"
    "classes:          the classes tenants may have, for backup --class\n"
    "  active: {}\n"
    "  demo: {}\n"
    "repository:\n"
    "  path: /var/lib/coffer/repo\n"
    "                  the repository directory\n"
    "  passphrase_file: /etc/coffer/passphrase\n"
    "                  mode 600; or $COFFER_PASSPHRASE, or a prompt\n"
    "  encryption: none\n"
    "                  explicit opt-out of aes-256-gcm, recorded by init\n"
    "  compression: 3  zstd level 1-19\n"
    "  scratch_dir: /var/tmp/coffer\n"
    "                  where a restore keeps its private temporary files\n"
    "                  (default: $TMPDIR, else /tmp)\n"
    "  chunk_size: 1024\n"
    "                  average chunk size in KiB, a power of two (64-16384),\n"
    "                  used by init\n"
    "  lock_stale: 1800\n"
    "                  seconds after which a lock its holder stopped refreshing\n"
    "                  is stale, whatever host took it (default 30 minutes)\n"
    "  s3:             instead of path: an S3 bucket (AWS, MinIO, Ceph RGW, GCS)\n"
    "    endpoint: https://s3.eu-west-1.amazonaws.com   (default: AWS's for region)\n"
    "    bucket: acme-backups\n"
    "    prefix: prod/ the folder in the bucket (default: the bucket's root)\n"
    "    region: eu-west-1  (default us-east-1)\n"
    "    path_style: true   bucket in the path, not the host name (default:\n"
    "                  true for an IP address or localhost)\n"
    "    ca_file: /etc/coffer/ca.pem   a private CA (TLS is always verified)\n"
    "    storage_class: STANDARD_IA\n"
    "    access_key_id, secret_access_key, session_token: the keys (a file\n"
    "                  with a secret must be mode 600); default: AWS_ACCESS_KEY_ID,\n"
    "                  AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, then profile\n"
    "                  (default $AWS_PROFILE or \"default\") of the credentials\n"
    "                  file ($AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials)\n"
    "    part_size: 8   MiB per part of a multipart upload (at least 5)\n"
    "    timeout: 60    seconds a request may stall before it is tried again\n"
    "    retries: 8     tries after the first on 5xx, 429, resets, timeouts\n"
    "repositories:     instead of repository: several, each with a name\n"
    "  - name: local\n"
    "    path: /var/lib/coffer/repo\n"
    "  - name: offsite\n"
    "    s3: { bucket: acme-backups, prefix: prod/, region: eu-west-1 }\n"
    "                  --repo NAME picks one; the first is the default\n";

static void cli_print_overview(FILE *out)
{
    fprintf(out, "coffer %s - backup and recovery for multi-tenant PostgreSQL\n\n", COFFER_VERSION);
    fprintf(out, "usage: coffer [--config FILE] COMMAND [options]\n\ncommands:\n");
    for (size_t i = 0; i < CLI_NCOMMANDS; i++)
        fprintf(out, "  %-16s %s\n", cli_commands[i].name, cli_commands[i].summary);
    fprintf(out, "  %-16s %s\n", "help [COMMAND]", "show help for a command");
    fprintf(out, "  %-16s %s\n", "help config", "explain the configuration file");
    fprintf(out, "  %-16s %s\n\n", "version", "print the version");
    fputs(cli_global_usage, out);
    fputs("\nexit codes: 0 ok, 1 failure, 2 usage or configuration error, 3 partial\n", out);
}

static const CliCommand *cli_find(const char *name)
{
    for (size_t i = 0; i < CLI_NCOMMANDS; i++)
        if (strcmp(cli_commands[i].name, name) == 0)
            return &cli_commands[i];
    return NULL;
}

/* Is word the first word of two-word commands ("repair" of "repair index")? */
static bool cli_is_group(const char *word)
{
    size_t n = strlen(word);

    for (size_t i = 0; i < CLI_NCOMMANDS; i++)
        if (n > 0 && strncmp(cli_commands[i].name, word, n) == 0 && cli_commands[i].name[n] == ' ')
            return true;
    return false;
}

/* Prints the help of one command to stdout, of every command of a group
 * ("repair"), or the overview for an unknown one. */
static void cli_print_help(const char *command)
{
    const CliCommand *cmd = cli_find(command);
    size_t n = strlen(command);

    if (cmd == NULL && !cli_is_group(command))
    {
        cli_print_overview(stdout);
        return;
    }
    for (size_t i = 0; i < CLI_NCOMMANDS; i++)
    {
        const CliCommand *c = &cli_commands[i];

        if (c == cmd || (cmd == NULL && strncmp(c->name, command, n) == 0 && c->name[n] == ' '))
        {
            fputs(c->usage, stdout);
            fputs("\n", stdout);
        }
    }
    fputs(cli_global_usage, stdout);
}

/* Global options before the command: --config FILE, --repo NAME|PATH,
 * --verbose, --quiet. */
static int cli_parse_global(CmdContext *ctx, int argc, char **argv, Error *err)
{
    int i = 1;

    while (i < argc && argv[i][0] == '-')
    {
        const char *a = argv[i];

        if (strcmp(a, "--config") == 0)
        {
            if (i + 1 >= argc)
                return error_set(err, ERR_USAGE, "option \"--config\" needs a value"), -1;
            ctx->config_path = argv[i + 1];
            i += 2;
            continue;
        }
        if (strcmp(a, "--repo") == 0)
        {
            if (i + 1 >= argc)
                return error_set(err, ERR_USAGE, "option \"--repo\" needs a value"), -1;
            ctx->repo = argv[i + 1];
            i += 2;
            continue;
        }
        if (strncmp(a, "--config=", 9) == 0)
            ctx->config_path = a + 9;
        else if (strncmp(a, "--repo=", 7) == 0)
            ctx->repo = a + 7;
        else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0)
            log_set_level(LOG_DEBUG);
        else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0)
            log_set_level(LOG_ERROR);
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return argc; /* treated as "help" */
        else if (strcmp(a, "--version") == 0)
            return -2;
        else
        {
            error_set(err, ERR_USAGE, "unknown global option \"%s\"", a);
            error_hint(err, "run \"coffer help\" for the commands and options");
            return -1;
        }
        i++;
    }
    return i;
}

int cli_main(int argc, char **argv)
{
    CmdContext ctx = {0};
    Error err;
    const CliCommand *cmd = NULL;
    int first;
    int used = 1;
    bool ok;

    error_clear(&err);
    /* before any thread exists, so that every thread inherits the mask */
    if (!cleanup_signals_install(&err) || !clock_init(&err))
    {
        error_print(&err);
        return err.code;
    }
    first = cli_parse_global(&ctx, argc, argv, &err);
    if (first == -2 || (first > 0 && first < argc && strcmp(argv[first], "version") == 0))
    {
        printf("coffer %s\n", COFFER_VERSION);
        return 0;
    }
    if (first < 0)
    {
        error_print(&err);
        return err.code;
    }
    if (first >= argc)
    {
        cli_print_overview(first == argc && argc > 1 ? stdout : stderr);
        return argc > 1 ? 0 : ERR_USAGE;
    }
    if (strcmp(argv[first], "help") == 0)
    {
        char name[128] = "";

        if (first + 1 < argc)
            snprintf(name, sizeof(name), "%s", argv[first + 1]);
        if (first + 2 < argc && cli_find(name) == NULL)
            snprintf(name, sizeof(name), "%s %s", argv[first + 1], argv[first + 2]);
        /* "config" alone is the help topic for the file, not the command group */
        if (strcmp(name, "config") == 0)
        {
            fputs(cli_config_help, stdout);
            return 0;
        }
        if (name[0] != '\0' && cli_find(name) == NULL && !cli_is_group(name))
        {
            fprintf(stderr, "coffer: error: unknown command \"%s\"\n", name);
            fprintf(stderr, "HINT: run \"coffer help\" for the list of commands\n");
            return ERR_USAGE;
        }
        cli_print_help(name);
        return 0;
    }
    /* two-word commands ("config check") first, then one-word ones */
    if (first + 1 < argc)
    {
        char two[128];

        snprintf(two, sizeof(two), "%s %s", argv[first], argv[first + 1]);
        cmd = cli_find(two);
        if (cmd != NULL)
            used = 2;
    }
    if (cmd == NULL)
        cmd = cli_find(argv[first]);
    if (cmd == NULL && cli_is_group(argv[first]))
    {
        fprintf(stderr, "coffer: error: \"%s\" needs a subcommand\n", argv[first]);
        fprintf(stderr, "HINT: run \"coffer help %s\" for its subcommands\n", argv[first]);
        return ERR_USAGE;
    }
    if (cmd == NULL)
    {
        fprintf(stderr, "coffer: error: unknown command \"%s\"\n", argv[first]);
        fprintf(stderr, "HINT: run \"coffer help\" for the list of commands\n");
        return ERR_USAGE;
    }
    /* the command sees argv[0] = its name, then its own arguments */
    ok = cmd->run(&ctx, argc - first - used + 1, argv + first + used - 1, &err);
    if (ctx.help != NULL)
        cli_print_help(ctx.help);
    if (error_is_set(&err))
    {
        if (err.code != ERR_PARTIAL)
            error_print(&err);
        else if (err.message[0] != '\0')
            fprintf(stderr, "coffer: warning: %s\n", err.message);
        /* then whatever the failed command left registered is put back, as
         * pg_fatal runs its exit callbacks; the config is still loaded */
        cleanup_run_all();
    }
    else if (cleanup_interrupted())
        cleanup_run_all(); /* waits: the signal's cleanups end the process */
    cmd_context_free(&ctx);
    if (!ok && !error_is_set(&err))
        return 0; /* --help was printed */
    return error_is_set(&err) ? (int)err.code : ctx.exit_status;
}
