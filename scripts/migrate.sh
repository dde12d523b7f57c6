#!/usr/bin/env bash
# Applies every migration to DATABASE_URL (environment, else .env, else
# mysql://root@127.0.0.1:3306/clicks_service), creating the database first when
# it is missing. Safe to run again. Extra arguments go to `migrate` instead of
# `up` (e.g. `scripts/migrate.sh status`).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

DATABASE_URL="$(env_get DATABASE_URL "$DEFAULT_DATABASE_URL")"
export DATABASE_URL

scripts/db.sh create-database
if [[ $# -eq 0 ]]; then
    set -- up
fi
cargo run --release -q -p migration --bin migrate -- "$@"
