#!/usr/bin/env bash
# Before/after: two tesserad binaries under the same loads, measured in one run and
# interleaved (A B B A … per round), so a slower or faster machine moment lands on
# both. Loads (wrk on loopback, rate limiting off): GET /healthz, GET /v1/me with an
# API key and with a Bearer access token, POST /oauth/token (client_credentials) and
# POST /oauth/introspect. Each binary gets a fresh database per round.
#
# Binaries of two commits, built alike: bench/ab/build.sh COMMIT_A COMMIT_B.
# Usage: bench/ab/run.sh BIN_A BIN_B   (e.g. the binary of the commit before a
#        restructure, and the one after). Prints the median requests/s, server CPU
#        time per request, and (with `perf`) the server's system calls and context
#        switches per request, per load and binary, and B/A; with LABEL=x writes
#        that table to bench/RESULTS.md between `ab-x` markers.
# Env: ROUNDS (2), DURATION (10s), CONNECTIONS (32), THREADS (2), DATABASE (an empty
#      postgres:// server URL prefix, e.g. postgres://postgres@127.0.0.1:5432 — each
#      run creates its own database there; default: a fresh SQLite file), PRIORITY=1
#      (root: nice -20 for tesserad and wrk), LABEL_A / LABEL_B (names in the table).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
source scripts/lib.sh
source bench/ab/lib.sh
ab_binaries "$@"
# Defaults of the Env settings named in the header.
: "${ROUNDS:=2}" "${DURATION:=10s}" "${CONNECTIONS:=32}" "${THREADS:=2}"
rt=(); [ "${PRIORITY:-0}" = 1 ] && rt=(nice -n -20)
ensure_apt_tools wrk

work=$(mktemp -d /tmp/tessera-bench-ab.XXXXXX)
server_pid=
stop_server() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null; server_pid=; }
trap 'stop_server; rm -rf "$work"' EXIT

measure() { # which (0|1), round
  local bin=${bins[$1]} run="$work/r$2-$1" port db
  mkdir -p "$run"
  export TESSERAD_MASTER_KEY
  TESSERAD_MASTER_KEY=$(random_master_key)
  if [ -n "${DATABASE:-}" ]; then
    db="ab_$(date +%s%N)"
    psql -q "$DATABASE/postgres" -c "CREATE DATABASE $db" >/dev/null
    export TESSERAD_DATABASE_URL="$DATABASE/$db"
  else
    export TESSERAD_DATABASE_URL="sqlite://$run/tesserad.db"
  fi
  ab_seed "$bin"
  port=$(free_port)
  RUST_LOG=warn "${rt[@]}" "$bin" serve --listen "127.0.0.1:$port" --no-rate-limit >"$run/out" 2>"$run/err" &
  server_pid=$!
  wait_for_line "$run/out" '^tesserad listening on' "$run/err"
  local base="http://127.0.0.1:$port"
  ab_token "$base"
  # The server's CPU time (user + system, clock ticks) from /proc: per request it
  # hardly depends on what else shares the machine, unlike requests/s.
  cpu_ticks() { awk '{print $14 + $15}' "/proc/$server_pid/stat"; }
  wrkrun() { # name, args…
    local name=$1 before; shift
    "${rt[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "$@" >/dev/null
    before=$(cpu_ticks)
    # System calls and context switches of the server over the same run: counts,
    # so unlike time they hardly depend on what else the machine is doing.
    perf stat -e raw_syscalls:sys_enter,context-switches -x, -o "$run/$name.perf" \
      -p "$server_pid" -- sleep "${DURATION%s}" 2>/dev/null &
    local perf_pid=$!
    "${rt[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" "$@" >"$run/$name.txt"
    echo $(($(cpu_ticks) - before)) >"$run/$name.cpu"
    wait "$perf_pid" || true
  }
  ab_each_load wrkrun "$base"
  stop_server
  step "round $2, ${names[$1]}: $(grep -h 'Requests/sec' "$run"/*.txt | awk '{printf "%s ", $2}')"
}

for round in $(seq 1 "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then order=(0 1); else order=(1 0); fi
  for which in "${order[@]}"; do measure "$which" "$round"; done
done

load=$(cut -d' ' -f1 /proc/loadavg)
python3 - "$work" "$ROUNDS" "${names[0]}" "${names[1]}" "$DURATION" "$CONNECTIONS" "$load" \
  "${DATABASE:+postgres}" "$root/bench/RESULTS.md" "${LABEL:-}" "$AB_LOADS" <<'PY'
import re, sys, statistics, datetime, os
work, rounds, name_a, name_b, duration, conns, load, pg, results, label, loads = sys.argv[1:]
loads = eval(loads)
ticks = os.sysconf("SC_CLK_TCK")
def counted(which, name, event):
    """Median count of a perf event per request over the rounds (nan without perf)."""
    per = []
    for r in range(1, int(rounds) + 1):
        run = f"{work}/r{r}-{which}"
        try:
            stat = open(f"{run}/{name}.perf").read()
        except OSError:
            return float("nan")
        m = re.search(rf"^(\d+),,{re.escape(event)},", stat, re.M)
        requests = int(re.search(r"(\d+) requests in", open(f"{run}/{name}.txt").read()).group(1))
        per.append(int(m.group(1)) / requests if m else float("nan"))
    return statistics.median(per)
def measured(which, name):
    """Median requests/s and median server CPU µs per request over the rounds."""
    rates, cpu = [], []
    for r in range(1, int(rounds) + 1):
        text = open(f"{work}/r{r}-{which}/{name}.txt").read()
        if re.search(r"Non-2xx", text):
            sys.exit(f"{name} of {which}: non-2xx answers\n{text}")
        rates.append(float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)))
        requests = int(re.search(r"(\d+) requests in", text).group(1))
        used = int(open(f"{work}/r{r}-{which}/{name}.cpu").read())
        cpu.append(used / ticks * 1e6 / requests)
    return statistics.median(rates), statistics.median(cpu)
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
backend = "PostgreSQL" if pg else "SQLite"
lines = [f"| load | {name_a} req/s | {name_b} req/s | B / A | {name_a} CPU µs/req | {name_b} CPU µs/req | B / A "
         f"| syscalls/req A → B | context switches/req A → B |",
         "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
for key, title in loads:
    (a, ca), (b, cb) = measured(0, key), measured(1, key)
    sa, sb = counted(0, key, "raw_syscalls:sys_enter"), counted(1, key, "raw_syscalls:sys_enter")
    xa, xb = counted(0, key, "context-switches"), counted(1, key, "context-switches")
    lines.append(f"| {title} | {a:,.0f} | {b:,.0f} | {b / a:.0%} | {ca:.1f} | {cb:.1f} | {cb / ca:.0%} "
                 f"| {sa:.1f} → {sb:.1f} | {xa:.2f} → {xb:.2f} |")
table = "\n".join(lines)
section = f"""<!-- ab-{label}:start -->
## Before/after: {name_a} vs {name_b} ({backend})

`bench/ab/run.sh` — {now}; {os.cpu_count()} cores; release builds; {backend}; wrk
`-c{conns} -d{duration}` per load after a 2 s warm-up; {rounds} rounds interleaved
(A B, then B A), median of the rounds; rate limiting off; load average {load} at the end.
CPU µs/req: the server process's user + system time over the measured run divided by
its requests (lower is better; it moves less than requests/s with other work on the
machine, but on a VM still by up to 15% between identical code: judge code by
`bench/ab/instructions.sh`). System calls and context switches per request: the
server's, counted by `perf stat` over the same run.

{table}
<!-- ab-{label}:end -->
"""
print(section)
if label:
    text = open(results).read()
    pat = re.compile(rf"<!-- ab-{label}:start -->.*?<!-- ab-{label}:end -->\n?", re.S)
    text = pat.sub(lambda _: section, text) if pat.search(text) else text.rstrip("\n") + "\n\n" + section
    open(results, "w").write(text)
PY
