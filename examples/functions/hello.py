#!/usr/bin/env python3
"""A minimal function instance: answers every request with a greeting.

It listens on 127.0.0.1:$PORT (default 9000), speaks HTTP/1.1 with keep-alive, and
answers GET /healthz for readiness checks. GREETING sets the word it greets with.
"""

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/healthz":
            self._send(200, b"ok\n", "text/plain")
            return
        greeting = os.environ.get("GREETING", "hello")
        body = json.dumps({
            "message": f"{greeting} from a function",
            "path": self.path,
            "forwarded_for": self.headers.get("x-forwarded-for"),
            "request_id": self.headers.get("x-request-id"),
        }).encode() + b"\n"
        self._send(200, body, "application/json")

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        self._send(200, body, self.headers.get("content-type") or "application/octet-stream")

    def _send(self, status, body, content_type):
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


def main():
    port = int(os.environ.get("PORT", "9000"))
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
