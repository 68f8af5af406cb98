#!/usr/bin/env bash
# What rate limiting costs: authenticated `GET /v1/me` (API key) requests/s with
# - rate limiting off (`serve --no-rate-limit`),
# - the in-process limiter (`--rate-limit-backend memory`),
# - the shared PostgreSQL limiter (`--rate-limit-backend postgres`, one instance),
# - two instances on one PostgreSQL with the shared limiter (wrk on each, summed),
# in one run on this machine. Limits are set far above what wrk can send, so
# nothing is refused: every request pays the limiter and gets its headers.
#
# Target (issue 8): the limiter costs <= 20% of single-instance throughput.
# Writes its section of bench/RESULTS.md (between the ratelimit markers).
#
# Env: DURATION (default 10s), CONNECTIONS (32), THREADS (2).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
source scripts/lib.sh

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}

ensure_apt_tools wrk curl python3
ensure_postgres_binaries
step "release build of tesserad"
cargo build --release --quiet -p tessera-server --bin tesserad
bin=$root/target/release/tesserad

work=$(mktemp -d /tmp/tessera-bench-ratelimit.XXXXXX)
pids=()
stop_servers() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
  pids=()
}
cleanup() {
  stop_servers
  stop_throwaway_postgres
  rm -rf "$work"
}
trap cleanup EXIT

step "PostgreSQL on loopback (throwaway)"
start_throwaway_postgres

export TESSERAD_MASTER_KEY
TESSERAD_MASTER_KEY=$(python3 -c 'import os,base64;print(base64.b64encode(os.urandom(32)).decode())')
cat >"$work/limits.toml" <<'TOML'
# Far above what one machine can send: every request is counted, none refused.
rate_limit_development = 1000000000
TOML

seed() { # database url -> prints an API key
  TESSERAD_DATABASE_URL=$1 "$bin" admin account create --email bench@example.com >/dev/null
  TESSERAD_DATABASE_URL=$1 "$bin" admin --json api-key create --account bench@example.com |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])'
}

start() { # name database-url serve-args… ; sets $base
  local name=$1 db=$2; shift 2
  local port; port=$(free_port)
  RUST_LOG=warn "$bin" serve --listen "127.0.0.1:$port" --database "$db" \
    --config "$work/limits.toml" "$@" >"$work/$name.stdout" 2>"$work/$name.stderr" &
  pids+=($!)
  for _ in $(seq 1 100); do
    grep -q '^tesserad listening on' "$work/$name.stdout" 2>/dev/null && break
    sleep 0.1
  done
  grep -q '^tesserad listening on' "$work/$name.stdout" || { cat "$work/$name.stderr"; exit 1; }
  base="http://127.0.0.1:$port"
}

check() { # base key expect-headers(yes|no)
  local headers; headers=$(curl -s -D - -o /dev/null -H "Authorization: token $2" "$1/v1/me")
  grep -q '^HTTP/1.1 200' <<<"$headers" || { echo "GET /v1/me: $headers" >&2; exit 1; }
  if [ "$3" = yes ]; then grep -qi '^x-ratelimit-remaining' <<<"$headers"; else ! grep -qi '^x-ratelimit' <<<"$headers"; fi
}

run() { # name key base…  (one wrk per base, connections split between them)
  local name=$1 key=$2; shift 2
  local c=$((CONNECTIONS / $#)) i=0 b wrks=()
  # (Wait for the wrk processes only: a bare `wait` would wait for the servers.)
  for b in "$@"; do
    wrk -t"$THREADS" -c"$c" -d3s -H "Authorization: token $key" "$b/v1/me" >/dev/null &
    wrks+=($!)
  done
  wait "${wrks[@]}"
  wrks=()
  for b in "$@"; do
    wrk --latency -t"$THREADS" -c"$c" -d"$DURATION" -H "Authorization: token $key" "$b/v1/me" \
      >"$work/$name.$i.txt" &
    wrks+=($!)
    i=$((i + 1))
  done
  wait "${wrks[@]}"
  cat "$work/$name".*.txt >&2
}

sqlite_db="sqlite://$work/tesserad.db"
sqlite_key=$(seed "$sqlite_db")
TESSERAD_DATABASE_URL=$PG_URL "$bin" migrate >/dev/null
pg_key=$(seed "$PG_URL")

step "SQLite, rate limiting off"
start sqlite-off "$sqlite_db" --no-rate-limit; check "$base" "$sqlite_key" no
run sqlite-off "$sqlite_key" "$base"; stop_servers
step "SQLite, in-process limiter"
start sqlite-memory "$sqlite_db" --rate-limit-backend memory; check "$base" "$sqlite_key" yes
run sqlite-memory "$sqlite_key" "$base"; stop_servers

step "PostgreSQL, rate limiting off"
start pg-off "$PG_URL" --no-rate-limit; check "$base" "$pg_key" no
run pg-off "$pg_key" "$base"; stop_servers
step "PostgreSQL, in-process limiter"
start pg-memory "$PG_URL" --rate-limit-backend memory; check "$base" "$pg_key" yes
run pg-memory "$pg_key" "$base"; stop_servers
step "PostgreSQL, shared limiter, one instance"
start pg-shared "$PG_URL" --rate-limit-backend postgres; check "$base" "$pg_key" yes
run pg-shared "$pg_key" "$base"; stop_servers
step "PostgreSQL, shared limiter, two instances"
start pg-two-a "$PG_URL" --rate-limit-backend postgres; a=$base; check "$a" "$pg_key" yes
start pg-two-b "$PG_URL" --rate-limit-backend postgres; b=$base; check "$b" "$pg_key" yes
run pg-two "$pg_key" "$a" "$b"; stop_servers

python3 - "$work" "$root/bench/RESULTS.md" "$DURATION" "$CONNECTIONS" "$THREADS" <<'PY'
import re, sys, glob, datetime, os, platform
work, results, duration, conns, threads = sys.argv[1:]

def parse(name):
    rps = 0.0; p99 = 0.0; errors = 0
    for path in sorted(glob.glob(f"{work}/{name}.*.txt")):
        text = open(path).read()
        rps += float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
        m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        v, unit = float(m.group(1)), m.group(2)
        p99 = max(p99, v / 1000 if unit == "us" else v * 1000 if unit == "s" else v)
        e = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
        errors += int(e.group(1)) if e else 0
    return rps, p99, errors

rows = [
    ("sqlite-off", "SQLite", "off (`--no-rate-limit`)", "1"),
    ("sqlite-memory", "SQLite", "in process", "1"),
    ("pg-off", "PostgreSQL", "off (`--no-rate-limit`)", "1"),
    ("pg-memory", "PostgreSQL", "in process", "1"),
    ("pg-shared", "PostgreSQL", "shared (PostgreSQL)", "1"),
    ("pg-two", "PostgreSQL", "shared (PostgreSQL)", "2"),
]
r = {name: parse(name) for name, *_ in rows}
base = {"SQLite": r["sqlite-off"][0], "PostgreSQL": r["pg-off"][0]}
table = "\n".join(
    f"| {db} | {limiter} | {n} | {r[name][0]:,.0f} | {r[name][0] / base[db]:.0%} | {r[name][1]:.2f} ms | {r[name][2]} |"
    for name, db, limiter, n in rows
)
cost_sqlite = 1 - r["sqlite-memory"][0] / r["sqlite-off"][0]
cost_pg = 1 - r["pg-memory"][0] / r["pg-off"][0]
ok = cost_sqlite <= 0.20 and cost_pg <= 0.20
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
marker = "ratelimit"
section = f"""<!-- {marker}:start -->
## Rate limiting: what the limiter costs (issue 8)

`bench/ratelimit/run.sh` — {now}; {os.cpu_count()} cores, {platform.machine()}, release
build, wrk `-t{threads} -c{conns} -d{duration}` on loopback against `GET /v1/me` with an
API key (wrk, tesserad and PostgreSQL share the machine), one run, back to back.
Limits are set far above the load, so every request is counted and none is refused;
the two-instance row splits the connections between the instances and sums their
requests/s.

| database | limiter | instances | requests/s | vs. off | p99 | non-2xx |
|---|---|---:|---:|---:|---:|---:|
{table}

- In-process limiter cost, single instance: **{cost_sqlite:.0%}** on SQLite,
  **{cost_pg:.0%}** on PostgreSQL (target <= 20%: {"met" if ok else "NOT met"}).
- Shared PostgreSQL limiter, one instance: {r["pg-shared"][0] / r["pg-off"][0]:.0%} of unlimited; two
  instances together: {r["pg-two"][0] / r["pg-off"][0]:.0%} of one unlimited instance. It costs one
  round trip per request (a PL/pgSQL function: advisory lock, count, upsert in an
  UNLOGGED table); every request of one app serializes on that app's lock, which
  is what makes the limit exact across instances. So one app tops out near
  {r["pg-shared"][0] / 1000:.0f}k requests/s however many instances serve it; different apps do not
  wait for each other.
<!-- {marker}:end -->
"""
try:
    text = open(results).read()
except FileNotFoundError:
    text = "# Benchmark results\n"
pattern = re.compile(rf"<!-- {marker}:start -->.*?<!-- {marker}:end -->\n?", re.S)
text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
open(results, "w").write(text)
print(section)
sys.exit(0 if ok else 3)
PY
