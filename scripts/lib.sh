# shellcheck shell=bash disable=SC2034 # the variables set here are for the callers
# Helpers shared by the scripts in this directory. Source it, don't run it.
#
#   env_get NAME DEFAULT      value from the environment, else from ./.env,
#                             else DEFAULT (the same precedence as the binaries:
#                             a real environment variable wins over .env)
#   parse_db_url URL          sets DB_USER DB_PASS DB_HOST DB_PORT DB_NAME
#   db_client_args            sets the array DB_ARGS for `mariadb`/`mysql`
#                             (TCP, host, port, user); the password, if any, is
#                             passed through MYSQL_PWD so it never shows in `ps`
#   url_is_local HOST PORT DEFAULT_PORT
#                             true when HOST:PORT is this machine's default port
#   apt_install PACKAGE…      installs Debian packages (root only; runs
#                             `apt-get update` once per script)
#   free_port                 prints a free TCP port of 127.0.0.1
#   wait_http URL [HINT]      waits (≤ 10 s) for URL to answer 2xx, else dies
#   stop_pids PID…            stops the processes a script started, by pid
#   drop_test_data DB STREAM  drops the database DB (local server) and every
#                             Redis key named after STREAM (the stream, its
#                             dead letters, webhook ids)

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENV_FILE="${ENV_FILE:-$REPO_ROOT/.env}"

log() { printf '%s\n' "$*"; }
warn() { printf '%s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

is_root() { [[ "$(id -u)" -eq 0 ]]; }

APT_UPDATED=0
apt_install() {
    is_root || die "$* missing and only root can install it (run: sudo $0)"
    command -v apt-get >/dev/null || die "$* missing and apt-get is not available; install it yourself"
    if [[ "$APT_UPDATED" == 0 ]]; then
        apt-get update -q >&2
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2
}

# Reads NAME from a dotenv-style file: `NAME=value`, `export NAME=value`,
# optional single or double quotes, `#` comment lines. Prints nothing and
# fails when the file or the key is missing.
dotenv_value() {
    local name="$1" file="${2:-$ENV_FILE}" line value
    [[ -f "$file" ]] || return 1
    line="$(grep -E "^[[:space:]]*(export[[:space:]]+)?${name}[[:space:]]*=" "$file" | tail -n 1)" || return 1
    value="${line#*=}"
    # trim surrounding whitespace
    value="${value#"${value%%[![:space:]]*}"}"
    value="${value%"${value##*[![:space:]]}"}"
    if [[ "$value" == \"*\" && ${#value} -ge 2 ]]; then
        value="${value:1:${#value}-2}"
    elif [[ "$value" == \'*\' && ${#value} -ge 2 ]]; then
        value="${value:1:${#value}-2}"
    else
        # unquoted: a ` #` starts a comment
        value="${value%%[[:space:]]#*}"
    fi
    printf '%s' "$value"
}

env_get() {
    local name="$1" default="${2-}" value
    if [[ -n "${!name:-}" ]]; then
        printf '%s' "${!name}"
    elif value="$(dotenv_value "$name")" && [[ -n "$value" ]]; then
        printf '%s' "$value"
    else
        printf '%s' "$default"
    fi
}

# %XX escapes → bytes (enough for user names, passwords and database names)
urldecode() {
    printf '%b' "${1//%/\\x}"
}

# mysql://user[:password]@host[:port][/database][?params]
parse_db_url() {
    local url="$1" rest auth hostport
    case "$url" in
        mysql://* | mariadb://*) rest="${url#*://}" ;;
        *) die "not a mysql:// URL: ${url%%@*}…" ;;
    esac
    rest="${rest%%\?*}"
    if [[ "$rest" == */* ]]; then
        DB_NAME="${rest#*/}"
        rest="${rest%%/*}"
    else
        DB_NAME=""
    fi
    DB_NAME="$(urldecode "${DB_NAME%/}")"
    if [[ "$rest" == *@* ]]; then
        auth="${rest%@*}"
        hostport="${rest##*@}"
    else
        auth=""
        hostport="$rest"
    fi
    if [[ "$auth" == *:* ]]; then
        DB_USER="$(urldecode "${auth%%:*}")"
        DB_PASS="$(urldecode "${auth#*:}")"
    else
        DB_USER="$(urldecode "$auth")"
        DB_PASS=""
    fi
    if [[ "$hostport" == \[*\]* ]]; then # [ipv6]:port
        DB_HOST="${hostport%%]*}"
        DB_HOST="${DB_HOST#[}"
        DB_PORT="${hostport##*]}"
        DB_PORT="${DB_PORT#:}"
    elif [[ "$hostport" == *:* ]]; then
        DB_HOST="${hostport%%:*}"
        DB_PORT="${hostport##*:}"
    else
        DB_HOST="$hostport"
        DB_PORT=""
    fi
    DB_HOST="${DB_HOST:-127.0.0.1}"
    DB_PORT="${DB_PORT:-3306}"
    DB_USER="${DB_USER:-root}"
}

# Needs parse_db_url first. Exports MYSQL_PWD only when there is a password.
db_client_args() {
    DB_ARGS=(--protocol=TCP -h "$DB_HOST" -P "$DB_PORT" -u "$DB_USER" --connect-timeout=5)
    if [[ -n "$DB_PASS" ]]; then
        export MYSQL_PWD="$DB_PASS"
    else
        unset MYSQL_PWD
    fi
}

# A database name we are willing to splice into SQL between backquotes.
check_db_name() {
    [[ "$1" =~ ^[A-Za-z0-9_$-]{1,64}$ ]] || die "unexpected database name '$1'"
}

url_is_local() {
    local host="$1" port="$2" default_port="$3"
    case "$host" in
        127.0.0.1 | localhost | ::1) [[ "${port:-$default_port}" == "$default_port" ]] ;;
        *) return 1 ;;
    esac
}

# redis://[user[:password]@]host[:port][/db] → REDIS_HOST REDIS_PORT
parse_redis_url() {
    local rest="${1#*://}"
    rest="${rest%%/*}"
    rest="${rest%%\?*}"
    rest="${rest##*@}"
    if [[ "$rest" == \[*\]* ]]; then
        REDIS_HOST="${rest%%]*}"
        REDIS_HOST="${REDIS_HOST#[}"
        REDIS_PORT="${rest##*]}"
        REDIS_PORT="${REDIS_PORT#:}"
    elif [[ "$rest" == *:* ]]; then
        REDIS_HOST="${rest%%:*}"
        REDIS_PORT="${rest##*:}"
    else
        REDIS_HOST="$rest"
        REDIS_PORT=""
    fi
    REDIS_HOST="${REDIS_HOST:-127.0.0.1}"
    REDIS_PORT="${REDIS_PORT:-6379}"
}

DEFAULT_DATABASE_URL="mysql://root@127.0.0.1:3306/clicks_service"
DEFAULT_REDIS_URL="redis://127.0.0.1:6379"
DEFAULT_TEST_DATABASE_URL="mysql://root@127.0.0.1:3306"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_http() {
    local url="$1" hint="${2:-}"
    for _ in $(seq 1 100); do
        if curl -fsS "$url" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    die "$url did not answer${hint:+ ($hint)}"
}

stop_pids() {
    local pid
    for pid in "$@"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}

drop_test_data() {
    local database="$1" stream="$2"
    mysql -h 127.0.0.1 -u root -e "DROP DATABASE IF EXISTS \`$database\`" 2>/dev/null || true
    redis-cli -h 127.0.0.1 --scan --pattern "${stream}*" 2>/dev/null |
        xargs -r redis-cli -h 127.0.0.1 DEL >/dev/null 2>&1 || true
}
