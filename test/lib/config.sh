# test/lib/config.sh - the coffer.yaml most integration tests use: the
# schema model over the schema_model fixture, shared schemas central,
# parametros and public, tenants by the pattern "tenant_%".
# schema_model_config FILE DB REPO: writes it (source after pg.sh).
schema_model_config() {
    cat >"$1" <<YAML
postgres:
  conninfo: "host=$PGHOST port=$PGPORT dbname=$2 user=postgres"
tenancy:
  model: schema
  shared: [central, parametros, public]
  discover:
    pattern: "tenant_%"
repository:
  path: $3
YAML
}
