"""A tiny HTTP proxy on 127.0.0.1 in front of the local stack, for the failures a client must
survive: it can drop the first answer of each write (the write lands; its answer never arrives)
and it can answer the next requests itself (a 429, a 503 with `Retry-After`...)."""

from __future__ import annotations

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
FORWARDED_HEADERS = {"authorization", "content-type", "accept", "idempotency-key", "if-match"}


class Proxy:
    def __init__(self, upstream: str):
        self.upstream = upstream
        self.drop_first_answer_of_writes = False
        self.canned: list[tuple[int, dict[str, str], bytes]] = []  # answered instead of forwarding, in order
        self.forwarded: Counter[tuple[str, str, bytes, str | None]] = Counter()  # method, path, body, key
        self.received = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def answer_next(self, status: int, body: bytes = b"", **headers: str) -> None:
        self.canned.append((status, {"Content-Type": "application/json", **headers}, body))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def serve(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        with self._lock:
            self.received += 1
            canned = self.canned.pop(0) if self.canned else None
        if canned is not None:
            return _reply(request, *canned)
        headers = {k: v for k, v in request.headers.items() if k.lower() in FORWARDED_HEADERS}
        answer = requests.request(request.command, self.upstream + request.path, data=body, headers=headers, timeout=30)
        write = (request.command, request.path.split("?")[0], body, request.headers.get("Idempotency-Key"))
        with self._lock:
            self.forwarded[write] += 1
            drop = request.command in WRITES and self.drop_first_answer_of_writes and self.forwarded[write] == 1
        if drop:  # the write landed upstream; close without a word, as a dropped connection would
            request.close_connection = True
            return
        _reply(request, answer.status_code, {"Content-Type": answer.headers.get("Content-Type", "")}, answer.content)


def _reply(request: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes) -> None:
    request.send_response(status)
    for name, value in headers.items():
        request.send_header(name, value)
    request.send_header("Content-Length", str(len(body)))
    request.end_headers()
    request.wfile.write(body)


def _handler(proxy: Proxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            proxy.serve(self)

        do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

        def log_message(self, *_: object) -> None:
            pass

    return Handler
