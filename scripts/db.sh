#!/usr/bin/env bash
# Small database chores for the Makefile, with the `mariadb` (or `mysql`) client.
#
#   scripts/db.sh create-database      CREATE DATABASE IF NOT EXISTS <the
#                                      database of DATABASE_URL> (utf8mb4_bin)
#   scripts/db.sh drop-test-databases  drop leftover clicks_test_* databases
#                                      (from crashed test runs) on the server of
#                                      TEST_DATABASE_URL; only those whose
#                                      tables are older than
#                                      TEST_DB_STALE_MINUTES (default 30), so a
#                                      test run going on next door keeps its own
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DB_CLIENT="$(command -v mariadb || command -v mysql || true)"
[[ -n "$DB_CLIENT" ]] || die "neither the mariadb nor the mysql client is installed (run: make services)"

sql() { "$DB_CLIENT" "${DB_ARGS[@]}" -N -B "$@"; }

create_database() {
    parse_db_url "$(env_get DATABASE_URL "$DEFAULT_DATABASE_URL")"
    [[ -n "$DB_NAME" ]] || die "DATABASE_URL names no database (mysql://user@host:port/DATABASE)"
    check_db_name "$DB_NAME"
    db_client_args
    sql -e "CREATE DATABASE IF NOT EXISTS \`$DB_NAME\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin" ||
        die "could not create database '$DB_NAME' on $DB_HOST:$DB_PORT as $DB_USER"
    log "database: '$DB_NAME' on $DB_HOST:$DB_PORT is there"
}

drop_test_databases() {
    local minutes="${TEST_DB_STALE_MINUTES:-30}" names name dropped=0
    [[ "$minutes" =~ ^[0-9]+$ ]] || die "TEST_DB_STALE_MINUTES must be a number of minutes"
    parse_db_url "${TEST_DATABASE_URL:-$DEFAULT_TEST_DATABASE_URL}"
    db_client_args
    names="$(sql -e "
        SELECT s.schema_name
        FROM information_schema.schemata s
        LEFT JOIN information_schema.tables t ON t.table_schema = s.schema_name
        WHERE s.schema_name LIKE 'clicks\\_test\\_%'
        GROUP BY s.schema_name
        HAVING COALESCE(MAX(t.create_time), '1970-01-01') < NOW() - INTERVAL $minutes MINUTE")" ||
        die "could not list the test databases on $DB_HOST:$DB_PORT as $DB_USER"
    for name in $names; do
        check_db_name "$name"
        sql -e "DROP DATABASE IF EXISTS \`$name\`"
        dropped=$((dropped + 1))
    done
    log "test databases: dropped $dropped leftover clicks_test_* database(s) on $DB_HOST:$DB_PORT"
}

case "${1:-}" in
    create-database) create_database ;;
    drop-test-databases) drop_test_databases ;;
    *) die "usage: $0 create-database|drop-test-databases" ;;
esac
