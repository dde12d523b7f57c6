#!/usr/bin/env bash
# Installs what the deployment checks of `make test` need, when missing:
#
#   - nginx with its njs module (Debian: nginx, libnginx-mod-http-js), for the
#     gateway test (crates/gateway) that runs deploy/gateway/ for real;
#   - promtool (Debian: prometheus, kept from starting), which checks and
#     unit-tests the alert rules of deploy/observability/;
#   - a virtualenv .venv-deploy with the validators of
#     deploy/validate/requirements.txt, used offline by scripts/validate-deploy.sh.
#
# Safe to run any number of times; the network is used only to install.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NJS_MODULE=/usr/lib/nginx/modules/ngx_http_js_module.so
VENV="$REPO_ROOT/.venv-deploy"
REQUIREMENTS="$REPO_ROOT/deploy/validate/requirements.txt"

# apt_install PACKAGE… with the packages' services kept from starting: a
# policy-rc.d answering 101 while they install (unless one is already there).
apt_install_stopped() {
    local guard=/usr/sbin/policy-rc.d added_guard=0
    if is_root && [[ ! -e "$guard" ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$guard"
        chmod 755 "$guard"
        added_guard=1
    fi
    apt_install "$@" || {
        [[ "$added_guard" == 0 ]] || rm -f "$guard"
        die "could not install $*"
    }
    [[ "$added_guard" == 0 ]] || rm -f "$guard"
}

ensure_nginx() {
    if command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]]; then
        if [[ -f "$NJS_MODULE" ]]; then
            log "nginx: $(/usr/sbin/nginx -v 2>&1 || nginx -v 2>&1) with njs, already installed"
            return 0
        fi
    fi
    # The package would start a system nginx on port 80; the tests start their own.
    apt_install_stopped nginx libnginx-mod-http-js
    [[ -f "$NJS_MODULE" ]] || die "nginx installed but $NJS_MODULE is missing"
    log "nginx: installed nginx and libnginx-mod-http-js"
}

ensure_promtool() {
    if command -v promtool >/dev/null; then
        log "promtool: $(promtool --version 2>&1 | head -1), already installed"
        return 0
    fi
    # The package would start a Prometheus server; only its promtool is used.
    apt_install_stopped --no-install-recommends prometheus
    command -v promtool >/dev/null || die "prometheus installed but promtool is missing"
    log "promtool: installed with Debian's prometheus"
}

ensure_venv() {
    local stamp="$VENV/.requirements"
    if [[ -x "$VENV/bin/python" ]] && cmp -s "$REQUIREMENTS" "$stamp"; then
        log "validators: $VENV up to date"
        return 0
    fi
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
        apt_install python3 python3-venv
    fi
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
    cp "$REQUIREMENTS" "$stamp"
    log "validators: installed $(grep -vc '^#' "$REQUIREMENTS") packages into $VENV"
}

ensure_nginx
ensure_promtool
ensure_venv
