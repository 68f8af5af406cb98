# Sourced by the interop suites' run.sh: a real tesserad on a free loopback port
# with a temporary SQLite database, stopped on exit.
#
#   source tests/interop/tesserad.sh
#   start_tesserad            # sets TESSERA_URL, TESSERAD_WORK, TESSERAD_LOG, TESSERAD_OUTBOX
#   tesserad_admin account create --email a@example.com   # JSON on stdout
#   stop_tesserad             # also on EXIT

# The binary: $TESSERAD_BIN (scripts/test sets it), else the debug build.
resolve_tesserad_bin() {
  if [ -z "${TESSERAD_BIN:-}" ]; then
    local built="$root/target/debug/tesserad"
    if [ -x "$built" ]; then
      TESSERAD_BIN=$built
    elif [ -n "${CI:-}" ]; then
      echo "TESSERAD_BIN is not set (required when CI is set)" >&2
      return 1
    else
      echo "skipped: set TESSERAD_BIN (or cargo build -p tessera-server)"
      echo "0 passed, 0 failed"
      exit 0
    fi
  fi
  export TESSERAD_BIN
}

start_tesserad() {
  resolve_tesserad_bin
  TESSERAD_WORK=$(mktemp -d -t tessera-interop.XXXXXX)
  TESSERAD_LOG="$TESSERAD_WORK/tesserad.log"
  TESSERAD_OUTBOX="$TESSERAD_WORK/outbox"
  local port
  port=$(free_port)
  TESSERA_URL="http://127.0.0.1:$port"
  export TESSERAD_WORK TESSERAD_LOG TESSERAD_OUTBOX TESSERA_URL
  # TESSERA_INTEROP_DATABASE_URL runs the suite on another database (an empty
  # PostgreSQL database; then also set TESSERAD_MASTER_KEY).
  export TESSERAD_DATABASE_URL="${TESSERA_INTEROP_DATABASE_URL:-$TESSERAD_WORK/tesserad.db}"
  export TESSERAD_MAIL_OUTBOX="$TESSERAD_OUTBOX"
  export TESSERAD_ISSUER="$TESSERA_URL"
  # Debug logs include every request line: the suites check that no secret is in them.
  RUST_LOG="${RUST_LOG:-debug,sqlx=warn,hyper=info,h2=info}" \
    "$TESSERAD_BIN" serve --listen "127.0.0.1:$port" "$@" \
    >"$TESSERAD_WORK/stdout.log" 2>"$TESSERAD_LOG" &
  TESSERAD_PID=$!
  trap stop_tesserad EXIT
  local i
  for i in $(seq 1 200); do
    if grep -q "tesserad listening on" "$TESSERAD_WORK/stdout.log" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$TESSERAD_PID" 2>/dev/null; then
      echo "tesserad exited during startup:" >&2
      cat "$TESSERAD_LOG" >&2
      return 1
    fi
    sleep 0.05
  done
  echo "tesserad did not start within 10 s" >&2
  return 1
}

# The start of a suite that drives headless Chromium: skips (0 passed, 0 failed)
# without Chromium unless CI is set, installs the suite's npm packages, sets
# ARTIFACTS (screenshots), reports a failed start as `0 passed, 1 failed`
# (the caller clears that trap with `trap - ERR` once its fixtures exist), and
# starts tesserad.
start_browser_suite() { # suite-dir
  export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
  if [ ! -x "$CHROMIUM" ]; then
    if [ -n "${CI:-}" ]; then echo "chromium not found at $CHROMIUM" >&2; exit 1; fi
    echo "skipped: install chromium (apt-get install chromium) or set CHROMIUM"
    echo "0 passed, 0 failed"
    exit 0
  fi
  ensure_npm_deps "$1" >&2
  export ARTIFACTS="$root/tests/interop/artifacts"
  mkdir -p "$ARTIFACTS"
  trap 'echo "0 passed, 1 failed"' ERR
  start_tesserad || { echo "0 passed, 1 failed"; exit 1; }
}

tesserad_admin() {
  "$TESSERAD_BIN" admin --json "$@"
}

stop_tesserad() {
  if [ -n "${TESSERAD_PID:-}" ]; then
    kill "$TESSERAD_PID" 2>/dev/null || true
    wait "$TESSERAD_PID" 2>/dev/null || true
    TESSERAD_PID=
  fi
  if [ -n "${TESSERAD_WORK:-}" ] && [ -z "${KEEP_TESSERAD_WORK:-}" ]; then
    rm -rf "$TESSERAD_WORK"
  fi
}

# Runs node's test runner on the given files; prints the spec report, then the
# summary line `N passed, N failed`. Returns non-zero when a test failed.
run_node_tests() {
  local tap="$TESSERAD_WORK/report.tap" status=0
  node --test --test-concurrency=1 \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$tap" \
    "$@" || status=$?
  local passed failed
  passed=$(grep -E '^# pass [0-9]+' "$tap" | awk '{print $3}' | tail -1)
  failed=$(grep -E '^# fail [0-9]+' "$tap" | awk '{print $3}' | tail -1)
  if [ -z "$passed" ] || [ -z "$failed" ]; then
    echo "0 passed, 1 failed"
    return 1
  fi
  [ "$failed" -eq 0 ] && [ "$status" -ne 0 ] && failed=1
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
