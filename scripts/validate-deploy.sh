#!/usr/bin/env bash
# Checks the deployment files offline (a step of `make test`; the tools come
# from scripts/deploy-tools.sh):
#
#   1. the validator rejects each broken fixture of deploy/validate/broken/,
#      for the reason the fixture names (a validator that accepts everything
#      fails here);
#   2. docker-compose.yml, .env.example and every manifest of deploy/k8s pass
#      deploy/validate/validate_deploy.py (JSON schemas of the Compose
#      Specification and of Kubernetes 1.29 and the latest, strict, plus the
#      cross-references, and through deploy/validate/redis_settings.py the
#      Redis settings and compose's Redis Cluster profile); when kustomize
#      (or kubectl) is installed, the output of `kustomize build deploy/k8s` too;
#   3. the nightly export's scheduler (deploy/cron/export-daily.sh) picks the
#      right next run;
#   4. promtool checks the alert rules of deploy/observability/ and runs their
#      unit tests (each alert fires on its situation, none on a healthy one),
#      and parses every query of the Grafana dashboard (the validator checks
#      that each names only metrics the binaries register).
#
# The gateway's nginx configuration is run for real by the gateway crate's
# test (cargo nextest run -p gateway).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

PYTHON="$REPO_ROOT/.venv-deploy/bin/python"
VALIDATOR=deploy/validate/validate_deploy.py
[[ -x "$PYTHON" ]] || die "the validators are not installed (run: scripts/deploy-tools.sh)"

log "deploy: the validator rejects the broken fixtures"
"$PYTHON" "$VALIDATOR" --expect-failure deploy/validate/broken/*

rendered="$(mktemp)"
dashboard_queries="$(mktemp --suffix=.yml)"
trap 'rm -f "$rendered" "$dashboard_queries"' EXIT
export DASHBOARD_QUERIES="$dashboard_queries"
if command -v kustomize >/dev/null; then
    kustomize build deploy/k8s >"$rendered"
    export KUSTOMIZE_OUTPUT="$rendered"
elif command -v kubectl >/dev/null; then
    kubectl kustomize deploy/k8s >"$rendered"
    export KUSTOMIZE_OUTPUT="$rendered"
else
    log "deploy: neither kustomize nor kubectl is installed; checking the manifests file by file only"
fi
log "deploy: the deployment files"
"$PYTHON" "$VALIDATOR"

log "deploy: the export scheduler"
check_next() {
    local now="$1" times="$2" expected="$3" got
    got="$(EXPORT_TIMES="$times" deploy/cron/export-daily.sh --next "$now")"
    [[ "$got" == "$expected" ]] || die "export-daily --next $now with EXPORT_TIMES='$times': $got, expected $expected"
}
check_next 2025-06-10T00:00:00Z "00:30 06:30" 2025-06-10T00:30:00Z
check_next 2025-06-10T00:30:00Z "00:30 06:30" 2025-06-10T06:30:00Z
check_next 2025-06-10T23:59:59Z "00:30 06:30" 2025-06-11T00:30:00Z
check_next 2025-12-31T07:00:00Z "06:30 00:30" 2026-01-01T00:30:00Z
if EXPORT_TIMES="25:99" deploy/cron/export-daily.sh --next 2025-06-10T00:00:00Z >/dev/null 2>&1; then
    die "export-daily accepted EXPORT_TIMES=25:99"
fi
log "ok   deploy/cron/export-daily.sh: next runs"

log "deploy: the alert rules"
command -v promtool >/dev/null || die "promtool is not installed (run: scripts/deploy-tools.sh)"
promtool check rules deploy/observability/alerts.yml >/dev/null
(cd deploy/observability && promtool test rules alerts_test.yml >/dev/null)
log "ok   deploy/observability/alerts.yml: checked, unit tests pass"
promtool check rules "$dashboard_queries" >/dev/null
log "ok   deploy/observability/grafana-dashboard.json: every query parses"
