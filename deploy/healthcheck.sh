#!/bin/bash
# Container health check without curl: GET /api/health on this container's
# program and succeed on HTTP 200 only (a 503 "unhealthy" fails it).
# The port comes from HEALTH_PORT, else from the program found in PID 1's
# command line (ingest → INGEST_BIND, worker → WORKER_BIND, reporting-api →
# REPORTING_BIND); one-shot commands (migrate, reporting-api export) and
# export-daily, which serves nothing, pass.
set -uo pipefail

port="${HEALTH_PORT:-}"
if [[ -z "$port" ]]; then
    mapfile -d '' -t argv </proc/1/cmdline 2>/dev/null || argv=()
    for i in "${!argv[@]}"; do
        case "${argv[$i]##*/}" in
            ingest) bind="${INGEST_BIND:-0.0.0.0:8080}" ;;
            worker) bind="${WORKER_BIND:-0.0.0.0:8082}" ;;
            reporting-api)
                for arg in "${argv[@]:i+1}"; do
                    [[ "$arg" != export ]] || exit 0
                done
                bind="${REPORTING_BIND:-0.0.0.0:8081}"
                ;;
            migrate | export-daily) exit 0 ;;
            *) continue ;;
        esac
        port="${bind##*:}"
        break
    done
fi
[[ "$port" =~ ^[0-9]+$ ]] || {
    echo "healthcheck: no port (set HEALTH_PORT)" >&2
    exit 1
}

exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
printf 'GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
IFS= read -r -t 4 status <&3 || exit 1
[[ "$status" == "HTTP/1."?" 200"* ]] || {
    echo "healthcheck: ${status%$'\r'}" >&2
    exit 1
}
