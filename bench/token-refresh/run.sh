#!/usr/bin/env bash
# 32 `tessera auth token` processes starting together with an expired OAuth
# token, against one process doing the same refresh alone: wall time of each
# (hyperfine, same run), and the check that every run made exactly one
# refresh request. Records the ratio in bench/RESULTS.md.
#
# The token server (token_server.py) answers at once, and again with 50 ms of
# added latency standing in for the distance to a real authorization server.
#
# With --baseline BIN (another build of `tessera`, e.g. from bench/ab/build.sh)
# its races run in the same run and get rows of their own: a ratio is compared
# with the baseline's measured beside it, not with a number from another day's
# load. The runs are then split into 4 rounds, the two binaries taking turns to
# go first, and both binaries run from copies in one directory: in one
# hyperfine run the commands go one after another, and whichever went first
# (or ran from the file the linker had just written) was up to 5% off.
#
# Usage: bench/token-refresh/run.sh [--runs N] [--baseline BIN [--baseline-label NAME]]
set -euo pipefail

runs=30
baseline=""
baseline_label=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --baseline) baseline="$(realpath "$2")"; shift 2 ;;
        --baseline-label) baseline_label="$2"; shift 2 ;;
        *) echo "usage: $0 [--runs N] [--baseline BIN [--baseline-label NAME]]" >&2; exit 2 ;;
    esac
done
[[ -z "$baseline" || -x "$baseline" ]] || { echo "--baseline $baseline: not an executable" >&2; exit 2; }
baseline_label="${baseline_label:-$(basename "${baseline:-none}")}"
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
race_script() {
    cat > "$2" <<SH
#!/usr/bin/env bash
for _ in \$(seq "\$1"); do "$1" auth token >/dev/null & done
wait
SH
    chmod +x "$2"
}
install -m 755 "$bin" "$work/tessera"
race_script "$work/tessera" "$work/race.sh"
rounds=1
if [[ -n "$baseline" ]]; then
    install -m 755 "$baseline" "$work/tessera-baseline"
    race_script "$work/tessera-baseline" "$work/race-baseline.sh"
    rounds=4
fi
round_runs=$(( (runs + rounds - 1) / rounds ))

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

    ours=(
        --prepare "$prepare" -n "1 process" "$work/race.sh 1"
        --prepare "$prepare" -n "$processes processes" "$work/race.sh $processes"
        --prepare "$prepare_valid" -n "$processes processes, valid token" "$work/race.sh $processes"
    )
    theirs=(
        --prepare "$prepare" -n "baseline: 1 process" "$work/race-baseline.sh 1"
        --prepare "$prepare" -n "baseline: $processes processes" "$work/race-baseline.sh $processes"
        --prepare "$prepare_valid" -n "baseline: $processes processes, valid token" "$work/race-baseline.sh $processes"
    )
    jsons=()
    for round in $(seq "$rounds"); do
        if [[ -z "$baseline" ]]; then
            commands=("${ours[@]}")
        elif (( round % 2 )); then
            commands=("${ours[@]}" "${theirs[@]}")
        else
            commands=("${theirs[@]}" "${ours[@]}")
        fi
        hyperfine --warmup "$warmup" --runs "$round_runs" --style basic \
            --export-json "$work/result-$delay-$round.json" "${commands[@]}"
        jsons+=("$work/result-$delay-$round.json")
    done
    # One JSON per latency, every round's times together.
    python3 - "$work/result-$delay.json" "${jsons[@]}" <<'PY'
import json, statistics, sys
merged = {}
for path in sys.argv[2:]:
    for r in json.load(open(path))["results"]:
        merged.setdefault(r["command"], []).extend(r["times"])
results = [{"command": c, "times": t, "mean": statistics.mean(t), "stddev": statistics.stdev(t)}
           for c, t in merged.items()]
json.dump({"results": results}, open(sys.argv[1], "w"))
PY

    after="$(curl -s "$url/count" | python3 -c 'import json,sys; print(json.load(sys.stdin)["refreshes"])')"
    total_runs=$(( rounds * 2 * (round_runs + warmup) ))
    [[ -n "$baseline" ]] && total_runs=$(( 2 * total_runs ))
    refreshes=$(( after - before ))
    if [[ "$refreshes" -ne "$total_runs" ]]; then
        echo "expected exactly one refresh per run: $refreshes refreshes in $total_runs runs" >&2
        exit 1
    fi
    results+=("$delay:$work/result-$delay.json:$refreshes:$total_runs")
    kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
done

run_text="$runs runs, $warmup warmups each"
(( rounds > 1 )) && run_text="$rounds rounds of $round_runs runs and $warmup warmups, the two binaries taking turns to go first"
python3 - "$root/bench/RESULTS.md" "$run_text" "$processes" "$baseline_label" "$(git -C "$root" rev-parse --short HEAD)" "${results[@]}" <<'PY'
import json, sys, datetime, platform, os, re
results_md, runs, processes, baseline_label, head = sys.argv[1:6]
rows, ratios, compared = [], [], []
for item in sys.argv[6:]:
    delay, path, refreshes, total = item.split(":")
    r = {x["command"]: x for x in json.load(open(path))["results"]}
    ms = lambda x: f'{x["mean"]*1000:.1f} ms ± {x["stddev"]*1000:.1f}'
    for prefix, label in (("", f"{delay} ms"), ("baseline: ", f"{delay} ms, baseline {baseline_label}")):
        if f"{prefix}1 process" not in r:
            continue
        one, many = r[f"{prefix}1 process"], r[f"{prefix}{processes} processes"]
        floor = r[f"{prefix}{processes} processes, valid token"]
        ratio = many["mean"] / one["mean"]
        if not prefix:
            ratios.append((delay, ratio))
        extra = (many["mean"] - floor["mean"]) * 1000
        # With a baseline the server counted both binaries' refreshes.
        rows.append(f"| {label} | {ms(one)} | {ms(many)} | **{ratio:.2f}x** | {ms(floor)} | {extra:.1f} ms | {refreshes} in {total} runs |")
    if "baseline: 1 process" in r:
        new, old = r[f"{processes} processes"]["mean"], r[f"baseline: {processes} processes"]["mean"]
        compared.append(f"at {delay} ms the {processes} processes take {new/old:.2f}x the baseline's time ({new*1000:.1f} ms against {old*1000:.1f} ms)")
table = "\n".join(rows)
versus = ""
if compared:
    versus = f"\nAgainst the baseline (`{baseline_label}`) in the same run, {head}: " + "; ".join(compared) + ".\n"
met = [f"{d} ms latency" for d, r in ratios if r <= 1.5]
verdict = "met at " + ", ".join(met) if met else "NOT met in this run"
section = f"""<!-- token-refresh:start -->
## 32 processes with an expired OAuth token vs one

`bench/token-refresh/run.sh`: hyperfine per server latency ({runs})
of one `tessera auth token` with an expired access token, and
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
{versus}
Measured {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on
{platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end
(its own {processes} processes count in it).
<!-- token-refresh:end -->
"""
sys.path.insert(0, os.path.dirname(os.path.abspath(results_md)))
from results import write_section
write_section(results_md, section)
for delay, ratio in ratios:
    print(f"latency {delay} ms: ratio {ratio:.2f}x")
print(f"written to {results_md}")
PY
