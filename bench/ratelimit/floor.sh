#!/usr/bin/env bash
# How close can any Redis limiter get to unlimited on this machine? Measures, side by
# side, authenticated `GET /v1/me` (API key) requests/s with one and two instances on
# one PostgreSQL:
# - off: `serve --no-rate-limit`,
# - Redis: `--rate-limit-backend redis`, this tree's limiter,
# - floor: the same binary but for its script, which answers "allowed" for every
#   request without reading or writing anything: a round trip that costs Redis
#   nothing beyond the call. No limiter that asks Redis per decision does better.
# in two placements:
# - shared: every process on every core (as `run.sh` measures),
# - pinned: the instances on CPU 0; wrk, PostgreSQL and Redis on the others, as in a
#   deployment where Redis and the clients are other machines.
# The three run interleaved: all instances idle side by side, wrk loads one variant
# for a short slice, then the next, N times; each figure is the median of the
# slices' ratios to the `off` slice just before, so a busy moment of this shared
# machine moves one slice, not a row.
#
# Builds tesserad twice, the second time from HEAD in a temporary worktree with
# the floor's script (so it refuses to run with uncommitted changes to the code).
# Writes its section of bench/RESULTS.md (between the ratelimit-floor markers).
#
# Env: SLICE (default 3s), SLICES (10), CONNECTIONS (32), TESSERAD_BIN and FLOOR_BIN
# (measure these binaries instead of building release ones).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
source scripts/lib.sh

# Defaults of the Env settings named in the header.
: "${SLICE:=3s}" "${SLICES:=10}" "${CONNECTIONS:=32}"

ensure_apt_tools wrk curl python3
ensure_postgres_binaries
ensure_redis_server
[ "$(nproc)" -ge 2 ] || { echo "the pinned placement needs two CPUs" >&2; exit 1; }

if [ -z "${TESSERAD_BIN:-}" ]; then
  step "release build of tesserad"
  cargo build --release --quiet -p tessera-server --bin tesserad
  TESSERAD_BIN=$root/target/release/tesserad
fi
if [ -z "${FLOOR_BIN:-}" ]; then
  # The floor is built from HEAD, so the two binaries differ only in the script
  # when the tree has nothing uncommitted.
  if [ -n "$(git status --porcelain -- crates Cargo.toml Cargo.lock)" ]; then
    echo "floor.sh: commit (or stash) the changes under crates/ first: the floor is built from HEAD" >&2
    exit 1
  fi
  step "release build of tesserad with the floor's script (temporary worktree)"
  tree=$(mktemp -d /tmp/tessera-floor.XXXXXX)
  git worktree add --quiet --detach "$tree" HEAD
  trap 'git worktree remove --force "$tree"' EXIT
  python3 - "$tree/crates/tessera-server/src/ratelimit/redis.rs" <<'PY'
import sys
path = sys.argv[1]
text = open(path).read()
start = text.index('const SCRIPT: &str = r"')
end = text.index('";', start) + 2
floor = "const SCRIPT: &str = r\"\nreturn string.rep(struct.pack('<BI4i8', 1, 1000, 0), #ARGV[2] / 12)\n\";"
open(path, "w").write(text[:start] + floor + text[end:])
PY
  (cd "$tree" && CARGO_TARGET_DIR=$root/target/floor \
    cargo build --release --quiet -p tessera-server --bin tesserad)
  git worktree remove --force "$tree"
  trap - EXIT
  FLOOR_BIN=$root/target/floor/release/tesserad
fi

source bench/ratelimit/stores.sh
start_stores
TESSERAD_DATABASE_URL=$PG_URL "$TESSERAD_BIN" migrate >/dev/null
key=$(seed "$TESSERAD_BIN" "$PG_URL")

others="1-$(($(nproc) - 1))"
place() { # shared|pinned: where PostgreSQL and Redis run, and sets $instance_cpus, $load_cpus
  local cpus=0-$(($(nproc) - 1))
  [ "$1" = pinned ] && cpus=$others
  # PostgreSQL's backends are forked later by the postmaster, with its CPUs.
  local postmaster; postmaster=$(head -1 "$PG_DIR/data/postmaster.pid")
  for pid in "$REDIS_PID" "$postmaster" $(pgrep -P "$postmaster" || true); do
    taskset -a -pc "$cpus" "$pid" >/dev/null 2>&1 || true
  done
  if [ "$1" = pinned ]; then instance_cpus=0 load_cpus=$others; else instance_cpus=$cpus load_cpus=$cpus; fi
}

declare -A ports
launch() { # variant count binary serve-args…
  local variant=$1 count=$2 bin=$3 port list=""; shift 3
  for i in $(seq "$count"); do
    port=$(free_port)
    RUST_LOG=warn taskset -c "$instance_cpus" "$bin" serve --listen "127.0.0.1:$port" \
      --database "$PG_URL" --config "$work/limits.toml" "$@" \
      >"$work/$variant.$i.stdout" 2>"$work/$variant.$i.stderr" &
    pids+=($!)
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$work/$variant.$i.stderr"; exit 1; }
    list="$list $port"
  done
  ports[$variant]=$list
}

load() { # variant duration -> requests/s summed over its instances
  local port wrks=() count
  count=$(wc -w <<<"${ports[$1]}")
  for port in ${ports[$1]}; do
    taskset -c "$load_cpus" wrk -t2 -c$((CONNECTIONS / count)) -d"$2" \
      -H "Authorization: token $key" "http://127.0.0.1:$port/v1/me" >"$work/wrk.$port" &
    wrks+=($!)
  done
  wait "${wrks[@]}"
  cat "$work"/wrk.* | awk '/Requests\/sec/ {s += $2} END {print s}'
  rm -f "$work"/wrk.*
}

for placement in shared pinned; do
  place "$placement"
  for count in 1 2; do
    step "$placement, $count instance(s): off, Redis and floor, $SLICES slices of $SLICE each"
    launch off "$count" "$TESSERAD_BIN" --no-rate-limit
    launch redis "$count" "$TESSERAD_BIN" --rate-limit-backend redis
    launch floor "$count" "$FLOOR_BIN" --rate-limit-backend redis
    for variant in off redis floor; do load "$variant" 2s >/dev/null; done
    for _ in $(seq "$SLICES"); do
      echo "$placement $count $(load off "$SLICE") $(load redis "$SLICE") $(load floor "$SLICE")"
    done | tee -a "$work/slices" >&2
    stop_servers
  done
done

python3 - "$work/slices" "$root/bench/RESULTS.md" "$SLICE" "$SLICES" "$CONNECTIONS" <<'PY'
import re, sys, datetime, os, platform, statistics
slices, results, slice_, count, conns = sys.argv[1:]
rows = {}
for line in open(slices):
    placement, n, off, redis, floor = line.split()
    rows.setdefault((placement, n), []).append((float(off), float(redis), float(floor)))
median = lambda xs: statistics.median(xs)
table = []
for (placement, n), s in rows.items():
    off = median([o for o, _, _ in s])
    redis = median([r / o for o, r, _ in s])
    floor = median([f / o for o, _, f in s])
    table.append(f"| {placement} | {n} | {off:,.0f} | {redis:.0%} | {floor:.0%} |")
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
marker = "ratelimit-floor"
section = f"""<!-- {marker}:start -->
## The Redis limiter against its floor (issue 16)

`bench/ratelimit/floor.sh` — {now}; {os.cpu_count()} cores, {platform.machine()};
wrk `-t2 -c{conns}` (split between the instances) on loopback against `GET /v1/me`
with an API key, PostgreSQL; {count} interleaved slices of {slice_} per row. "Redis"
is the limiter; "floor" the same binary with a script that only answers (the least
any limiter asking Redis per decision can cost); both as the median of each
slice's ratio to the unlimited slice just before it. Shared: every process on
every core. Pinned: the instances on CPU 0, wrk, PostgreSQL and Redis on the
others.

| placement | instances | off, requests/s | Redis vs. off | floor vs. off |
|---|---:|---:|---:|---:|
{chr(10).join(table)}
<!-- {marker}:end -->
"""
sys.path.insert(0, os.path.dirname(os.path.abspath(results)))
from results import write_section
write_section(results, section)
print(section)
PY
