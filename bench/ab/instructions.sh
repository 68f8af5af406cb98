#!/usr/bin/env bash
# Before/after in instructions: each of two tesserad binaries under valgrind's
# callgrind, on a fresh SQLite database, serving the loads of bench/ab/run.sh one
# after the other (wrk, 4 connections, rate limiting off). For each load the
# counters are zeroed after a warm-up and dumped after the measured run
# (`callgrind_control`), so a count is the server's instructions (all threads)
# for exactly that run, divided by its requests.
#
# Why: on this VM requests/s and even CPU time per request move by 10-15% between
# runs of the same code; an instruction count is the same within about 1% run to
# run, whatever else the machine does. What it cannot show: costs that only come
# with parallelism (lock contention, cache-line bouncing; callgrind runs one
# thread at a time) and the kernel's share (it counts user space only); use
# bench/ab/run.sh for those.
#
# Usage: bench/ab/instructions.sh BIN_A BIN_B   (bench/ab/build.sh makes them)
# Env: DURATION (5s per load), DATABASE (an empty postgres:// server URL prefix, as
#      for run.sh: each binary gets its own database there; the PostgreSQL server's
#      own work is not counted; default: a fresh SQLite file), KEEP=1 (keep the callgrind dumps), LABEL_A / LABEL_B (names in the table), LABEL=x
#      (write the table to bench/RESULTS.md between `ab-instructions-x` markers),
#      SERVE_ARGS_A / SERVE_ARGS_B (`serve` flags of each, default --no-rate-limit:
#      e.g. one binary twice, without and with `--rate-limit-backend redis`),
#      DPOP=1 (one more load: `GET /v1/me` with a DPoP-bound token and a fresh
#      EdDSA proof per request, as in bench/server-auth; both binaries need DPoP;
#      DPOP_PROOFS proofs are made per binary, default 40000, by DPOP_PROOFS_BIN,
#      default the tessera-client example `dpop_proofs` built here). On SQLite
#      that row is not within 1%: each proof is a commit to the replay file, and
#      how often its WAL checkpoints run depends on timing (the same binary
#      measured 823k and 961k instructions a request; compare its rows without
#      SQLite's functions, KEEP=1 and callgrind_annotate).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
source scripts/lib.sh
source bench/ab/lib.sh
ab_binaries "$@"
# Word-split on purpose: a list of flags.
serve_args=("${SERVE_ARGS_A:---no-rate-limit}" "${SERVE_ARGS_B:---no-rate-limit}")
DURATION=${DURATION:-5s}
ensure_apt_tools wrk valgrind
loads=$AB_LOADS
if [ -n "${DPOP:-}" ]; then
  proofs_bin=${DPOP_PROOFS_BIN:-}
  if [ -z "$proofs_bin" ]; then
    cargo build --release --quiet -p tessera-client --example dpop_proofs
    proofs_bin=$root/target/release/examples/dpop_proofs
  fi
  loads="${AB_LOADS%]}, (\"dpop\", \"\`GET /v1/me\`, DPoP token + fresh proof\")]"
fi

work=$(mktemp -d /tmp/tessera-bench-instr.XXXXXX)
server_pid=
stop_server() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null; server_pid=; }
trap 'stop_server; [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"' EXIT

for which in 0 1; do
  bin=${bins[$which]} run="$work/$which"
  mkdir -p "$run"
  export TESSERAD_MASTER_KEY TESSERAD_DATABASE_URL="sqlite://$run/tesserad.db"
  if [ -n "${DATABASE:-}" ]; then
    db="instr_$(date +%s%N)"
    psql -q "$DATABASE/postgres" -c "CREATE DATABASE $db" >/dev/null
    TESSERAD_DATABASE_URL="$DATABASE/$db"
  fi
  TESSERAD_MASTER_KEY=$(random_master_key)
  ab_seed "$bin"
  port=$(free_port)
  RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$run/callgrind.out" \
    "$bin" serve --listen "127.0.0.1:$port" ${serve_args[$which]} >"$run/out" 2>"$run/err" &
  server_pid=$!
  wait_for_line "$run/out" '^tesserad listening on' "$run/err" 60
  base="http://127.0.0.1:$port"
  ab_token "$base"
  dumps=0
  count() { # name, wrk args…
    local name=$1; shift
    AB_WARMUP=1 wrk -t1 -c4 -d2s "$@" >/dev/null
    callgrind_control -z "$server_pid" >/dev/null
    wrk -t1 -c4 -d"$DURATION" "$@" >"$run/$name.txt"
    callgrind_control -d "$server_pid" >/dev/null
    dumps=$((dumps + 1))
    for _ in $(seq 1 100); do [ -s "$run/callgrind.out.$dumps" ] && break; sleep 0.1; done
    if grep -q Non-2xx "$run/$name.txt"; then echo "$name: non-2xx answers" >&2; cat "$run/$name.txt" >&2; exit 1; fi
    echo "$(sed -n 's/^summary: //p' "$run/callgrind.out.$dumps") $(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$run/$name.txt")" \
      >"$run/$name.count"
  }
  ab_each_load count "$base"
  if [ -n "${DPOP:-}" ]; then
    mkdir -p "$run/proofs"
    # proofs-1.txt for the measured run, proofs-2.txt for the warm-up.
    dpop_token=$("$proofs_bin" "$base/oauth/token" "$AB_CLIENT_ID" "$AB_CLIENT_SECRET" "$base/v1/me" \
      "${DPOP_PROOFS:-40000}" 2 "$run/proofs" EdDSA)
    count dpop -s bench/server-auth/dpop.lua "$base/v1/me" -- "$run/proofs" "$dpop_token"
  fi
  stop_server
  step "${names[$which]}: $(cat "$run"/*.count | awk '{printf "%.0f ", $1 / $2}')"
done

python3 - "$work" "${names[0]}" "${names[1]}" "$DURATION" "$root/bench/RESULTS.md" "${LABEL:-}" "$loads" \
  "${DATABASE:+PostgreSQL}" <<'PY'
import re, sys, datetime
work, name_a, name_b, duration, results, label, loads, pg = sys.argv[1:]
backend = pg or "SQLite"
def per_request(which, name):
    instructions, requests = map(int, open(f"{work}/{which}/{name}.count").read().split())
    return instructions / requests
lines = [f"| load | {name_a} instructions/req | {name_b} instructions/req | B / A |", "|---|---:|---:|---:|"]
for key, title in eval(loads):
    a, b = per_request(0, key), per_request(1, key)
    lines.append(f"| {title} | {a:,.0f} | {b:,.0f} | {b / a:.1%} |")
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
marker = f"ab-instructions-{label}"
section = f"""<!-- {marker}:start -->
## Instructions per request: {name_a} vs {name_b} ({backend})

`bench/ab/instructions.sh` — {now}; release builds (bench/ab/build.sh); each
binary under callgrind on a fresh {backend} database; per load wrk `-c4 -d{duration}`
after a 2 s warm-up, counters zeroed before and dumped after the measured run;
user-space instructions of all the server's threads divided by its requests.

{chr(10).join(lines)}
<!-- {marker}:end -->
"""
print(section)
if label:
    text = open(results).read()
    pat = re.compile(rf"<!-- {marker}:start -->.*?<!-- {marker}:end -->\n?", re.S)
    text = pat.sub(lambda _: section, text) if pat.search(text) else text.rstrip("\n") + "\n\n" + section
    open(results, "w").write(text)
PY
