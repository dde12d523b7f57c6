#!/usr/bin/env bash
# Runs the whole service locally (what `make run` / `make stop` do).
#
#   scripts/run.sh [start]   services, migrations, release build, then ingest,
#                            worker and reporting-api in the background
#                            (logs .run/<name>.log, pids .run/<name>.pid);
#                            restarts the ones a previous start left running
#   scripts/run.sh stop      stops what `start` started
#   scripts/run.sh status    shows what is running
#
# Configuration comes from the environment, then .env (the binaries read it
# too). WEBHOOK_SECRET_KEY defaults to "dev-secret" and REPORTING_API_KEYS to
# "dev-key" when neither sets them.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

RUN_DIR="$REPO_ROOT/.run"
BIN_DIR="$REPO_ROOT/target/release"
NAMES=(ingest worker reporting-api)
HEALTH_WAIT_SECONDS=30
STOP_WAIT_SECONDS=20

# ------------------------------------------------------------ processes

pid_of() {
    local pidfile="$RUN_DIR/$1.pid" pid
    [[ -f "$pidfile" ]] || return 1
    pid="$(<"$pidfile")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    printf '%s' "$pid"
}

# True when PID is alive and is the binary we started (not a recycled pid).
is_ours() {
    local pid="$1" name="$2" argv0
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    argv0="$(tr '\0' '\n' <"/proc/$pid/cmdline" | head -n 1)" || return 1
    [[ "$argv0" == "$BIN_DIR/$name" ]]
}

# True while PID runs (a zombie does not count). Right after `start_one` the
# child may still be the forking shell, so this, not is_ours, is the check then.
alive() {
    local state
    state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
    [[ -n "$state" && "$state" != Z ]]
}

stop_one() {
    local name="$1" pid deadline
    if pid="$(pid_of "$name")" && is_ours "$pid" "$name"; then
        kill -TERM "$pid" 2>/dev/null || true
        deadline=$((SECONDS + STOP_WAIT_SECONDS))
        while kill -0 "$pid" 2>/dev/null; do
            if ((SECONDS >= deadline)); then
                warn "$name (pid $pid) still running after ${STOP_WAIT_SECONDS}s, sending SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
                break
            fi
            sleep 0.2
        done
        log "stopped $name (pid $pid)"
    fi
    rm -f "$RUN_DIR/$name.pid"
}

stop_all() {
    local name
    for name in "${NAMES[@]}"; do
        stop_one "$name"
    done
}

status_all() {
    local name pid
    for name in "${NAMES[@]}"; do
        if pid="$(pid_of "$name")" && is_ours "$pid" "$name"; then
            log "$name: running (pid $pid, log .run/$name.log)"
        else
            log "$name: not running"
        fi
    done
}

start_one() {
    local name="$1"
    shift
    [[ -x "$BIN_DIR/$name" ]] || die "$BIN_DIR/$name is missing (cargo build --release --bins)"
    # setsid: own session, so Ctrl-C in this terminal or the end of `make`
    # leaves it alone; `scripts/run.sh stop` is how it ends.
    setsid "$BIN_DIR/$name" "$@" </dev/null >"$RUN_DIR/$name.log" 2>&1 &
    printf '%s\n' "$!" >"$RUN_DIR/$name.pid"
}

# ---------------------------------------------------------------- health

# "0.0.0.0:8080" → "127.0.0.1:8080"; "[::]:8080" → "[::1]:8080"
local_addr() {
    local bind="$1" host port
    port="${bind##*:}"
    host="${bind%:*}"
    case "$host" in
        "" | 0.0.0.0) host=127.0.0.1 ;;
        "[::]") host="[::1]" ;;
    esac
    printf '%s:%s' "$host" "$port"
}

port_open() {
    local host="${1%:*}" port="${1##*:}"
    host="${host#[}"
    host="${host%]}"
    timeout 2 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null
}

# Succeeds on HTTP 200 from http://ADDR/api/health.
healthy() {
    local addr="$1" host port status
    if command -v curl >/dev/null; then
        curl -fsS -m 3 -o /dev/null "http://$addr/api/health" 2>/dev/null
        return
    fi
    host="${addr%:*}"
    port="${addr##*:}"
    host="${host#[}"
    host="${host%]}"
    # shellcheck disable=SC2016 # expanded by the inner bash
    status="$(timeout 3 bash -c '
        exec 3<>"/dev/tcp/$1/$2" || exit 1
        printf "GET /api/health HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" "$1" >&3
        head -n 1 <&3' _ "$host" "$port" 2>/dev/null)" || return 1
    [[ "$status" == "HTTP/1."?" 200"* ]]
}

show_log_tail() {
    warn "--- last lines of .run/$1.log"
    tail -n 30 "$RUN_DIR/$1.log" >&2 2>/dev/null || true
}

# ----------------------------------------------------------------- demo

hmac_sha256_hex() { # KEY, body on stdin
    if command -v openssl >/dev/null; then
        openssl dgst -sha256 -hmac "$1" | awk '{print $NF}'
    elif command -v python3 >/dev/null; then
        python3 -c 'import hashlib, hmac, sys
print(hmac.new(sys.argv[1].encode(), sys.stdin.buffer.read(), hashlib.sha256).hexdigest())' "$1"
    else
        return 1
    fi
}

first_of_list() { # "a, b" → "a"
    local first="${1%%,*}"
    first="${first#"${first%%[![:space:]]*}"}"
    printf '%s' "${first%"${first##*[![:space:]]}"}"
}

print_usage_examples() {
    local ingest="$1" reporting="$2" worker="$3"
    local key body signature now today api_key mariadb_cmd
    key="$(first_of_list "$WEBHOOK_SECRET_KEY")"
    now="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    today="$(date -u +%Y-%m-%d)"
    body="{\"click_id\":\"demo-$(date -u +%s)\",\"offer_id\":12345,\"source\":\"network_1\",\"timestamp\":\"$now\",\"signature\":\"demo\"}"
    signature="$(printf '%s' "$body" | hmac_sha256_hex "$key")" || signature="<hex HMAC-SHA256 of the body with WEBHOOK_SECRET_KEY (install openssl)>"

    api_key="$(first_of_list "$REPORTING_API_KEYS")"
    [[ "$api_key" == dev-key ]] || api_key='<one of REPORTING_API_KEYS>'

    parse_db_url "$DATABASE_URL"
    mariadb_cmd="mariadb -h$DB_HOST"
    [[ "$DB_PORT" == 3306 ]] || mariadb_cmd+=" -P$DB_PORT"
    mariadb_cmd+=" -u$DB_USER"
    [[ -z "$DB_PASS" ]] || mariadb_cmd+=" -p"
    mariadb_cmd+=" $DB_NAME"

    printf '\nThe clicks service is running (logs in .run/*.log; stop it with: make stop)\n'
    printf '  %-14s %-24s %s\n' \
        ingest "http://$ingest" "POST /api/webhook/clicks, /api/webhook/clicks/batch" \
        reporting-api "http://$reporting" "GET /api/reports/{aggregated,summary}, /api/export/* (Bearer key)" \
        worker "http://$worker" "health and metrics (GET /api/health)"
    cat <<EOF

Send a signed click:

  curl -sS -i http://$ingest/api/webhook/clicks \\
    -H 'Content-Type: application/json' \\
    -H 'X-Signature: sha256=$signature' \\
    --data-binary '$body'

See it stored (the worker writes it within a moment):

  $mariadb_cmd -e 'select * from clicks order by id desc limit 5'

And counted:

  curl -sS -H 'Authorization: Bearer $api_key' 'http://$reporting/api/reports/aggregated?start_date=$today&end_date=$today'
EOF
}

# ----------------------------------------------------------------- start

start_all() {
    local ingest_addr reporting_addr worker_addr name addr pending deadline failed=""
    DATABASE_URL="$(env_get DATABASE_URL "$DEFAULT_DATABASE_URL")"
    WEBHOOK_SECRET_KEY="$(env_get WEBHOOK_SECRET_KEY dev-secret)"
    REPORTING_API_KEYS="$(env_get REPORTING_API_KEYS dev-key)"
    export DATABASE_URL WEBHOOK_SECRET_KEY REPORTING_API_KEYS
    ingest_addr="$(local_addr "$(env_get INGEST_BIND 0.0.0.0:8080)")"
    reporting_addr="$(local_addr "$(env_get REPORTING_BIND 0.0.0.0:8081)")"
    worker_addr="$(local_addr "$(env_get WORKER_BIND 0.0.0.0:8082)")"

    scripts/services.sh
    scripts/migrate.sh
    log "building the release binaries…"
    cargo build --release --bins

    mkdir -p "$RUN_DIR"
    stop_all
    for addr in "$ingest_addr" "$reporting_addr" "$worker_addr"; do
        if port_open "$addr"; then
            die "$addr is already in use by a process this script did not start (see: ss -ltnp)"
        fi
    done

    start_one ingest
    start_one worker
    start_one reporting-api serve
    log "started ingest, worker and reporting-api; waiting for them to be healthy…"

    declare -A health=([ingest]="$ingest_addr" [worker]="$worker_addr" [reporting-api]="$reporting_addr")
    deadline=$((SECONDS + HEALTH_WAIT_SECONDS))
    while :; do
        pending=()
        for name in "${NAMES[@]}"; do
            if ! alive "$(pid_of "$name" || echo 0)"; then
                failed+=" $name"
                warn "$name exited during start-up"
            elif ! healthy "${health[$name]}"; then
                pending+=("$name")
            fi
        done
        [[ -z "$failed" ]] || break
        [[ ${#pending[@]} -gt 0 ]] || break
        if ((SECONDS >= deadline)); then
            failed=" ${pending[*]}"
            warn "not healthy after ${HEALTH_WAIT_SECONDS}s:$failed"
            break
        fi
        sleep 0.5
    done
    if [[ -n "$failed" ]]; then
        for name in $failed; do
            show_log_tail "$name"
        done
        stop_all >&2
        die "make run failed (full logs in .run/)"
    fi

    print_usage_examples "$ingest_addr" "$reporting_addr" "$worker_addr"
}

case "${1:-start}" in
    start) start_all ;;
    stop) stop_all ;;
    status) status_all ;;
    *) die "usage: $0 [start|stop|status]" ;;
esac
