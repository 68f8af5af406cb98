# What run.sh and floor.sh share: sourced after scripts/lib.sh.

# Starts a throwaway PostgreSQL and Redis and installs the cleanup of everything
# (servers in `pids`, both stores, `work`) on exit; exports the Redis URL and a
# master key, and writes `$work/limits.toml` with limits far above the load.
start_stores() {
  work=$(mktemp -d /tmp/tessera-bench-ratelimit.XXXXXX)
  pids=()
  trap cleanup EXIT
  step "PostgreSQL and Redis on loopback (throwaway)"
  start_throwaway_postgres
  start_throwaway_redis
  # In the environment, not on the command line: the URL carries the password.
  export TESSERAD_REDIS_URL=$REDIS_URL
  export TESSERAD_MASTER_KEY
  TESSERAD_MASTER_KEY=$(random_master_key)
  cat >"$work/limits.toml" <<'TOML'
# Far above what one machine can send: every request is counted, none refused.
rate_limit_development = 1000000000
TOML
}

stop_servers() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
  pids=()
}

cleanup() {
  stop_servers
  stop_throwaway_redis
  stop_throwaway_postgres
  rm -rf "$work"
}

seed() { # tesserad-binary database-url -> prints an API key
  TESSERAD_DATABASE_URL=$2 "$1" admin account create --email bench@example.com >/dev/null
  TESSERAD_DATABASE_URL=$2 "$1" admin --json api-key create --account bench@example.com |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])'
}
