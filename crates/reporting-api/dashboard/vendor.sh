#!/usr/bin/env bash
# Re-vendors uPlot into vendor/uplot/ from the npm package pinned (exactly) in
# tests/dashboard/package.json: uPlot.iife.min.js, uPlot.min.css, LICENSE and a
# VERSION file. The tarball comes from the npm registry through `npm pack` and
# is checked against the integrity recorded in tests/dashboard/package-lock.json.
#
# To upgrade: pin the new version in tests/dashboard/package.json, run
# `npm install` in tests/dashboard (updates the lock), then this script, and
# review the diff. reporting-api embeds the files at build time.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../../.." && pwd)"
PACKAGE_JSON="$REPO_ROOT/tests/dashboard/package.json"
LOCK="$REPO_ROOT/tests/dashboard/package-lock.json"
DEST="$HERE/vendor/uplot"

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

command -v npm >/dev/null || die "npm is missing (apt-get install npm)"

VERSION="$(node -e 'process.stdout.write(String(require(process.argv[1]).devDependencies.uplot || ""))' "$PACKAGE_JSON")"
[[ "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "uplot in $PACKAGE_JSON must be an exact version, not '$VERSION'"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

(cd "$WORK" && npm pack --silent "uplot@$VERSION" >/dev/null)
TARBALL="$WORK/uplot-$VERSION.tgz"
[[ -f "$TARBALL" ]] || die "npm pack did not produce $TARBALL"

if [[ -f "$LOCK" ]]; then
    EXPECTED="$(node -e '
        const lock = require(process.argv[1]);
        const entry = (lock.packages || {})["node_modules/uplot"] || {};
        process.stdout.write(entry.version === process.argv[2] ? String(entry.integrity || "") : "");
    ' "$LOCK" "$VERSION")"
    [[ -n "$EXPECTED" ]] || die "$LOCK does not record uplot $VERSION (run npm install in tests/dashboard)"
    ACTUAL="sha512-$(openssl dgst -sha512 -binary "$TARBALL" | base64 -w0)"
    [[ "$ACTUAL" == "$EXPECTED" ]] || die "uplot-$VERSION.tgz does not match the integrity in $LOCK"
fi

tar -xzf "$TARBALL" -C "$WORK"
mkdir -p "$DEST"
cp "$WORK/package/dist/uPlot.iife.min.js" "$WORK/package/dist/uPlot.min.css" "$WORK/package/LICENSE" "$DEST/"
printf '%s\n' "$VERSION" >"$DEST/VERSION"
printf 'vendored uplot %s into %s\n' "$VERSION" "${DEST#"$REPO_ROOT"/}"
