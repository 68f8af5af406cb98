#!/usr/bin/env bash
# openid-client 6 (a stock OAuth library, used as its documentation says, no
# special cases) against a real tesserad: discovery, client credentials, the
# PKCE code flow driven by headless Chromium, the device flow, refresh,
# introspection and revocation, and openid-client's own DPoP (RFC 9449): bound
# tokens, nonces, refresh with the login's key. Prints `N passed, N failed` last.
#
#   TESSERAD_BIN=target/debug/tesserad tests/interop/openid-client/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
source "$root/scripts/lib.sh"
source "$root/tests/interop/tesserad.sh"

# A server or fixture failure still ends with the summary line.
start_browser_suite "$here"
export FIXTURES="$TESSERAD_WORK/fixtures.json"
{
  echo "{"
  echo "\"account\": $(tesserad_admin account create --email carol@example.com),"
  echo "\"confidential\": $(tesserad_admin app create --account carol@example.com --name 'Reporting service' --redirect-uri http://127.0.0.1/callback),"
  echo "\"public\": $(tesserad_admin app create --account carol@example.com --name 'Carol CLI' --public --client-id carol-cli),"
  echo "\"dpop_public\": $(tesserad_admin app create --account carol@example.com --name 'Carol CLI with DPoP' --public --client-id carol-dpop-cli --dpop required)"
  echo "}"
} >"$FIXTURES"

trap - ERR
cd "$here"
run_node_tests tests/*.test.mjs
