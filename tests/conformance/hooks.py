"""Schemathesis hooks of scripts/conformance.sh.

ingest verifies `X-Signature: sha256=<hex>` over the raw body before it
parses anything, so unsigned requests would only ever reach its 401. Each
webhook body is signed here with the run's key, over exactly the bytes the
transport will send: raw bytes as they are, anything else as `requests`
serialises `json=` (json.dumps with its defaults, UTF-8). The case itself is
left as generated, so schemathesis still judges it by what it generated.
"""

import hashlib
import hmac
import json
import os

import schemathesis
from hypothesis.internal import lambda_sources
from schemathesis.core import NotSet
from schemathesis.core.parameters import ParameterLocation

KEY = os.environ["CONFORMANCE_WEBHOOK_KEY"].encode()

# Hypothesis describes a strategy's lambdas (only for its repr) by parsing
# their module's source with `ast`, and a draw can do that deep in the stack,
# where CPython 3.11's AST conversion fails now and then with "SystemError:
# AST constructor recursion depth mismatch" (a CPython bug). schemathesis
# would report that as a runtime error of whichever operation drew it. The
# description then falls back to hypothesis's own "lambda: <unknown>";
# nothing that is generated or checked changes.
_describe_lambda = lambda_sources._lambda_description


def _lambda_description_or_unknown(f):
    try:
        return _describe_lambda(f)
    except SystemError:
        return "lambda: <unknown>"


lambda_sources._lambda_description = _lambda_description_or_unknown


@schemathesis.hook
def before_call(context, case, kwargs):
    if not case.path.startswith("/api/webhook/"):
        return
    # A case whose headers were made invalid on purpose keeps them: signing
    # it would turn the intended rejection into an acceptance.
    if case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER):
        return
    body = case.body
    if isinstance(body, NotSet):
        body = b""
    elif body is None:
        body = b"null"
    elif not isinstance(body, bytes):
        body = json.dumps(body, allow_nan=False).encode("utf-8")
    digest = hmac.new(KEY, body, hashlib.sha256).hexdigest()
    if case.headers is None:
        case.headers = {}
    case.headers["X-Signature"] = f"sha256={digest}"
