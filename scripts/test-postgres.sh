#!/usr/bin/env bash
# Throwaway PostgreSQL server for Postier's test suite.
#
# Usage: bash scripts/test-postgres.sh COMMAND [ARGS]
#
#   start [DIR]     Initialise a fresh cluster in DIR (default: a new mktemp
#                   dir under /tmp), start it on 127.0.0.1 and create the
#                   database postier_test. Prints ONE line on stdout: the URL.
#                   If a server from this script is already known (state
#                   file), it is (re)started if needed and its URL printed.
#   stop            Stop the server and delete its directory and state file.
#   stop-server [fast|immediate|smart]
#                   Stop the server but keep its data (default mode: fast;
#                   "immediate" simulates a crash: recovery runs on restart).
#   start-server    Start a stopped server again on the same port, same data.
#                   Prints the URL.
#   restart [MODE]  stop-server MODE + start-server. Prints the URL.
#   url             Print the URL of the known server.
#   status          Exit 0 if the server is running and accepting connections.
#
# Environment:
#   PGPORT             port to use (default 54329; when unset and 54329 is
#                      busy, the next free port up to 54429 is used)
#   POSTIER_PG_STATE   state file (default /tmp/postier-test-pg.state)
#   POSTIER_PG_BIN     PostgreSQL bin dir (default: highest
#                      /usr/lib/postgresql/*/bin)
#
# As root, the server runs as the "postgres" system user (created if missing);
# otherwise it runs as the current user. Everything but the URL goes to stderr.

set -euo pipefail

STATE_FILE="${POSTIER_PG_STATE:-/tmp/postier-test-pg.state}"
DB_NAME="postier_test"
DB_USER="postgres"
DEFAULT_PORT=54329
MARKER=".postier-test-pg"

log() { printf 'test-postgres: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- helpers --

find_bin() {
  if [[ -n "${POSTIER_PG_BIN:-}" ]]; then
    [[ -x "$POSTIER_PG_BIN/initdb" ]] || die "POSTIER_PG_BIN=$POSTIER_PG_BIN has no initdb"
    printf '%s\n' "$POSTIER_PG_BIN"
    return
  fi
  local d best=""
  # Highest major version first (sort -V handles 9.6 < 10 < 15 < 16).
  while IFS= read -r d; do
    if [[ -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/postgres" ]]; then
      best="$d"
    fi
  done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -V)
  if [[ -z "$best" ]]; then
    local i
    if i="$(command -v initdb 2>/dev/null)"; then best="$(dirname "$(readlink -f "$i")")"; fi
  fi
  [[ -n "$best" ]] || die "no PostgreSQL binaries found (install the 'postgresql' package)"
  printf '%s\n' "$best"
}

# Run a command as the server owner (postgres when root, else ourselves),
# from a directory the owner can read.
as_owner() {
  if [[ "$(id -u)" -eq 0 ]]; then
    if command -v runuser >/dev/null 2>&1; then
      (cd / && runuser -u postgres -- "$@")
    else
      local q
      q="$(printf '%q ' "$@")"
      (cd / && su postgres -s /bin/sh -c "$q")
    fi
  else
    (cd / && "$@")
  fi
}

ensure_postgres_user() {
  [[ "$(id -u)" -eq 0 ]] || return 0
  if ! id -u postgres >/dev/null 2>&1; then
    log "creating system user 'postgres'"
    if command -v useradd >/dev/null 2>&1; then
      useradd --system --user-group --no-create-home \
        --home-dir /var/lib/postgresql --shell /bin/bash \
        --comment "PostgreSQL administrator" postgres
    else
      adduser --system --group --home /var/lib/postgresql --no-create-home \
        --shell /bin/bash postgres
    fi
  fi
}

port_in_use() {
  # Something accepts TCP connections on 127.0.0.1:$1?
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

choose_port() {
  if [[ -n "${PGPORT:-}" ]]; then
    [[ "$PGPORT" =~ ^[0-9]+$ ]] || die "PGPORT='$PGPORT' is not a number"
    port_in_use "$PGPORT" && die "port $PGPORT (from PGPORT) is already in use"
    printf '%s\n' "$PGPORT"
    return
  fi
  local p
  for ((p = DEFAULT_PORT; p <= DEFAULT_PORT + 100; p++)); do
    if ! port_in_use "$p"; then printf '%s\n' "$p"; return; fi
  done
  die "no free port in $DEFAULT_PORT..$((DEFAULT_PORT + 100))"
}

url_for() { printf 'postgres://%s@127.0.0.1:%s/%s\n' "$DB_USER" "$1" "$DB_NAME"; }

# State file: KEY=VALUE lines, parsed (never sourced).
S_BASE="" S_DATA="" S_PORT="" S_BIN="" S_OWNED=""
load_state() {
  [[ -f "$STATE_FILE" ]] || return 1
  local k v
  S_BASE="" S_DATA="" S_PORT="" S_BIN="" S_OWNED=""
  while IFS='=' read -r k v; do
    case "$k" in
      BASE) S_BASE="$v" ;;
      DATA) S_DATA="$v" ;;
      PORT) S_PORT="$v" ;;
      BIN) S_BIN="$v" ;;
      OWNED) S_OWNED="$v" ;;
    esac
  done < "$STATE_FILE"
  [[ -n "$S_DATA" && -n "$S_PORT" && -n "$S_BIN" && -n "$S_BASE" ]] || {
    log "ignoring malformed state file $STATE_FILE"
    return 1
  }
}

save_state() {
  local tmp
  tmp="$(mktemp "${STATE_FILE}.XXXXXX")"
  printf 'BASE=%s\nDATA=%s\nPORT=%s\nBIN=%s\nOWNED=%s\n' \
    "$S_BASE" "$S_DATA" "$S_PORT" "$S_BIN" "$S_OWNED" > "$tmp"
  chmod 644 "$tmp"
  mv -f "$tmp" "$STATE_FILE"
}

# PID of a live postmaster for $S_DATA, or failure. A zombie (killed but not
# yet reaped, common in containers without an init) counts as dead.
postmaster_pid() {
  local pid st
  [[ -f "$S_DATA/postmaster.pid" ]] || return 1
  pid="$(head -n 1 "$S_DATA/postmaster.pid" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/stat" ]] || return 1
  st="$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)"
  [[ -n "$st" && "$st" != Z && "$st" != X ]] || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == postgres* ]] || return 1
  printf '%s\n' "$pid"
}

# Live (non-zombie) processes whose working directory is the data dir, i.e.
# the postmaster and its backends.
cluster_pids() {
  local d p st
  for d in /proc/[0-9]*; do
    [[ "$(readlink "$d/cwd" 2>/dev/null)" == "$S_DATA" ]] || continue
    st="$(sed 's/^.*) //' "$d/stat" 2>/dev/null | cut -d' ' -f1)"
    [[ -n "$st" && "$st" != Z && "$st" != X ]] || continue
    p="${d#/proc/}"
    printf '%s\n' "$p"
  done
}

# After a kill -9 of the postmaster in a container without a reaping init,
# the dead postmaster stays a zombie and postgres refuses to start ("lock file
# ... already exists"). Once its orphaned backends are gone, lock files that
# name a zombie are stale and can be removed.
pid_is_zombie() {
  local st
  [[ "$1" =~ ^[0-9]+$ && -r "/proc/$1/stat" ]] || return 1
  st="$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)"
  [[ "$st" == Z ]]
}

clear_stale_pidfile() {
  postmaster_pid >/dev/null && return 0
  local f pid i waited=0
  for f in "$S_DATA/postmaster.pid" "$S_BASE/.s.PGSQL.$S_PORT.lock"; do
    [[ -f "$f" ]] || continue
    pid="$(head -n 1 "$f" 2>/dev/null || true)"
    pid="${pid#-}"   # socket lock files may store -PID
    pid_is_zombie "$pid" || continue   # dead+reaped pids: postgres copes
    if [[ "$waited" == 0 ]]; then
      for ((i = 0; i < 60; i++)); do
        [[ -z "$(cluster_pids)" ]] && break
        sleep 0.5
      done
      [[ -z "$(cluster_pids)" ]] ||
        die "old server processes still running in $S_DATA: $(cluster_pids | tr '\n' ' ')"
      waited=1
    fi
    log "removing stale $(basename "$f") (postmaster $pid is a zombie)"
    rm -f "$f"
  done
}

server_running() {
  [[ -d "$S_DATA" ]] || return 1
  postmaster_pid >/dev/null
}

server_ready() {
  "$S_BIN/pg_isready" -q -h 127.0.0.1 -p "$S_PORT" -d postgres -U "$DB_USER" -t 2 >/dev/null 2>&1
}

psql_q() {
  # psql as the superuser over TCP; explicit args override any PG* env vars.
  PGOPTIONS='' PGPASSWORD='' "$S_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "$S_PORT" -U "$DB_USER" -d postgres "$@"
}

show_log_tail() {
  local f="$S_BASE/postgres.log"
  if [[ -f "$f" ]]; then
    log "---- last lines of $f ----"
    tail -n 30 "$f" >&2 || true
  fi
}

wait_ready() {
  local i
  for ((i = 0; i < 120; i++)); do
    server_ready && return 0
    sleep 0.5
  done
  show_log_tail
  die "server on port $S_PORT did not become ready within 60s"
}

ensure_database() {
  local exists
  exists="$(psql_q -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")"
  if [[ "$exists" != "1" ]]; then
    log "creating database $DB_NAME"
    psql_q -c "CREATE DATABASE $DB_NAME" >&2
  fi
}

do_start_server() {
  if server_running; then
    log "server already running (data: $S_DATA, port $S_PORT)"
  else
    port_in_use "$S_PORT" && die "port $S_PORT is taken by another process; cannot start server"
    # A postmaster.pid left by a killed server is normally handled by postgres
    # itself; only the zombie case needs help.
    clear_stale_pidfile
    log "starting server (data: $S_DATA, port $S_PORT)"
    if ! as_owner "$S_BIN/pg_ctl" -D "$S_DATA" -l "$S_BASE/postgres.log" \
        -w -t 60 start >&2; then
      show_log_tail
      die "pg_ctl start failed"
    fi
  fi
  wait_ready
}

do_stop_server() {
  local mode="${1:-fast}" what="${2:-data kept in $S_DATA}"
  case "$mode" in fast|immediate|smart) ;; *) die "unknown stop mode '$mode'" ;; esac
  if server_running; then
    log "stopping server (mode: $mode, $what)"
    if ! as_owner "$S_BIN/pg_ctl" -D "$S_DATA" -m "$mode" -w -t 60 stop >&2; then
      log "pg_ctl stop -m $mode failed; trying immediate"
      as_owner "$S_BIN/pg_ctl" -D "$S_DATA" -m immediate -w -t 30 stop >&2 || true
    fi
  else
    log "server not running"
  fi
  # Last resort: kill the postmaster if it is still alive.
  local pid
  if pid="$(postmaster_pid)"; then
    log "killing leftover postmaster $pid"
    kill -9 "$pid" 2>/dev/null || true
    sleep 1
  fi
}

# --------------------------------------------------------------- commands --

cmd_start() {
  local dir="${1:-}"
  if load_state; then
    if [[ -d "$S_DATA" ]]; then
      [[ -z "$dir" || "$dir" == "$S_BASE" ]] ||
        log "note: a server is already registered in $S_BASE; ignoring '$dir'"
      do_start_server
      ensure_database
      url_for "$S_PORT"
      return
    fi
    log "stale state file (data dir $S_DATA is gone); starting fresh"
    rm -f "$STATE_FILE"
  fi

  ensure_postgres_user
  S_BIN="$(find_bin)"
  log "using PostgreSQL binaries in $S_BIN ($("$S_BIN/postgres" --version))"
  S_PORT="$(choose_port)"

  if [[ -n "$dir" ]]; then
    if [[ -e "$dir" ]]; then
      [[ -d "$dir" ]] || die "$dir exists and is not a directory"
      [[ -z "$(ls -A "$dir")" ]] || die "$dir is not empty"
      S_OWNED=0
    else
      mkdir -p "$dir"
      S_OWNED=1
    fi
    S_BASE="$(cd "$dir" && pwd -P)"
  else
    S_BASE="$(mktemp -d /tmp/postier-pg.XXXXXX)"
    S_OWNED=1
  fi
  S_DATA="$S_BASE/data"
  # Unix socket paths are limited to ~107 bytes.
  (( ${#S_BASE} <= 80 )) || die "directory path too long for a Unix socket: $S_BASE"
  touch "$S_BASE/$MARKER"

  if [[ "$(id -u)" -eq 0 ]]; then
    chown -R postgres: "$S_BASE"
    chmod 700 "$S_BASE"
    as_owner test -w "$S_BASE" ||
      die "user postgres cannot write to $S_BASE (check parent directory permissions)"
  fi

  # Register state before initdb so that 'stop' can clean up a failed start.
  save_state

  log "initialising cluster in $S_DATA"
  if ! as_owner "$S_BIN/initdb" -D "$S_DATA" -U "$DB_USER" --auth=trust \
      --encoding=UTF8 --locale=C >"$S_BASE/initdb.log" 2>&1; then
    cat "$S_BASE/initdb.log" >&2 || true
    die "initdb failed"
  fi

  # Only reachable from this machine; trust auth for the socket and loopback.
  cat > "$S_DATA/pg_hba.conf" <<'EOF'
# Throwaway test cluster (scripts/test-postgres.sh): trust on loopback only.
local   all   all                  trust
host    all   all   127.0.0.1/32   trust
host    all   all   ::1/128        trust
EOF
  cat >> "$S_DATA/postgresql.conf" <<EOF

# ---- scripts/test-postgres.sh ----
listen_addresses = '127.0.0.1'
port = $S_PORT
unix_socket_directories = '$S_BASE'
max_connections = 200
shared_buffers = 128MB
# Durability stays ON: the chaos tests kill/restart the server and must see
# real crash-recovery behaviour.
fsync = on
synchronous_commit = on
full_page_writes = on
timezone = 'UTC'
log_timezone = 'UTC'
logging_collector = off
log_min_messages = warning
log_min_error_statement = error
EOF
  if [[ "$(id -u)" -eq 0 ]]; then
    chown postgres: "$S_DATA/pg_hba.conf" "$S_DATA/postgresql.conf"
  fi

  do_start_server
  ensure_database
  log "ready: $(url_for "$S_PORT")"
  url_for "$S_PORT"
}

cmd_stop() {
  if ! load_state; then
    log "no server registered ($STATE_FILE missing); nothing to stop"
    return 0
  fi
  do_stop_server fast "data dir $S_DATA will be removed"
  if [[ -f "$S_BASE/$MARKER" ]]; then
    if [[ "$S_OWNED" == "1" ]]; then
      log "removing $S_BASE"
      rm -rf -- "${S_BASE:?}"
    else
      log "removing cluster files from $S_BASE"
      rm -rf -- "${S_DATA:?}" "${S_BASE:?}/postgres.log" "$S_BASE/initdb.log" \
        "$S_BASE"/.s.PGSQL.* "${S_BASE:?}/${MARKER:?}"
    fi
  else
    log "not removing $S_BASE: marker file missing"
  fi
  rm -f "$STATE_FILE"
}

require_state() {
  load_state || die "no server registered ($STATE_FILE missing); run 'start' first"
  [[ -d "$S_DATA" ]] || die "data directory $S_DATA is gone; run 'stop' then 'start'"
}

main() {
  local cmd="${1:-}"
  [[ $# -gt 0 ]] && shift
  case "$cmd" in
    start) cmd_start "$@" ;;
    stop) cmd_stop ;;
    stop-server) require_state; do_stop_server "${1:-fast}" ;;
    start-server) require_state; do_start_server; url_for "$S_PORT" ;;
    restart) require_state; do_stop_server "${1:-fast}"; do_start_server; url_for "$S_PORT" ;;
    url) require_state; url_for "$S_PORT" ;;
    status)
      require_state
      if server_running && server_ready; then
        log "running: $(url_for "$S_PORT") (data: $S_DATA)"
      else
        log "not running (data: $S_DATA)"
        return 1
      fi
      ;;
    -h|--help|help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//' >&2 ;;
    *) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
}

main "$@"
