#!/usr/bin/env bash
# 32 `tessera auth token` processes starting together with an expired OAuth
# token, against one process doing the same refresh alone: wall time of each
# (hyperfine, same run), and the check that every run made exactly one
# refresh request. Records the ratio in bench/RESULTS.md.
#
# The token server (token_server.py) answers at once, and again with 50 ms of
# added latency standing in for the distance to a real authorization server.
#
# Usage: bench/token-refresh/run.sh [--runs N]
set -euo pipefail

runs=30
if [[ "${1:-}" == "--runs" ]]; then runs="$2"; fi
warmup=3
processes=32

root="$(cd "$(dirname "$0")/../.." && pwd)"
here="$root/bench/token-refresh"
cd "$root"

if ! command -v hyperfine >/dev/null; then
    sudo=""; [[ "$(id -u)" -ne 0 ]] && sudo="sudo"
    $sudo apt-get update -qq && $sudo apt-get install -y -qq hyperfine
fi

cargo build --release --quiet -p tessera-cli
bin="$root/target/release/tessera"

work="$(mktemp -d)"
server_pid=""
cleanup() { [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
export TESSERA_CONFIG_DIR="$work/config"
unset TESSERA_API_KEY TESSERA_PROFILE TESSERA_LOG RUST_LOG
cd "$work"

# N processes started together; the shell waits for all of them.
cat > "$work/race.sh" <<SH
#!/usr/bin/env bash
for _ in \$(seq "\$1"); do "$bin" auth token >/dev/null & done
wait
SH
chmod +x "$work/race.sh"

results=()
for delay in 0 50; do
    python3 "$here/token_server.py" "$delay" > "$work/server.url" &
    server_pid=$!
    for _ in $(seq 50); do [[ -s "$work/server.url" ]] && break; sleep 0.1; done
    url="$(cat "$work/server.url")"
    export TESSERA_URL="$url"

    mkdir -p -m 700 "$TESSERA_CONFIG_DIR"
    printf '[environments.default]\ncurrent_profile = "default"\n\n[profiles.default]\nenvironment = "default"\n' \
        > "$TESSERA_CONFIG_DIR/config.toml"
    seed="$work/expired.toml"
    printf '[profiles.default.oauth]\nmethod = "web"\naccess_token = "at-expired"\nrefresh_token = "rt-0"\nexpires_at = 1000\nclient_id = "tessera-cli"\ntoken_endpoint = "%s/token"\nobtained_at = 0\n' \
        "$url" > "$seed"
    sed 's/^expires_at = 1000$/expires_at = 99999999999/' "$seed" > "$work/valid.toml"
    creds="$TESSERA_CONFIG_DIR/credentials.toml"
    prepare="install -m 600 $seed $creds"
    prepare_valid="install -m 600 $work/valid.toml $creds"

    $prepare
    [[ "$("$bin" auth token)" == at-* ]] || { echo "no token from the refresh" >&2; exit 1; }
    before="$(curl -s "$url/count" | python3 -c 'import json,sys; print(json.load(sys.stdin)["refreshes"])')"

    hyperfine --warmup "$warmup" --runs "$runs" --style basic \
        --export-json "$work/result-$delay.json" \
        --prepare "$prepare" -n "1 process" "$work/race.sh 1" \
        --prepare "$prepare" -n "$processes processes" "$work/race.sh $processes" \
        --prepare "$prepare_valid" -n "$processes processes, valid token" "$work/race.sh $processes"

    after="$(curl -s "$url/count" | python3 -c 'import json,sys; print(json.load(sys.stdin)["refreshes"])')"
    total_runs=$(( 2 * (runs + warmup) ))
    refreshes=$(( after - before ))
    if [[ "$refreshes" -ne "$total_runs" ]]; then
        echo "expected exactly one refresh per run: $refreshes refreshes in $total_runs runs" >&2
        exit 1
    fi
    results+=("$delay:$work/result-$delay.json:$refreshes:$total_runs")
    kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
done

python3 - "$root/bench/RESULTS.md" "$runs" "$processes" "${results[@]}" <<'PY'
import json, sys, datetime, platform, os, re
results_md, runs, processes = sys.argv[1], sys.argv[2], sys.argv[3]
rows, ratios = [], []
for item in sys.argv[4:]:
    delay, path, refreshes, total = item.split(":")
    r = {x["command"]: x for x in json.load(open(path))["results"]}
    one, many = r["1 process"], r[f"{processes} processes"]
    floor = r[f"{processes} processes, valid token"]
    ratio = many["mean"] / one["mean"]
    ratios.append((delay, ratio))
    ms = lambda x: f'{x["mean"]*1000:.1f} ms ± {x["stddev"]*1000:.1f}'
    extra = (many["mean"] - floor["mean"]) * 1000
    rows.append(f"| {delay} ms | {ms(one)} | {ms(many)} | **{ratio:.2f}x** | {ms(floor)} | {extra:.1f} ms | {refreshes} in {total} runs |")
table = "\n".join(rows)
met = [f"{d} ms latency" for d, r in ratios if r <= 1.5]
verdict = "met at " + ", ".join(met) if met else "NOT met in this run"
section = f"""<!-- token-refresh:start -->
## 32 processes with an expired OAuth token vs one

`bench/token-refresh/run.sh`: one hyperfine run per server latency ({runs} runs,
3 warmups each) of one `tessera auth token` with an expired access token, and
of {processes} started together (a shell backgrounds them and waits; the shell is
in both). The credentials file is reset to the expired token before every
run. The token server (`token_server.py`) counts refresh requests: every run
made exactly one, however many processes (they queue on the store's lock
and reuse the token the first one wrote).

| token server latency | 1 process, expired | {processes} processes, expired | ratio | {processes} processes, valid token (no refresh) | expired − valid | refresh requests (expired runs) |
|---|---|---|---|---|---|---|
{table}

Target ≤ 1.5x: {verdict}. The "valid token" column is the floor: the same
{processes} processes when the cached token is still valid (no lock, no network);
"expired − valid" is what the expired token adds to it (the one refresh and
the wait on the lock). Starting {processes} processes on {os.cpu_count()} CPUs is most of the
ratio, and it is what a loaded machine slows down most.

Measured {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on
{platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end
(other builds were running on the machine).
<!-- token-refresh:end -->
"""
sys.path.insert(0, os.path.dirname(os.path.abspath(results_md)))
from results import write_section
write_section(results_md, section)
for delay, ratio in ratios:
    print(f"latency {delay} ms: ratio {ratio:.2f}x")
print(f"written to {results_md}")
PY
