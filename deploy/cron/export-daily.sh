#!/bin/bash
# The nightly Finance export as a long-running process, for platforms without
# a cron of their own (the `export-cron` service of docker-compose.yml): runs
# `reporting-api export` (yesterday, UTC) at each of EXPORT_TIMES, UTC
# (default "00:30 06:30", the same as clicks-export.crontab). A failed run
# resumes where it stopped at the next time, so the later one only retries
# what is missing; overlapping runs are harmless (the per-date lease).
#
#   export-daily                       run forever
#   export-daily --next 2025-06-10T03:00:00Z
#                                      print the run that follows that instant
set -uo pipefail

read -r -a times <<<"${EXPORT_TIMES:-00:30 06:30}"

# The first of EXPORT_TIMES strictly after $1 (seconds since the epoch).
next_run() {
    local now="$1" day="$(date -u -d "@$1" +%F)" next="" t candidate
    for t in "${times[@]}"; do
        candidate="$(date -u -d "$day $t UTC" +%s)" || return 1
        ((candidate > now)) || candidate="$(date -u -d "$day $t UTC + 1 day" +%s)" || return 1
        if [[ -z "$next" ]] || ((candidate < next)); then
            next="$candidate"
        fi
    done
    printf '%s' "$next"
}

if [[ "${1:-}" == --next ]]; then
    next="$(next_run "$(date -u -d "${2:?--next needs an instant}" +%s)")" || exit 2
    date -u -d "@$next" +%FT%TZ
    exit 0
fi

trap 'exit 0' TERM INT
while true; do
    now="$(date -u +%s)"
    next="$(next_run "$now")" || {
        echo "export-daily: unusable EXPORT_TIMES '${EXPORT_TIMES:-}'" >&2
        exit 2
    }
    echo "export-daily: next export at $(date -u -d "@$next" +%FT%TZ)"
    # In the background, so that a SIGTERM ends the wait at once.
    sleep "$((next - now))" &
    wait $!
    reporting-api export || echo "export-daily: export failed (status $?); the next run resumes it" >&2
done
