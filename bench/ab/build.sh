#!/usr/bin/env bash
# Builds `tesserad` (and `tessera`) of each COMMIT into bench/ab/bin/NAME-SHORTHASH,
# each in a throwaway worktree, all with the same compiler settings (no LTO, 16
# codegen units, symbols kept), so that bench/ab/run.sh compares code, not
# profiles. One shared target directory keeps the dependencies built once.
#
# Usage: bench/ab/build.sh COMMIT...     e.g. bench/ab/build.sh d6dfb61 HEAD
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 1 ] || { echo "usage: $0 COMMIT..." >&2; exit 2; }
out=$PWD/bench/ab/bin
mkdir -p "$out"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/tessera-bench-ab-target}
export CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
  CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_INCREMENTAL=false
for commit in "$@"; do
  short=$(git rev-parse --short "$commit")
  tree=$(mktemp -d /tmp/tessera-bench-ab-tree.XXXXXX)
  git worktree add --quiet --detach "$tree" "$short"
  (cd "$tree" && cargo build --release --quiet -p tessera-server --bin tesserad -p tessera-cli --bin tessera)
  cp "$CARGO_TARGET_DIR/release/tesserad" "$out/tesserad-$short"
  cp "$CARGO_TARGET_DIR/release/tessera" "$out/tessera-$short"
  git worktree remove --force "$tree"
  echo "$out/tesserad-$short $out/tessera-$short"
done
