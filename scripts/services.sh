#!/usr/bin/env bash
# Makes sure the local development servers are up: Redis on 127.0.0.1:6379 and
# MariaDB on 127.0.0.1:3306 (root over TCP, empty password). Meant for a Debian
# 12 machine or container without systemd; installs the packages when missing.
# Safe to run any number of times; prints one line per service on stdout.
#
#   SKIP_SERVICES=1   do nothing (you run the servers yourself)
#
# A server is only managed when one of the URLs that use it points at its
# local default address (REDIS_URL or DATABASE_URL from the environment or
# .env, TEST_REDIS_URL or TEST_DATABASE_URL from the environment, as the tests
# read them); when they all point elsewhere the script leaves it alone.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ "${SKIP_SERVICES:-0}" == 1 ]]; then
    log "services: SKIP_SERVICES=1, leaving Redis and MariaDB alone"
    exit 0
fi

REDIS_HOSTADDR=127.0.0.1
REDIS_DEFAULT_PORT=6379
REDIS_DATA_DIR=/var/lib/redis
REDIS_LOG_DIR=/var/log/redis
REDIS_LOG="$REDIS_LOG_DIR/ci.log"
REDIS_WAIT_SECONDS=30

MARIADB_HOSTADDR=127.0.0.1
MARIADB_DEFAULT_PORT=3306
MARIADBD=/usr/sbin/mariadbd
MARIADB_DATADIR=/var/lib/mysql
MARIADB_RUNDIR=/run/mysqld
MARIADB_LOG_DIR=/var/log/mysql
MARIADB_OUT="$MARIADB_LOG_DIR/mariadbd.out"
MARIADB_WAIT_SECONDS=60

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# ---------------------------------------------------------------- Redis

redis_wanted() {
    local url
    for url in "$(env_get REDIS_URL "$DEFAULT_REDIS_URL")" "${TEST_REDIS_URL:-$DEFAULT_REDIS_URL}"; do
        parse_redis_url "$url"
        if url_is_local "$REDIS_HOST" "$REDIS_PORT" "$REDIS_DEFAULT_PORT"; then
            return 0
        fi
    done
    return 1
}

# True when something on the port answers like a Redis server (a password
# protected server answers NOAUTH; it is up, its credentials are yours).
redis_up() {
    local out
    out="$(timeout 5 redis-cli -h "$REDIS_HOSTADDR" -p "$REDIS_DEFAULT_PORT" ping 2>&1)" || true
    case "$out" in
        PONG | *NOAUTH* | *WRONGPASS* | *"Authentication required"*) return 0 ;;
        *) return 1 ;;
    esac
}

ensure_redis() {
    local actions=() deadline
    if ! redis_wanted; then
        log "redis: REDIS_URL and TEST_REDIS_URL point elsewhere, not managing the local server"
        return 0
    fi
    if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
        apt_install redis-server
        actions+=("installed redis-server,")
    fi
    if redis_up; then
        actions+=("already running on $REDIS_HOSTADDR:$REDIS_DEFAULT_PORT")
    else
        if port_open "$REDIS_HOSTADDR" "$REDIS_DEFAULT_PORT"; then
            die "redis: something listens on $REDIS_HOSTADDR:$REDIS_DEFAULT_PORT but does not answer PING"
        fi
        mkdir -p "$REDIS_DATA_DIR" "$REDIS_LOG_DIR"
        redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
            --dir "$REDIS_DATA_DIR" --logfile "$REDIS_LOG"
        deadline=$((SECONDS + REDIS_WAIT_SECONDS))
        until redis_up; do
            if ((SECONDS >= deadline)); then
                warn "redis: no PONG after ${REDIS_WAIT_SECONDS}s; last lines of $REDIS_LOG:"
                tail -n 20 "$REDIS_LOG" >&2 || true
                die "redis did not start"
            fi
            sleep 0.5
        done
        actions+=("started on $REDIS_HOSTADDR:$REDIS_DEFAULT_PORT (log $REDIS_LOG)")
    fi
    log "redis: ${actions[*]}"
}

# -------------------------------------------------------------- MariaDB

mariadb_wanted() {
    local url
    for url in "$(env_get DATABASE_URL "$DEFAULT_DATABASE_URL")" "${TEST_DATABASE_URL:-$DEFAULT_TEST_DATABASE_URL}"; do
        parse_db_url "$url"
        if url_is_local "$DB_HOST" "$DB_PORT" "$MARIADB_DEFAULT_PORT"; then
            return 0
        fi
    done
    return 1
}

# True when a MariaDB server answers on the port, whether or not it lets us in:
# `mariadb-admin ping` succeeds on "access denied" but not on "host is not
# allowed" (a fresh server with skip-name-resolve and no root@127.0.0.1).
mariadb_up() {
    local out
    if out="$(timeout 10 mariadb-admin --protocol=TCP -h "$MARIADB_HOSTADDR" -P "$MARIADB_DEFAULT_PORT" \
        --connect-timeout=2 ping 2>&1)"; then
        return 0
    fi
    [[ "$out" == *"is not allowed to connect"* || "$out" == *"Access denied"* ]]
}

root_over_tcp_works() {
    env -u MYSQL_PWD timeout 10 mariadb --protocol=TCP -h "$MARIADB_HOSTADDR" -P "$MARIADB_DEFAULT_PORT" \
        -uroot --connect-timeout=5 -e 'SELECT 1' >/dev/null 2>&1
}

# Over the unix socket; works for the system root user thanks to unix_socket.
socket_sql() { env -u MYSQL_PWD timeout 20 mariadb -uroot -N -B "$@"; }

# A fresh MariaDB lets root in through the unix socket only. Give root an empty
# password over TCP too (root@localhost is what 127.0.0.1 resolves to without
# skip-name-resolve, root@127.0.0.1 is what it stays with it), unless root has
# a real password already: that is somebody's choice, and we keep it.
ensure_root_over_tcp() {
    local with_password
    if root_over_tcp_works; then
        MARIADB_ACTIONS+=("root over TCP ok")
        return 0
    fi
    if ! is_root || ! socket_sql -e 'SELECT 1' >/dev/null 2>&1; then
        warn "mariadb: root cannot log in over TCP without a password, and the socket is not usable to fix it (run as root, or set DATABASE_URL/TEST_DATABASE_URL with working credentials)"
        MARIADB_ACTIONS+=("root over TCP NOT usable")
        return 0
    fi
    with_password="$(socket_sql -e "
        SELECT COUNT(*) FROM mysql.global_priv
        WHERE user = 'root' AND (
            JSON_VALUE(priv, '\$.authentication_string') NOT IN ('', 'invalid')
            OR JSON_VALUE(priv, '\$.auth_or[0].authentication_string') NOT IN ('', 'invalid')
            OR JSON_VALUE(priv, '\$.auth_or[1].authentication_string') NOT IN ('', 'invalid'))")"
    if [[ "$with_password" != 0 ]]; then
        warn "mariadb: root has a password; not changing it. Put it in DATABASE_URL and TEST_DATABASE_URL (mysql://root:PASSWORD@127.0.0.1:3306/...)"
        MARIADB_ACTIONS+=("root has a password (left as is)")
        return 0
    fi
    socket_sql <<'SQL'
ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket;
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
    root_over_tcp_works || die "mariadb: root still cannot log in over TCP after granting it"
    MARIADB_ACTIONS+=("enabled root over TCP with an empty password")
}

mariadb_log_tail() {
    local f
    for f in "$MARIADB_OUT" "$MARIADB_LOG_DIR/error.log" "$MARIADB_DATADIR/$(hostname).err"; do
        if [[ -s "$f" ]]; then
            warn "--- last lines of $f"
            tail -n 20 "$f" >&2 || true
        fi
    done
}

ensure_mariadb() {
    local deadline
    MARIADB_ACTIONS=()
    if ! mariadb_wanted; then
        log "mariadb: DATABASE_URL and TEST_DATABASE_URL point elsewhere, not managing the local server"
        return 0
    fi
    if [[ ! -x "$MARIADBD" ]]; then
        apt_install mariadb-server mariadb-client
        MARIADB_ACTIONS+=("installed mariadb-server,")
    elif ! command -v mariadb >/dev/null || ! command -v mariadb-admin >/dev/null; then
        apt_install mariadb-client
        MARIADB_ACTIONS+=("installed mariadb-client,")
    fi
    if mariadb_up; then
        MARIADB_ACTIONS+=("already running on $MARIADB_HOSTADDR:$MARIADB_DEFAULT_PORT,")
    else
        is_root || die "mariadb is not running on $MARIADB_HOSTADDR:$MARIADB_DEFAULT_PORT and only root can start it (run: sudo $0)"
        if port_open "$MARIADB_HOSTADDR" "$MARIADB_DEFAULT_PORT"; then
            die "mariadb: something listens on $MARIADB_HOSTADDR:$MARIADB_DEFAULT_PORT but does not answer like MariaDB"
        fi
        install -d -o mysql -g mysql -m 0755 "$MARIADB_RUNDIR"
        install -d -o mysql -g adm -m 2750 "$MARIADB_LOG_DIR"
        if [[ ! -d "$MARIADB_DATADIR/mysql" ]]; then
            install -d -o mysql -g mysql -m 0755 "$MARIADB_DATADIR"
            mariadb-install-db --user=mysql --datadir="$MARIADB_DATADIR" >&2
            MARIADB_ACTIONS+=("initialised $MARIADB_DATADIR,")
        fi
        start-stop-daemon --start --oknodo --background --output "$MARIADB_OUT" \
            --exec "$MARIADBD" -- --user=mysql >&2
        deadline=$((SECONDS + MARIADB_WAIT_SECONDS))
        until mariadb_up; do
            if ((SECONDS >= deadline)); then
                warn "mariadb: not answering on $MARIADB_HOSTADDR:$MARIADB_DEFAULT_PORT after ${MARIADB_WAIT_SECONDS}s"
                mariadb_log_tail
                die "mariadb did not start"
            fi
            sleep 0.5
        done
        MARIADB_ACTIONS+=("started on $MARIADB_HOSTADDR:$MARIADB_DEFAULT_PORT,")
    fi
    ensure_root_over_tcp
    log "mariadb: ${MARIADB_ACTIONS[*]}"
}

ensure_redis
ensure_mariadb
