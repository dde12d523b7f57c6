#!/usr/bin/env bash
# The OpenAPI conformance run of `make test`: schemathesis against the
# documents ingest and reporting-api serve, each binary running on a
# database and stream of its own. Fails on any 5xx, any answer that does not
# match its documented schema, content type or status, any schema-valid
# request refused, any undocumented status. Bounded: each binary gets
# CONFORMANCE_SECONDS (default 25) of generated requests.
#
# Expects the debug binaries (`cargo build --bins`) and the local services;
# Finance is a stand-in (tests/conformance/finance.py) that takes everything.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

VENV="$REPO_ROOT/.venv-conformance"
REQUIREMENTS="$REPO_ROOT/tests/conformance/requirements.txt"
SECONDS_EACH="${CONFORMANCE_SECONDS:-25}"
BIN="$REPO_ROOT/target/debug"
SERVER="mysql://root@127.0.0.1:3306"
SUFFIX="conformance_$$"
DATABASE="clicks_test_${SUFFIX}"
STREAM="clicks-test-${SUFFIX}"
KEY="conformance-key-$$"
API_KEY="conformance-api-key-$$"
PIDS=()

ensure_venv() {
    local stamp="$VENV/.requirements"
    if [[ -x "$VENV/bin/schemathesis" ]] && cmp -s "$REQUIREMENTS" "$stamp"; then
        return 0
    fi
    if ! python3 -c 'import ensurepip' 2>/dev/null; then
        apt_install python3 python3-venv
    fi
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
    cp "$REQUIREMENTS" "$stamp"
    log "conformance: installed schemathesis into $VENV"
}

cleanup() {
    stop_pids "${PIDS[@]}"
    drop_test_data "$DATABASE" "$STREAM"
}
trap cleanup EXIT

ensure_venv
for binary in ingest reporting-api migrate; do
    [[ -x "$BIN/$binary" ]] || die "conformance: $BIN/$binary is missing (cargo build --bins)"
done

mysql -h 127.0.0.1 -u root -e "CREATE DATABASE \`$DATABASE\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
DATABASE_URL="$SERVER/$DATABASE" "$BIN/migrate" >/dev/null

INGEST_PORT="$(free_port)"
REPORTING_PORT="$(free_port)"
FINANCE_PORT="$(free_port)"
python3 "$REPO_ROOT/tests/conformance/finance.py" "$FINANCE_PORT" &
PIDS+=("$!")
RUST_LOG=warn WEBHOOK_SECRET_KEY="$KEY" CLICKS_QUEUE_NAME="$STREAM" \
    INGEST_BIND="127.0.0.1:$INGEST_PORT" INGEST_HTTP_WORKERS=2 "$BIN/ingest" &
PIDS+=("$!")
RUST_LOG=warn DATABASE_URL="$SERVER/$DATABASE" REPORTING_API_KEYS="$API_KEY" \
    REPORTING_BIND="127.0.0.1:$REPORTING_PORT" FINANCE_SERVICE_URL="http://127.0.0.1:$FINANCE_PORT" \
    FINANCE_MAX_RETRIES=0 "$BIN/reporting-api" &
PIDS+=("$!")
wait_http "http://127.0.0.1:$INGEST_PORT/livez"
wait_http "http://127.0.0.1:$REPORTING_PORT/livez"
wait_http "http://127.0.0.1:$FINANCE_PORT/health"

run() {
    local name="$1"
    shift
    log "+ schemathesis: $name ($SECONDS_EACH s)"
    SCHEMATHESIS_HOOKS=hooks CONFORMANCE_WEBHOOK_KEY="$KEY" PYTHONPATH="$REPO_ROOT/tests/conformance" \
        "$VENV/bin/schemathesis" --no-color --config-file "$REPO_ROOT/tests/conformance/schemathesis.toml" run \
        --max-time "$SECONDS_EACH" --workers 2 --seed 1 "$@"
}

run ingest "http://127.0.0.1:$INGEST_PORT/api/openapi.json"
run reporting-api "http://127.0.0.1:$REPORTING_PORT/api/openapi.json" \
    --header "Authorization: Bearer $API_KEY"
log "conformance: both documents match their binaries"
