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

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

ensure_node_and_npm() {
  command -v npm >/dev/null 2>&1 && return 0
  step "installing nodejs and npm (Debian packages)"
  apt_install nodejs npm
}

# man-db's `man`, to check generated man pages (`man -l --warnings`).
ensure_man() {
  if ! command -v man >/dev/null 2>&1; then
    step "installing man-db (Debian package)"
    apt_install man-db
  fi
}

# Renders each man page given; prints groff's warnings and returns non-zero if
# any page has some.
check_man_pages() {
  local page warnings status=0
  for page in "$@"; do
    warnings=$(man -l --warnings -E UTF-8 "$page" 2>&1 >/dev/null) || status=1
    if [ -n "$warnings" ]; then
      printf '%s:\n%s\n' "$page" "$warnings" >&2
      status=1
    fi
  done
  return "$status"
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
