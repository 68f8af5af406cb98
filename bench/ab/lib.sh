# Sourced by bench/ab/run.sh and bench/ab/instructions.sh: the data every load
# needs, and the loads themselves.

# The two binaries to compare (the arguments BIN_A BIN_B), and their names in
# the table (LABEL_A, LABEL_B).
ab_binaries() {
  [ $# -eq 2 ] || { echo "usage: $0 BIN_A BIN_B" >&2; exit 2; }
  bins=("$1" "$2")
  names=("${LABEL_A:-A}" "${LABEL_B:-B}")
}

# ab_seed BIN: in the database of TESSERAD_DATABASE_URL (migrated here), an
# account with an API key and a client_credentials app. Sets AB_KEY,
# AB_CLIENT_ID, AB_CLIENT_SECRET and AB_BASIC (base64 of id:secret).
ab_seed() {
  local bin=$1 app
  "$bin" migrate >/dev/null 2>&1 || true
  "$bin" admin account create --email bench@example.com >/dev/null
  AB_KEY=$("$bin" admin --json api-key create --account bench@example.com |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
  app=$("$bin" admin --json app create --account bench@example.com --name bench --grant client_credentials)
  AB_CLIENT_ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_id"])' "$app")
  AB_CLIENT_SECRET=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_secret"])' "$app")
  AB_BASIC=$(printf '%s:%s' "$AB_CLIENT_ID" "$AB_CLIENT_SECRET" | base64 -w0)
}

# ab_token BASE: sets AB_TOKEN, an access token of the seeded app from BASE.
ab_token() {
  AB_TOKEN=$(curl -sf -u "$AB_CLIENT_ID:$AB_CLIENT_SECRET" -d grant_type=client_credentials "$1/oauth/token" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
}

# ab_each_load FN BASE: calls `FN NAME WRK-ARGS…` for every load, in this order
# (the POST loads get BODY and AUTH in the environment, for bench/ab/post.lua).
ab_each_load() {
  local fn=$1 base=$2
  "$fn" healthz "$base/healthz"
  "$fn" me_key -H "Authorization: token $AB_KEY" "$base/v1/me"
  "$fn" me_bearer -H "Authorization: Bearer $AB_TOKEN" "$base/v1/me"
  AUTH=$AB_BASIC BODY=grant_type=client_credentials "$fn" token -s bench/ab/post.lua "$base/oauth/token"
  AUTH=$AB_BASIC BODY="token=$AB_TOKEN" "$fn" introspect -s bench/ab/post.lua "$base/oauth/introspect"
}

# The loads' names and titles, for the tables (python: eval of this line).
AB_LOADS='[("healthz", "`GET /healthz`"), ("me_key", "`GET /v1/me`, API key"), ("me_bearer", "`GET /v1/me`, Bearer token"), ("token", "`POST /oauth/token`, client_credentials"), ("introspect", "`POST /oauth/introspect`")]'
