#!/usr/bin/env bash
# The reports dashboard's browser test: tests/dashboard/dashboard.test.mjs
# (Node's test runner, playwright-core driving Debian's Chromium) against
# ingest, worker and reporting-api running on a database and stream of
# their own. It posts known clicks through ingest, waits for the worker to
# store them and checks every number the page shows against the API.
# Screenshots go to target/artifacts/dashboard (dashboard.png,
# dashboard-phone.png, and failure.png when a step fails).
#
# Expects the debug binaries (`cargo build --bins`) and the local services;
# installs Chromium (apt) and the test's npm packages (npm ci) when missing.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

TESTS="$REPO_ROOT/tests/dashboard"
LOCK="$TESTS/package-lock.json"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
BIN="$REPO_ROOT/target/debug"
SERVER="mysql://root@127.0.0.1:3306"
REDIS="redis://127.0.0.1:6379"
SUFFIX="dashboard_$$"
DATABASE="clicks_test_${SUFFIX}"
STREAM="clicks-test-${SUFFIX}"
KEY="dashboard-webhook-key-$$"
API_KEY="dashboard-api-key-$$"
ARTIFACT_DIR="$REPO_ROOT/target/artifacts/dashboard"
LOGS="$ARTIFACT_DIR/logs"
PIDS=()

ensure_chromium() {
    if [[ ! -x "$CHROMIUM" ]]; then
        apt_install chromium
        log "dashboard: installed chromium"
    fi
}

ensure_node_modules() {
    local stamp="$TESTS/node_modules/.package-lock.stamp"
    if [[ -d "$TESTS/node_modules/playwright-core" ]] && cmp -s "$LOCK" "$stamp"; then
        return 0
    fi
    if ! command -v npm >/dev/null; then
        apt_install nodejs npm
    fi
    (cd "$TESTS" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$LOCK" "$stamp"
    log "dashboard: installed the test's npm packages into tests/dashboard/node_modules"
}

cleanup() {
    local status=$? name
    if ((status != 0)) && [[ -d "$LOGS" ]]; then
        for name in ingest worker reporting-api; do
            [[ -s "$LOGS/$name.log" ]] && warn "--- last lines of $name's log" && tail -n 20 "$LOGS/$name.log" >&2
        done
    fi
    stop_pids "${PIDS[@]}"
    drop_test_data "$DATABASE" "$STREAM"
}
trap cleanup EXIT

ensure_chromium
ensure_node_modules
for binary in ingest worker reporting-api migrate; do
    [[ -x "$BIN/$binary" ]] || die "dashboard: $BIN/$binary is missing (cargo build --bins)"
done

mkdir -p "$LOGS"
mysql -h 127.0.0.1 -u root -e "CREATE DATABASE \`$DATABASE\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
RUST_LOG=warn DATABASE_URL="$SERVER/$DATABASE" "$BIN/migrate" >/dev/null

INGEST_PORT="$(free_port)"
WORKER_PORT="$(free_port)"
REPORTING_PORT="$(free_port)"
RUST_LOG=warn WEBHOOK_SECRET_KEY="$KEY" REDIS_URL="$REDIS" CLICKS_QUEUE_NAME="$STREAM" CLICKS_STREAM_SHARDS=1 \
    INGEST_BIND="127.0.0.1:$INGEST_PORT" INGEST_HTTP_WORKERS=2 "$BIN/ingest" >"$LOGS/ingest.log" 2>&1 &
PIDS+=("$!")
RUST_LOG=warn DATABASE_URL="$SERVER/$DATABASE" REDIS_URL="$REDIS" CLICKS_QUEUE_NAME="$STREAM" CLICKS_STREAM_SHARDS=1 \
    WORKER_BIND="127.0.0.1:$WORKER_PORT" WORKER_CONCURRENCY=1 WORKER_BLOCK_MS=200 "$BIN/worker" >"$LOGS/worker.log" 2>&1 &
PIDS+=("$!")
RUST_LOG=warn DATABASE_URL="$SERVER/$DATABASE" REDIS_URL="$REDIS" REPORTING_API_KEYS="$API_KEY" \
    REPORTING_BIND="127.0.0.1:$REPORTING_PORT" "$BIN/reporting-api" >"$LOGS/reporting-api.log" 2>&1 &
PIDS+=("$!")
wait_http "http://127.0.0.1:$INGEST_PORT/livez" "logs in ${LOGS#"$REPO_ROOT"/}"
wait_http "http://127.0.0.1:$WORKER_PORT/livez" "logs in ${LOGS#"$REPO_ROOT"/}"
wait_http "http://127.0.0.1:$REPORTING_PORT/livez" "logs in ${LOGS#"$REPO_ROOT"/}"

log "+ node --test tests/dashboard/dashboard.test.mjs"
REPORTING_URL="http://127.0.0.1:$REPORTING_PORT" INGEST_URL="http://127.0.0.1:$INGEST_PORT" \
    WEBHOOK_KEY="$KEY" API_KEY="$API_KEY" ARTIFACT_DIR="$ARTIFACT_DIR" CHROMIUM="$CHROMIUM" \
    node --test --test-reporter=spec "$TESTS/dashboard.test.mjs"
log "dashboard: the page shows what the API answers (screenshots in ${ARTIFACT_DIR#"$REPO_ROOT"/})"

# The operators' dashboard and alert rules against what the three binaries,
# having served that traffic, really export: a renamed metric fails here.
VALIDATOR_PYTHON="$REPO_ROOT/.venv-deploy/bin/python"
[[ -x "$VALIDATOR_PYTHON" ]] || die "dashboard: the deployment validators are missing (scripts/deploy-tools.sh)"
for port in "$INGEST_PORT" "$WORKER_PORT" "$REPORTING_PORT"; do
    curl -fsS "http://127.0.0.1:$port/metrics" >"$LOGS/metrics-$port.txt"
done
"$VALIDATOR_PYTHON" deploy/validate/validate_deploy.py --live-metrics "$LOGS"/metrics-*.txt
if "$VALIDATOR_PYTHON" deploy/validate/validate_deploy.py --live-metrics "$LOGS/metrics-$INGEST_PORT.txt" >/dev/null; then
    die "dashboard: the live-metrics check passed on ingest's scrape alone; it checks nothing"
fi
