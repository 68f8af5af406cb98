#!/usr/bin/env bash
# schemathesis (PyPI) against a real tesserad, driven by the server's own
# /openapi.json: every response must conform to the document (status, content
# type, headers, body schema) and nothing may answer 5xx. SQLite in a temp dir,
# a free loopback port; rate limits raised so far that fuzzing never trips them
# (limits.toml), so the limit layers still run and their headers are checked.
# Two runs: the platform API with an API key in every request, and everything
# else with a confidential app's client credentials (HTTP Basic), so the OAuth
# endpoints get past client authentication. Prints `N passed, N failed` last
# (one per operation tested, from schemathesis's JUnit reports).
#
#   TESSERAD_BIN=target/debug/tesserad tests/schemathesis/run.sh
#   SCHEMATHESIS_EXAMPLES=200 SCHEMATHESIS_SEED=$RANDOM tests/schemathesis/run.sh   # a longer hunt
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$root/scripts/lib.sh"
source "$root/tests/interop/tesserad.sh"

# An install or server failure still ends with the summary line.
trap 'echo "0 passed, 1 failed"' ERR
schemathesis=$(ensure_schemathesis "$here/requirements.txt")
start_tesserad --config "$here/limits.toml"
tesserad_admin account create --email fuzz@example.com >/dev/null
json_field() { python3 -c "import json, sys; print(json.load(sys.stdin)['$1'])"; }
key=$(tesserad_admin api-key create --account fuzz@example.com | json_field key)
app=$(tesserad_admin app create --account fuzz@example.com --name Fuzz --redirect-uri http://127.0.0.1/callback)
client_id=$(json_field client_id <<<"$app")
client_secret=$(json_field client_secret <<<"$app")
trap - ERR

# Bounded: a fixed number of cases per operation, a fixed seed (CI reruns the
# same cases), one worker (two cores are shared). Run in the work directory:
# schemathesis keeps a cache (.schemathesis/) in the current one.
fuzz() {
  local name=$1
  shift
  (cd "$TESSERAD_WORK" && "$schemathesis" run "$TESSERA_URL/openapi.json" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --max-examples "${SCHEMATHESIS_EXAMPLES:-100}" \
    --seed "${SCHEMATHESIS_SEED:-20261124}" \
    --workers 1 \
    --request-timeout 10 \
    --report junit --report-junit-path "$TESSERAD_WORK/junit-$name.xml" "$@")
}
status=0
step "schemathesis: the platform API, with an API key"
fuzz platform --include-tag platform --header "Authorization: token $key" || status=1
step "schemathesis: OAuth, sign-in, discovery, operations, with client credentials"
fuzz rest --exclude-tag platform --auth "$client_id:$client_secret" || status=1
if grep -q "panicked" "$TESSERAD_LOG"; then
  echo "tesserad panicked during the run; see $TESSERAD_LOG" >&2
  KEEP_TESSERAD_WORK=1
  status=1
fi
python3 - "$status" "$TESSERAD_WORK"/junit-*.xml <<'PY'
import sys, xml.etree.ElementTree as ET
status, reports = int(sys.argv[1]), sys.argv[2:]
passed = failed = 0
for report in reports:
    try:
        cases = list(ET.parse(report).getroot().iter("testcase"))
    except (OSError, ET.ParseError):
        failed += 1
        continue
    for case in cases:
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is None:
            passed += 1
if status and not failed:
    failed = 1
print(f"{passed} passed, {failed} failed")
PY
exit "$status"
