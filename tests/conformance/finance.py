"""A stand-in Finance service for scripts/conformance.sh: `GET /health` and
`POST /clicks` answer 200, so the export endpoints are tested on their
success path. Listens on 127.0.0.1 at the port given as its argument."""

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Finance(BaseHTTPRequestHandler):
    def _ok(self):
        body = b'{"status":"ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._ok()

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self._ok()

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Finance).serve_forever()
