# Shared helpers for scripts/*. Sourced, not run.

step() { printf '\n==> %s\n' "$*" >&2; }

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_cargo_nextest() {
  if ! cargo nextest --version >/dev/null 2>&1; then
    step "installing cargo-nextest"
    cargo install --locked cargo-nextest
  fi
}

# Debian installs the server binaries under /usr/lib/postgresql/<major>/bin.
pg_bin_dir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
  return 1
}

ensure_postgres_binaries() {
  if ! pg_bin_dir >/dev/null; then
    step "installing PostgreSQL (Debian package)"
    apt_install postgresql
  fi
}

# Starts a PostgreSQL that lives only for this run: its own data dir, a free
# loopback port, no listening socket elsewhere. PostgreSQL refuses to run as root,
# so it runs as the `postgres` user when we are root. Sets PG_URL.
start_throwaway_postgres() {
  local bin; bin=$(pg_bin_dir)
  PG_DIR=$(mktemp -d /tmp/tessera-pg.XXXXXX)
  PG_PORT=$(free_port)
  local as=()
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$PG_DIR"
    as=(runuser -u postgres --)
  fi
  "${as[@]}" "$bin/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 >/dev/null
  "${as[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c max_connections=300 -c fsync=off" start >/dev/null
  PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
  PG_AS=("${as[@]}"); PG_BIN=$bin
  export PG_URL PG_DIR PG_PORT
}

stop_throwaway_postgres() {
  [ -n "${PG_DIR:-}" ] || return 0
  "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
}

ensure_redis_server() {
  if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    step "installing Redis (Debian package)"
    apt_install redis-server
  fi
}

# Starts a Redis that lives only for this run: its own directory, a free loopback
# port, a random password, nothing saved to disk. Sets REDIS_URL (password
# included: keep it out of logs), REDIS_PID, REDIS_DIR.
start_throwaway_redis() {
  REDIS_DIR=$(mktemp -d /tmp/tessera-redis.XXXXXX)
  REDIS_PORT=$(free_port)
  local password
  password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
  printf 'requirepass %s\n' "$password" >"$REDIS_DIR/redis.conf"
  redis-server "$REDIS_DIR/redis.conf" --bind 127.0.0.1 --port "$REDIS_PORT" \
    --dir "$REDIS_DIR" --save '' --appendonly no --daemonize no \
    --logfile "$REDIS_DIR/log" &
  REDIS_PID=$!
  local _
  for _ in $(seq 1 100); do
    REDISCLI_AUTH=$password redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && break
    sleep 0.05
  done
  REDISCLI_AUTH=$password redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG ||
    { cat "$REDIS_DIR/log" >&2; return 1; }
  REDIS_URL="redis://:$password@127.0.0.1:$REDIS_PORT"
  export REDIS_URL REDIS_PID REDIS_DIR REDIS_PORT
}

stop_throwaway_redis() {
  [ -n "${REDIS_PID:-}" ] || return 0
  kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null || true
  rm -rf "$REDIS_DIR"
  REDIS_PID=
}

ensure_apt_tools() {
  local missing=() tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  step "installing ${missing[*]} (Debian packages)"
  apt_install "${missing[@]}"
}

# npm dependencies of a test folder, installed from its lockfile into the folder
# (node_modules is git-ignored).
ensure_npm_deps() {
  local dir=$1
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    step "npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# A master key for a throwaway tesserad (32 random bytes, base64).
random_master_key() {
  python3 -c 'import os,base64;print(base64.b64encode(os.urandom(32)).decode())'
}

# Waits up to SECONDS (default 10) for a line matching PATTERN in FILE, as a
# server prints when it listens; otherwise shows ERRFILE (its stderr) and fails.
wait_for_line() { # file, pattern, errfile, seconds
  local seconds=${4:-10}
  for _ in $(seq 1 $((seconds * 10))); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "no line matching '$2' in $1 after $seconds s; the server said:" >&2
  cat "${3:-$1}" >&2 2>/dev/null || true
  return 1
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

ensure_node_and_npm() {
  command -v npm >/dev/null 2>&1 && return 0
  step "installing nodejs and npm (Debian packages)"
  apt_install nodejs npm
}

# The keychain tests (crates/tessera-client/tests/keychain.rs) start their own
# private dbus-daemon and gnome-keyring-daemon, by PID; this installs them.
ensure_secret_service() {
  local missing=()
  command -v dbus-daemon >/dev/null 2>&1 || missing+=(dbus-daemon)
  command -v dbus-send >/dev/null 2>&1 || missing+=(dbus-bin)
  command -v gnome-keyring-daemon >/dev/null 2>&1 || missing+=(gnome-keyring)
  command -v secret-tool >/dev/null 2>&1 || missing+=(libsecret-tools)
  [ ${#missing[@]} -eq 0 ] && return 0
  step "installing ${missing[*]} (Debian packages, for the keychain tests)"
  apt_install "${missing[@]}"
}

# `man -l` checks the generated manual pages (scripts/test); man-db brings
# groff with it.
ensure_man() {
  command -v man >/dev/null 2>&1 && return 0
  step "installing man-db (Debian package, to check the manual pages)"
  apt_install man-db
}

# Writes BIN's manual pages (`BIN man DIR`); fails when none is written or
# `man -l --warnings` warns about one.
check_man_pages() {
  local bin=$1 dir warnings ok=0
  dir=$(mktemp -d)
  "$bin" man "$dir" >/dev/null 2>&1 || ok=1
  ls "$dir"/*.1 >/dev/null 2>&1 || { echo "$bin man: no pages written" >&2; ok=1; }
  for page in "$dir"/*.1; do
    [ -e "$page" ] || continue
    warnings=$(man -l --warnings -E UTF-8 "$page" 2>&1 >/dev/null)
    if [ -n "$warnings" ]; then echo "$(basename "$page"): $warnings" >&2; ok=1; fi
  done
  rm -rf "$dir"
  return $ok
}

# BIN's `completion bash` script loads in bash and registers BIN.
check_bash_completion() {
  local bin=$1
  bash -c "source <(\"$bin\" completion bash) && complete -p $(basename "$bin")" >/dev/null && return 0
  echo "$bin completion bash: does not load in bash" >&2
  return 1
}

ensure_systemd_analyze() {
  if ! command -v systemd-analyze >/dev/null 2>&1; then
    step "installing systemd (Debian package, for systemd-analyze)"
    apt_install systemd
  fi
}

# A Python tool from PyPI in a virtualenv of its own under the user's cache,
# pinned by a requirements file; prints the venv's bin directory. Reinstalled when
# the requirements change.
ensure_python_venv() {
  local requirements=$1 name=$2
  local venv="${XDG_CACHE_HOME:-$HOME/.cache}/tessera-test/$name"
  if ! cmp -s "$requirements" "$venv/requirements.txt" 2>/dev/null; then
    step "installing $(tr '\n' ' ' <"$requirements")(PyPI, into $venv)"
    # Debian's python3 makes venvs only with python3-venv (ensurepip).
    if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then apt_install python3-venv; fi
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
    cp "$requirements" "$venv/requirements.txt"
  fi
  echo "$venv/bin"
}

# schemathesis, pinned in tests/schemathesis/requirements.txt; prints its path.
ensure_schemathesis() {
  echo "$(ensure_python_venv "$1" schemathesis)/schemathesis"
}
