#!/usr/bin/env bash
# coffer tenants [--json] on a real server, for the three tenancy models:
# schema (pattern and registry query), database (registry query with a ghost
# row, and pattern) and row (registry query). The fixtures hold hostile
# tenant names (quotes, semicolons, "..", spaces, mixed case, Unicode) and an
# empty tenant; every name must come back byte-exact and the database must
# be untouched by them.

. "$(dirname "$0")/../lib/pg.sh"

pg_start || t_bail "cannot start PostgreSQL"
load_fixture schema_model || t_bail "cannot load schema_model"
load_fixture database_model || t_bail "cannot load database_model"
load_fixture row_model || t_bail "cannot load row_model"

hostile='tenant_x"; DROP SCHEMA central; --'

# config FILE DBNAME BODY: a coffer.yaml connecting to DBNAME on the test
# server, followed by BODY (the tenancy and classes sections).
config() {
    {
        printf 'postgres:\n'
        printf '  conninfo: "host=%s port=%s dbname=%s user=postgres"\n' "$PGHOST" "$PGPORT" "$2"
        printf '%s\n' "$3"
    } >"$1"
}

# jrows: read `coffer tenants --json` output on stdin; check it is one JSON
# array of objects with exactly the documented keys and types, and print one
# line per object, sorted by bytes (C locale):
#   name|class|model|database|schema|tables|bytes|shared
# schema null prints as (null); bytes print as ">0" when positive, else as
# they are. Anything malformed prints a line starting with "BAD".
jrows() {
    perl -MJSON::PP -MB -e '
        use strict;
        binmode STDOUT, ":encoding(UTF-8)";
        local $/;
        my $in = <STDIN>;
        my $arr = eval { JSON::PP->new->utf8->decode($in) };
        if (!defined $arr) { print "BAD invalid JSON: $@"; exit 1 }
        if (ref $arr ne "ARRAY") { print "BAD not an array\n"; exit 1 }
        # a number, not a string holding digits
        sub is_int {
            my $f = B::svref_2object(\$_[0])->FLAGS;
            return defined $_[0] && !ref $_[0] && ($f & B::SVp_IOK) && !($f & B::SVp_POK);
        }
        my $want = join ",", sort qw(name class model database schema tables bytes shared);
        for my $o (@$arr) {
            if (ref $o ne "HASH") { print "BAD element is not an object\n"; next }
            my $keys = join ",", sort keys %$o;
            if ($keys ne $want) { print "BAD keys $keys\n"; next }
            for my $k (qw(name class model database)) {
                print "BAD $k is not a string\n" if !defined $o->{$k} || ref $o->{$k} || is_int($o->{$k});
            }
            print "BAD schema is neither string nor null\n" if ref $o->{schema};
            for my $k (qw(tables bytes)) {
                print "BAD $k is not an integer\n" unless is_int($o->{$k});
            }
            print "BAD shared is not a boolean\n" unless JSON::PP::is_bool($o->{shared});
            my $schema = defined $o->{schema} ? $o->{schema} : "(null)";
            my $bytes = is_int($o->{bytes}) && $o->{bytes} > 0 ? ">0" : $o->{bytes};
            print join("|", $o->{name}, $o->{class}, $o->{model}, $o->{database}, $schema,
                       $o->{tables}, $bytes, $o->{shared} ? "true" : "false"), "\n";
        }
    ' | LC_ALL=C sort
}

# jfield NAME FIELD: the raw value of FIELD for the object named NAME in the
# JSON on stdin.
jfield() {
    perl -MJSON::PP -e '
        binmode STDOUT, ":encoding(UTF-8)";
        local $/;
        my $arr = JSON::PP->new->utf8->decode(<STDIN>);
        my $name = $ARGV[0];
        utf8::decode($name);
        for my $o (@$arr) { print $o->{$ARGV[1]} if $o->{name} eq $name }
    ' "$1" "$2"
}

# sorted TEXT: the lines of TEXT in C-locale order (as jrows prints them).
sorted() {
    printf '%s\n' "$1" | LC_ALL=C sort
}

# t_row TEXT NAME DESC: some line of TEXT (the human table) starts with NAME
# followed by the column gap; NAME is matched literally.
t_row() {
    local line
    while IFS= read -r line; do
        if [[ $line == "$2  "* ]]; then
            _t_result 0 "$3"
            return 0
        fi
    done <<<"$1"
    _t_result 1 "$3"
    _t_diag_value "     got" "$1"
    _t_diag_value "    want" "a line starting with '$2'"
    return 1
}

# last_line TEXT
last_line() {
    printf '%s\n' "${1##*$'\n'}"
}

# ---------------------------------------------------------------- schema, pattern

cfg="$T_TMP/schema_pattern.yaml"
config "$cfg" saas_schema 'tenancy:
  model: schema
  shared: [central, parametros, public]
  discover:
    pattern: "tenant_%"'

t_ok "schema model, pattern: tenants --json" "$COFFER" --config "$cfg" tenants --json
t_is "$T_ERR" "" "  ... with nothing on stderr"
json=$T_OUT
t_is "$(jrows <<<"$json")" "$(sorted "tenant_acme|default|schema|saas_schema|tenant_acme|3|>0|false
tenant_globex|default|schema|saas_schema|tenant_globex|3|>0|false
tenant_demo1|default|schema|saas_schema|tenant_demo1|3|>0|false
tenant_empty|default|schema|saas_schema|tenant_empty|0|0|false
$hostile|default|schema|saas_schema|$hostile|3|>0|false
tenant_../../etc|default|schema|saas_schema|tenant_../../etc|3|>0|false
tenant_Mixed Case|default|schema|saas_schema|tenant_Mixed Case|3|>0|false
tenant_ünïcødé_東京|default|schema|saas_schema|tenant_ünïcødé_東京|3|>0|false
central|shared|schema|saas_schema|central|2|>0|true
parametros|shared|schema|saas_schema|parametros|1|>0|true
public|shared|schema|saas_schema|public|0|0|true")" \
    "  ... eight tenants (default class, 3 tables each, empty one 0) and three shared schemas"
t_is "$(jfield "$hostile" name <<<"$json")" "$hostile" "  ... the quote-and-semicolon name comes back byte-exact"
t_is "$(jfield 'tenant_ünïcødé_東京' schema <<<"$json" | od -An -tx1 | tr -d ' \n')" \
    "$(printf '%s' 'tenant_ünïcødé_東京' | od -An -tx1 | tr -d ' \n')" \
    "  ... the Unicode schema name is the same bytes"

t_ok "schema model, pattern: tenants (table)" "$COFFER" --config "$cfg" tenants
table=$T_OUT
for n in tenant_acme tenant_empty "$hostile" "tenant_../../etc" "tenant_Mixed Case" \
    "tenant_ünïcødé_東京" central parametros public; do
    t_row "$table" "$n" "  ... lists $n"
done
t_like "$table" $'\nshared:\n' "  ... shared schemas listed apart"
t_is "$(last_line "$table")" "8 tenants, 3 shared" "  ... ends with the counts"

# ---------------------------------------------------------------- schema, query

cfg="$T_TMP/schema_query.yaml"
config "$cfg" saas_schema 'tenancy:
  model: schema
  shared: [central, parametros]
  discover:
    query: "SELECT schema_name AS tenant, class FROM central.tenants"
classes:
  active: {}
  demo: {}'

t_ok "schema model, registry query: tenants --json" "$COFFER" --config "$cfg" tenants --json
t_is "$T_ERR" "" "  ... with nothing on stderr"
json=$T_OUT
t_is "$(jrows <<<"$json")" "$(sorted "tenant_acme|active|schema|saas_schema|tenant_acme|3|>0|false
tenant_globex|active|schema|saas_schema|tenant_globex|3|>0|false
tenant_demo1|demo|schema|saas_schema|tenant_demo1|3|>0|false
tenant_empty|active|schema|saas_schema|tenant_empty|0|0|false
$hostile|active|schema|saas_schema|$hostile|3|>0|false
tenant_../../etc|active|schema|saas_schema|tenant_../../etc|3|>0|false
tenant_Mixed Case|demo|schema|saas_schema|tenant_Mixed Case|3|>0|false
tenant_ünïcødé_東京|active|schema|saas_schema|tenant_ünïcødé_東京|3|>0|false
central|shared|schema|saas_schema|central|2|>0|true
parametros|shared|schema|saas_schema|parametros|1|>0|true")" \
    "  ... classes from central.tenants, the inactive tenant included"

t_ok "schema model, registry query: tenants (table)" "$COFFER" --config "$cfg" tenants
t_row "$T_OUT" "$hostile" "  ... lists the hostile tenant"
t_is "$(last_line "$T_OUT")" "8 tenants, 2 shared" "  ... ends with the counts"

# A class the configuration does not know is a warning, not a failure.
cfg="$T_TMP/schema_class.yaml"
config "$cfg" saas_schema 'tenancy:
  model: schema
  discover:
    query: "SELECT schema_name AS tenant, class FROM central.tenants"
classes:
  active: {}'
t_exit 3 "schema model, unknown class: exit 3" "$COFFER" --config "$cfg" tenants --json
t_like "$T_ERR" 'warning: tenant "tenant_demo1" has class "demo", which is not in classes:' \
    "  ... warning names the tenant and the class"
t_is "$(jrows <<<"$T_OUT" | wc -l)" 8 "  ... and all eight tenants are still listed"

t_is "$(pg_psql -d saas_schema -c "SELECT count(*) FROM pg_namespace WHERE nspname IN ('central', 'parametros')")" 2 \
    "schema model: central and parametros still exist after listing"
t_is "$(pg_psql -d saas_schema -c 'SELECT count(*) FROM central.tenants')/$(pg_psql -d saas_schema -c 'SELECT count(*) FROM central.plans')" \
    "8/3" "  ... with their rows"
t_is "$(pg_psql -d saas_schema -v n="$hostile" <<<"SELECT count(*) FROM :\"n\".customers")" 3 \
    "  ... and the hostile schema is intact"

# ---------------------------------------------------------------- database, query

cfg="$T_TMP/database_query.yaml"
config "$cfg" saas_master 'tenancy:
  model: database
  shared: [saas_master]
  discover:
    query: "SELECT tenant, dbname AS database, class FROM clientes_saas"
classes:
  active: {}
  demo: {}'

t_exit 3 "database model, registry with a ghost row: exit 3" "$COFFER" --config "$cfg" tenants --json
t_like "$T_ERR" '(^|'$'\n'')coffer: warning: tenant "ghost": database "tenant_ghost" does not exist' \
    "  ... a warning names the ghost tenant and its database"
t_unlike "$T_ERR" 'error:' "  ... and no error"
json=$T_OUT
t_is "$(jrows <<<"$json")" "$(sorted 'alpha|active|database|tenant_alpha|(null)|2|>0|false
beta|active|database|tenant_beta|(null)|2|>0|false
empty|demo|database|tenant_empty|(null)|0|0|false
Ünï "q"|active|database|tenant_Ünï "q"|(null)|2|>0|false
saas_master|shared|database|saas_master|(null)|1|>0|true')" \
    "  ... every other tenant listed, the master database shared"
t_is "$(jfield 'Ünï "q"' database <<<"$json")" 'tenant_Ünï "q"' "  ... the hostile database name comes back byte-exact"

t_exit 3 "database model, registry with a ghost row: tenants (table), exit 3" \
    "$COFFER" --config "$cfg" tenants
t_row "$T_OUT" 'Ünï "q"' "  ... lists the hostile tenant"
t_row "$T_OUT" empty "  ... lists the empty tenant"
t_is "$(last_line "$T_OUT")" "4 tenants, 1 shared" "  ... ends with the counts"
t_like "$T_ERR" 'tenant "ghost": database "tenant_ghost"' "  ... and warns about the ghost"

# ---------------------------------------------------------------- database, pattern

# A database whose name looks like a connection string must be connected to
# by name, never parsed as conninfo.
pg_psql -c 'CREATE DATABASE "tenant_dsn dbname=saas_master"' ||
    t_bail "cannot create the conninfo-like database"

cfg="$T_TMP/database_pattern.yaml"
config "$cfg" postgres 'tenancy:
  model: database
  shared: [saas_master]
  discover:
    pattern: "tenant%"'

t_ok "database model, pattern: tenants --json" "$COFFER" --config "$cfg" tenants --json
t_is "$T_ERR" "" "  ... with nothing on stderr"
t_is "$(jrows <<<"$T_OUT")" "$(sorted 'tenant_alpha|default|database|tenant_alpha|(null)|2|>0|false
tenant_beta|default|database|tenant_beta|(null)|2|>0|false
tenant_empty|default|database|tenant_empty|(null)|0|0|false
tenant_Ünï "q"|default|database|tenant_Ünï "q"|(null)|2|>0|false
tenant_dsn dbname=saas_master|default|database|tenant_dsn dbname=saas_master|(null)|0|0|false
saas_master|shared|database|saas_master|(null)|1|>0|true')" \
    "  ... the four fixture databases, the conninfo-like one measured as itself, no ghost"
t_ok "database model, pattern: tenants (table)" "$COFFER" --config "$cfg" tenants
t_is "$(last_line "$T_OUT")" "5 tenants, 1 shared" "  ... ends with the counts"

t_is "$(pg_psql -c "SELECT count(*) FROM pg_database WHERE datname IN ('saas_master', 'tenant_ghost')")" 1 \
    "database model: saas_master still exists and no tenant_ghost was created"
t_is "$(pg_psql -d 'tenant_Ünï "q"' -c 'SELECT count(*) FROM orders')/$(pg_psql -d saas_master -c 'SELECT count(*) FROM clientes_saas')" \
    "4/5" "  ... the hostile database and the registry are intact"

# ---------------------------------------------------------------- row, query

cfg="$T_TMP/row_query.yaml"
config "$cfg" shared_rows 'tenancy:
  model: row
  discover:
    query: "SELECT tenant_id AS tenant, class FROM tenants"
classes:
  active: {}
  demo: {}'

t_ok "row model, registry query: tenants --json" "$COFFER" --config "$cfg" tenants --json
t_is "$T_ERR" "" "  ... with nothing on stderr"
json=$T_OUT
# Every tenant spans the same three tables with a tenant_id column (tenants,
# accounts, invoices); currencies has none and is the shared part. The empty
# tenant has no accounts or invoices, only its registry row.
t_is "$(jrows <<<"$json")" "$(sorted "acme|active|row|shared_rows|(null)|3|>0|false
globex|active|row|shared_rows|(null)|3|>0|false
demo1|demo|row|shared_rows|(null)|3|>0|false
o'brien; --|active|row|shared_rows|(null)|3|>0|false
empty|active|row|shared_rows|(null)|3|>0|false
shared|shared|row|shared_rows|(null)|1|>0|true")" \
    "  ... five tenants with their classes, and the shared tables"
t_is "$(jfield "o'brien; --" name <<<"$json")" "o'brien; --" "  ... the hostile name comes back byte-exact"
empty_bytes=$(jfield empty bytes <<<"$json")
smaller=1
for n in acme globex demo1 "o'brien; --"; do
    [ "$empty_bytes" -lt "$(jfield "$n" bytes <<<"$json")" ] || smaller=0
done
t_is "$smaller" 1 "  ... the empty tenant is the smallest ($empty_bytes bytes, its registry row)"

t_ok "row model, registry query: tenants (table)" "$COFFER" --config "$cfg" tenants
t_row "$T_OUT" "o'brien; --" "  ... lists the hostile tenant"
t_is "$(last_line "$T_OUT")" "5 tenants, 1 shared" "  ... ends with the counts"
t_is "$(pg_psql -d shared_rows -c "SELECT count(*) FROM tenants")/$(pg_psql -d shared_rows -c "SELECT count(*) FROM invoices WHERE tenant_id = 'o''brien; --'")" \
    "5/3" "row model: registry and the hostile tenant's rows intact"

# ---------------------------------------------------------------- no SQL errors

# Had any name been pasted into SQL, the server would have logged a syntax
# error (or a failed connection for the conninfo-like database).
t_is "$(grep -E 'ERROR:|FATAL:' "$PG_LOG")" "" "the server logged no error while listing"

t_done
