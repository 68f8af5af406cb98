#!/usr/bin/env bash
# What rate limiting costs: authenticated `GET /v1/me` (API key) requests/s, in one
# run on this machine, with one and with two instances on one PostgreSQL:
# - rate limiting off (`serve --no-rate-limit`): the baseline of each count,
# - the in-process limiter (`--rate-limit-backend memory`; two instances would
#   each admit the limit, shown for the cost only),
# - the shared Redis limiter (`--rate-limit-backend redis`, one throwaway Redis),
# - the shared PostgreSQL limiter (`--rate-limit-backend postgres`),
# plus SQLite off/in process for reference. With two instances wrk runs against
# each (connections split) and their requests/s are summed. Limits are set far
# above what wrk can send, so nothing is refused: every request pays the limiter
# and gets its headers.
#
# Targets: the in-process limiter costs <= 20% (issue 8); the Redis limiter keeps
# >= 70% of the unlimited throughput of the same instance count (issue 16).
# Writes its section of bench/RESULTS.md (between the ratelimit markers); exits 3
# when a target is missed.
#
# Env: DURATION (default 10s), ROUNDS (3), CONNECTIONS (32), THREADS (2), TESSERAD_BIN
# (measure this binary instead of building a release one).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
source scripts/lib.sh

# Defaults of the Env settings named in the header.
: "${DURATION:=10s}" "${ROUNDS:=3}" "${CONNECTIONS:=32}" "${THREADS:=2}"

ensure_apt_tools wrk curl python3
ensure_postgres_binaries
ensure_redis_server
if [ -n "${TESSERAD_BIN:-}" ]; then
  bin=$TESSERAD_BIN
else
  step "release build of tesserad"
  cargo build --release --quiet -p tessera-server --bin tesserad
  bin=$root/target/release/tesserad
fi

source bench/ratelimit/stores.sh
start_stores

start() { # name database-url serve-args… ; sets $base
  local name=$1 db=$2; shift 2
  local port; port=$(free_port)
  RUST_LOG=warn "$bin" serve --listen "127.0.0.1:$port" --database "$db" \
    --config "$work/limits.toml" "$@" >"$work/$name.stdout" 2>"$work/$name.stderr" &
  pids+=($!)
  wait_for_line "$work/$name.stdout" '^tesserad listening on' "$work/$name.stderr"
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
      >"$work/$name.r$round.$i.txt" &
    wrks+=($!)
    i=$((i + 1))
  done
  wait "${wrks[@]}"
  cat "$work/$name".r"$round".*.txt >&2
}

sqlite_db="sqlite://$work/tesserad.db"
sqlite_key=$(seed "$bin" "$sqlite_db")
TESSERAD_DATABASE_URL=$PG_URL "$bin" migrate >/dev/null
pg_key=$(seed "$bin" "$PG_URL")

# One row: name, then serve flags; once with one instance, once with two.
measure() { # name flags…
  local name=$1; shift
  step "PostgreSQL, $name, one instance"
  start "pg-$name-1" "$PG_URL" "$@"; check "$base" "$pg_key" "$expect"
  run "pg-$name-1" "$pg_key" "$base"; stop_servers
  step "PostgreSQL, $name, two instances"
  start "pg-$name-2a" "$PG_URL" "$@"; a=$base; check "$a" "$pg_key" "$expect"
  start "pg-$name-2b" "$PG_URL" "$@"; b=$base; check "$b" "$pg_key" "$expect"
  run "pg-$name-2" "$pg_key" "$a" "$b"; stop_servers
}
# Every row once per round, the rounds one after the other; each row's figure is
# its median over the rounds, so one busy moment of the machine moves one round
# of one row, not the table.
for round in $(seq 1 "$ROUNDS"); do
  step "round $round: SQLite, rate limiting off"
  start sqlite-off "$sqlite_db" --no-rate-limit; check "$base" "$sqlite_key" no
  run sqlite-off "$sqlite_key" "$base"; stop_servers
  step "round $round: SQLite, in-process limiter"
  start sqlite-memory "$sqlite_db" --rate-limit-backend memory; check "$base" "$sqlite_key" yes
  run sqlite-memory "$sqlite_key" "$base"; stop_servers

  expect=no measure off --no-rate-limit
  expect=yes measure memory --rate-limit-backend memory
  expect=yes measure redis --rate-limit-backend redis
  expect=yes measure postgres --rate-limit-backend postgres
done

python3 - "$work" "$root/bench/RESULTS.md" "$DURATION" "$CONNECTIONS" "$THREADS" "$bin" "$ROUNDS" <<'PY'
import re, sys, glob, datetime, os, platform, statistics
work, results, duration, conns, threads, binary, rounds = sys.argv[1:]

def parse(name):
    """Median over the rounds of the requests/s (summed over the instances), the
    worst p99 and all non-2xx answers."""
    per_round = []; p99 = 0.0; errors = 0
    for r in range(1, int(rounds) + 1):
        rps = 0.0
        for path in sorted(glob.glob(f"{work}/{name}.r{r}.*.txt")):
            text = open(path).read()
            rps += float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
            m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
            v, unit = float(m.group(1)), m.group(2)
            p99 = max(p99, v / 1000 if unit == "us" else v * 1000 if unit == "s" else v)
            e = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
            errors += int(e.group(1)) if e else 0
        per_round.append(rps)
    return statistics.median(per_round), p99, errors

rows = [
    ("sqlite-off", "SQLite", "off (`--no-rate-limit`)", "1", "sqlite-off"),
    ("sqlite-memory", "SQLite", "in process", "1", "sqlite-off"),
]
for n in ("1", "2"):
    rows += [
        (f"pg-off-{n}", "PostgreSQL", "off (`--no-rate-limit`)", n, f"pg-off-{n}"),
        (f"pg-memory-{n}", "PostgreSQL", "in process (not shared)", n, f"pg-off-{n}"),
        (f"pg-redis-{n}", "PostgreSQL", "shared: Redis", n, f"pg-off-{n}"),
        (f"pg-postgres-{n}", "PostgreSQL", "shared: PostgreSQL", n, f"pg-off-{n}"),
    ]
r = {name: parse(name) for name, *_ in rows}
share = lambda name, base: r[name][0] / r[base][0]
table = "\n".join(
    f"| {db} | {limiter} | {n} | {r[name][0]:,.0f} | {share(name, base):.0%} | {r[name][1]:.2f} ms | {r[name][2]} |"
    for name, db, limiter, n, base in rows
)
cost_sqlite = 1 - share("sqlite-memory", "sqlite-off")
cost_pg = 1 - share("pg-memory-1", "pg-off-1")
redis = [share(f"pg-redis-{n}", f"pg-off-{n}") for n in ("1", "2")]
postgres = [share(f"pg-postgres-{n}", f"pg-off-{n}") for n in ("1", "2")]
ok_memory = cost_sqlite <= 0.20 and cost_pg <= 0.20
ok_redis = min(redis) >= 0.70
ok = ok_memory and ok_redis
met = lambda b: "met" if b else "NOT met"
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
load = open("/proc/loadavg").read().split()[0]
marker = "ratelimit"
section = f"""<!-- {marker}:start -->
## Rate limiting: what the limiter costs (issues 8 and 16)

`bench/ratelimit/run.sh` — {now}; {os.cpu_count()} cores, {platform.machine()},
`{os.path.basename(binary)}` binary, wrk `-t{threads} -c{conns} -d{duration}` on loopback against
`GET /v1/me` with an API key (wrk, tesserad, PostgreSQL and Redis share the
machine), one run of {rounds} rounds, each measuring every row back to back; each
row shows its median over the rounds (p99: the worst; non-2xx: all); load average
{load} at the end. Limits are set far
above the load, so every request is counted and none is refused. With two
instances the connections are split between them and their requests/s summed;
"vs. off" compares with rate limiting off at the same instance count.

| database | limiter | instances | requests/s | vs. off | p99 | non-2xx |
|---|---|---:|---:|---:|---:|---:|
{table}

- In-process limiter cost, single instance: **{cost_sqlite:.0%}** on SQLite,
  **{cost_pg:.0%}** on PostgreSQL (target <= 20%: {met(ok_memory)}).
- Redis limiter: **{redis[0]:.0%}** of unlimited with one instance, **{redis[1]:.0%}**
  with two (target >= 70%: {met(ok_redis)}). One round trip per decision to Redis
  (one Lua script: the window of the bucket in a hash, with its total and oldest
  second, so an admitted request costs the script a constant number of commands);
  the requests waiting for one app when the worker is free go as one script call
  (one batch in flight per instance), decided in arrival order; Redis runs scripts
  one at a time, so the limit is exact.
- PostgreSQL limiter: **{postgres[0]:.0%}** of unlimited with one instance,
  **{postgres[1]:.0%}** with two. One statement per request (an upsert of the
  bucket's row; the row lock orders instances on one bucket for that statement
  only); before issue 16 it was a PL/pgSQL function with an advisory lock and five
  statements (18% and 19% on 2026-11-25).
<!-- {marker}:end -->
"""
sys.path.insert(0, os.path.dirname(os.path.abspath(results)))
from results import write_section
write_section(results, section)
print(section)
sys.exit(0 if ok else 3)
PY
