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

# noise_tenant DB ROWS: schema tenant_noise with a table of ROWS rows that
# barely compress (256 hex characters each), for tests that need packs
# larger than one S3 part or a disk that fills up.
noise_tenant() {
    pg_psql -d "$1" -v n="$2" <<'SQL'
CREATE SCHEMA tenant_noise;
CREATE TABLE tenant_noise.blobs (id integer PRIMARY KEY, payload text NOT NULL);
INSERT INTO tenant_noise.blobs
SELECT g, encode(sha512(g::text::bytea), 'hex') || encode(sha512((g * 7)::text::bytea), 'hex')
FROM generate_series(1, :n) g;
SQL
}
