#!/usr/bin/env bash
# Installs the Debian packages Coffer needs to build, test and demo, and only
# those that are missing, so it is cheap to run every time. BENCH=1 adds the
# tools the benchmark compares against.
set -euo pipefail

pkgs=(gcc make pkg-config perl libpq-dev libzstd-dev libssl-dev libjansson-dev
      libyaml-dev libcurl4-openssl-dev postgresql-15 postgresql-client-15 zstd procps)
# The S3 server of the integration tests (test/lib/s3.sh): OpenStack Swift
# with s3api, run from its Python modules. python3-swift holds all of them;
# the swift-proxy/-account/-container/-object packages only add init scripts,
# cron jobs and /etc/swift configs the tests do not use.
pkgs+=(python3-swift curl)
# test tools: jq reads --json output; faketime sets a clock wrong on purpose
# (the S3 clock-skew test)
pkgs+=(jq faketime)
if [ "${BENCH:-0}" = 1 ]; then
    pkgs+=(pgbackrest hyperfine time)
fi

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "coffer: error: missing packages: ${missing[*]}" >&2
    echo "HINT: run \"sudo apt-get install ${missing[*]}\" or run this as root" >&2
    exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}" >/dev/null
