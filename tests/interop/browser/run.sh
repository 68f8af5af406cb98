#!/usr/bin/env bash
# Tessera's web pages in a real headless Chromium: starts tesserad on a free
# loopback port with a temporary database, creates fixtures with
# `tesserad admin --json`, runs the tests with node's test runner and prints
# `N passed, N failed` last. Screenshots go to tests/interop/artifacts/.
#
#   TESSERAD_BIN=target/debug/tesserad tests/interop/browser/run.sh
#
# Needs: Debian `chromium` (CHROMIUM overrides /usr/bin/chromium), node 20, npm.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
source "$root/scripts/lib.sh"
source "$root/tests/interop/tesserad.sh"

# A server or fixture failure still ends with the summary line.
start_browser_suite "$here"
export FIXTURES="$TESSERAD_WORK/fixtures.json"
# The page tests exchange codes with plain fetch: the CLI app is registered as
# a CLI's would be, with DPoP optional (the default; required is tested in
# ../openid-client).
{
  echo "{"
  echo "\"alice\": $(tesserad_admin account create --email alice@example.com),"
  echo "\"bob\": $(tesserad_admin account create --email bob@example.com),"
  echo "\"cli\": $(tesserad_admin app create --account alice@example.com --name 'Lofty CLI' --public --client-id lofty-cli)"
  echo "}"
} >"$FIXTURES"
# A password for bob (read from stdin, never a flag); alice signs in by email code only.
printf '%s\n' 'correct horse battery staple' |
  tesserad_admin account set-password --account bob@example.com >/dev/null

trap - ERR
cd "$here"
run_node_tests tests/*.test.mjs
