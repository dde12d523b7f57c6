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
from schemathesis.core import NotSet
from schemathesis.core.parameters import ParameterLocation

KEY = os.environ["CONFORMANCE_WEBHOOK_KEY"].encode()


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
