"""`make run`: the billing API on http://127.0.0.1:3000 (BILLING_PORT), served from template.yaml
on the embedded DynamoDB (or BILLING_DYNAMODB_ENDPOINT), sandbox mode on.

  GET  /_local/events?type=<DetailType>     what was published on BillingEventsBus, oldest first
  POST /_local/invoke/{FunctionLogicalId}   deliver an event to a function (`sam local invoke`), then
                                             drain the queues functions read (local_stack/queues.py)
  POST /_local/buses/{BusLogicalId}/events   put events (one, or a list) on a bus, then drain
  GET  /_local/queues/{QueueLogicalId}       the messages waiting in a queue (a dead-letter queue)
  POST /_local/queues/{QueueLogicalId}/drain deliver a queue's messages to its function until empty
  GET  /api/billing/docs                     the API reference (Swagger UI over /api/billing/openapi.json)
  GET  /marketplace                          the storefront (frontend/out/, the static export)
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .database import EmbeddedDynamoDB, client_for, create_tables
from .docs import docs_response, is_docs_path
from .events import LocalEventBus
from .functions import LocalFunction, merged_environment
from .gateway import API_GATEWAY_BODY_LIMIT, ApiGateway, HttpResponse, refusal
from .queues import LocalQueues
from .storefront import is_storefront_path, storefront_response
from .streams import StreamRelay
from .template import Stack

ROOT = Path(__file__).resolve().parent.parent
INVOKE_PREFIX = "/_local/invoke/"
QUEUES_PREFIX = "/_local/queues/"
BUSES_PREFIX = "/_local/buses/"
CLOCK_PATH = "/_local/clock"
TOKEN_PATH = "/_local/token"
EVENTS_PATH = "/_local/events"
REDELIVER_PATH = "/_local/events/redeliver"
EVENTBRIDGE_PATH = "/_local/eventbridge"  # the publisher's EventBridge endpoint (BILLING_EVENTS_ENDPOINT)
UNREAD_INPUT_BYTES, UNREAD_INPUT_SECONDS = 64 << 20, 2.0  # how much of a refused request is read and dropped
SERVER_ERROR_CODES = {
    431: "request_header_fields_too_large",
    414: "uri_too_long",
    501: "method_not_allowed",
    505: "http_version_not_supported",
}


def local_parameters(environ: dict[str, str]) -> dict[str, str]:
    """Template parameters for the local stack, from the environment the README documents."""
    return {
        "Stage": "local",
        "Sandbox": environ.get("BILLING_SANDBOX", "true"),
        "Residencies": environ.get("BILLING_RESIDENCIES", "us,eu"),
        "JwtSecret": environ.get("BILLING_JWT_SECRET", "local-dev-secret"),
        "JwtIssuer": "billing-local",
        "JwtAudience": "billing-api",
        "LogLevel": environ.get("BILLING_LOG_LEVEL", "WARNING"),
        "CorsOrigins": environ.get("BILLING_CORS_ORIGINS", ""),
    }


class LocalStack:
    def __init__(self, template: Path = ROOT / "template.yaml", environ: dict[str, str] | None = None):
        environ = dict(os.environ if environ is None else environ)
        self.database: EmbeddedDynamoDB | None = None
        endpoint = environ.get("BILLING_DYNAMODB_ENDPOINT")
        if not endpoint:
            self.database = EmbeddedDynamoDB().start()
            endpoint = self.database.endpoint
        self.stack = Stack(template, local_parameters(environ))
        specs = self.stack.functions()
        # Fake credentials only matter to the embedded database; a real endpoint uses the caller's.
        defaults = {
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
        if self.database:
            defaults |= {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
        for key, value in defaults.items():
            os.environ.setdefault(key, value)
        os.environ.update(merged_environment(specs))
        os.environ["BILLING_DYNAMODB_ENDPOINT"] = endpoint
        self.endpoint = endpoint
        create_tables(client_for(endpoint, os.environ["AWS_DEFAULT_REGION"]), self.stack.tables())
        self.functions = {name: LocalFunction(spec) for name, spec in specs.items()}  # puts the layer on sys.path
        self.clock = install_test_clock()
        self.queues = install_queues(self.stack, self.functions)
        self.gateway = ApiGateway(self.stack, self.functions)
        self.bus = LocalEventBus(self.clock)
        dynamodb = client_for(endpoint, os.environ["AWS_DEFAULT_REGION"])
        self.relays = [
            StreamRelay(dynamodb, source, self.functions[source.function_id]) for source in self.stack.stream_sources()
        ]

    def publish_events_at(self, base_url: str) -> None:
        """Point the publisher at this server's EventBridge and start relaying the outbox (once the
        server knows its port; every client is built on first use, after this)."""
        os.environ["BILLING_EVENTS_ENDPOINT"] = base_url + EVENTBRIDGE_PATH
        for relay in self.relays:
            relay.written()  # records an external database already holds
            relay.run_in_background()

    def written(self) -> None:
        """A request went to a function: it may have written outbox records."""
        for relay in self.relays:
            relay.written()

    def events_request(self, method: str, query: str, body: bytes) -> HttpResponse:
        """`GET /_local/events?type=`: what was published, after relaying every committed record."""
        from urllib.parse import parse_qs

        if method != "GET":
            return refusal(405, "method_not_allowed", f"{method} /_local/events is not a thing.")
        for relay in self.relays:
            relay.deliver()
        wanted = parse_qs(query).get("type", [None])[0]
        return _json(200, {"items": self.bus.published(wanted)})

    def redeliver(self) -> HttpResponse:
        """`POST /_local/events/redeliver`: the publisher crashed after PutEvents and before the
        stream's checkpoint, so the stream hands it its last batch again."""
        for relay in self.relays:
            relay.deliver()
        return _json(200, {"redelivered": sum(relay.redeliver_last_batch() for relay in self.relays)})

    def eventbridge_request(self, headers: dict[str, str], body: bytes) -> HttpResponse:
        """The few EventBridge calls the publisher makes (JSON 1.1): PutEvents."""
        target = next((v for k, v in headers.items() if k.lower() == "x-amz-target"), "")
        if target != "AWSEvents.PutEvents":
            return _json(400, {"__type": "UnknownOperationException", "message": f"{target} is not served locally"})
        answer = self.bus.put_events(json.loads(body or b"{}"))
        return HttpResponse(200, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(answer).encode())

    def invoke(self, function_id: str, body: bytes) -> HttpResponse:
        """What `sam local invoke` does: the event to the function, its result back as JSON."""
        function = self.functions.get(function_id)
        if function is None:
            return refusal(
                404, "not_found", f"template.yaml has no function {function_id}.", {"functions": sorted(self.functions)}
            )
        try:
            event = json.loads(body or b"{}")
        except ValueError:
            return refusal(400, "malformed_json", "The event is not valid JSON.")
        try:
            result = function.invoke(event)
        except Exception as error:  # Lambda's error shape, as sam local invoke prints it
            traceback.print_exc()
            return _json(500, {"errorType": type(error).__name__, "errorMessage": str(error)})
        self.queues.drain()  # what the function queued (the run's due subscriptions) is worked off
        return _json(200, result)

    def queue_request(self, method: str, path: str, body: bytes) -> HttpResponse:
        """`GET /_local/queues/{id}`: the waiting messages; `POST /_local/queues/{id}/drain`: deliver them."""
        queue, _, action = path[len(QUEUES_PREFIX) :].strip("/").partition("/")
        if queue not in self.queues.specs:
            return refusal(
                404, "not_found", f"template.yaml has no queue {queue}.", {"queues": sorted(self.queues.specs)}
            )
        if method == "GET" and not action:
            return _json(200, {"queue": queue, "messages": self.queues.messages(queue)})
        if method == "POST" and action == "drain":
            if queue not in self.queues.sources:
                return refusal(409, "conflict", f"No function reads {queue}; read it with GET.")
            return _json(200, self.queues.drain(queue))
        return refusal(405, "method_not_allowed", f"{method} {path} is not a thing.")

    def bus_request(self, path: str, body: bytes) -> HttpResponse:
        """`POST /_local/buses/{id}/events` with an event (or a list): PutEvents, then drain."""
        bus, _, action = path[len(BUSES_PREFIX) :].strip("/").partition("/")
        if self.stack.resources.get(bus, {}).get("Type") != "AWS::Events::EventBus" or action != "events":
            return refusal(404, "not_found", f"template.yaml has no event bus {bus}.")
        try:
            events = json.loads(body or b"[]")
        except ValueError:
            return refusal(400, "malformed_json", "The events are not valid JSON.")
        events = events if isinstance(events, list) else [events]
        if not all(isinstance(e, dict) for e in events):
            return refusal(422, "validation_error", "Send an event object or a list of them.")
        routed = self.queues.put_events(bus, events)
        return _json(200, {"routed": routed, "drained": self.queues.drain()})

    def clock_request(self, method: str, body: bytes) -> HttpResponse:
        """`/_local/clock`: read it (GET), move it forward (POST `{"now"}` or `{"advance_seconds"}`),
        or give it back to real time (DELETE)."""
        from billing.domain.values import format_timestamp, parse_timestamp

        if method == "POST":
            try:
                change = json.loads(body or b"{}")
                if (
                    not isinstance(change, dict)
                    or len(change.keys() & {"now", "advance_seconds"}) != 1
                    or len(change) != 1
                ):
                    raise ValueError('send {"now": "<RFC 3339>"} or {"advance_seconds": n}')
                if "now" in change:
                    self.clock.freeze(parse_timestamp(change["now"]))
                else:
                    seconds = change["advance_seconds"]
                    if (
                        isinstance(seconds, bool)
                        or not isinstance(seconds, (int, float))
                        or not 0 <= seconds <= 10 * 366 * 86400
                    ):
                        raise ValueError("advance_seconds must be a number of seconds from 0 to ten years")
                    self.clock.advance(seconds)
            except (ValueError, TypeError) as refused:  # ClockMovedBackwards is a ValueError
                return refusal(422, "validation_error", str(refused))
        elif method == "DELETE":
            self.clock.release()
        elif method != "GET":
            return refusal(405, "method_not_allowed", f"{method} /_local/clock is not a thing.")
        return _json(200, {"now": format_timestamp(self.clock.now()), "frozen": self.clock.is_frozen})


def token_request(body: bytes) -> HttpResponse:
    """`POST /_local/token` `{"roles", "org"?, "residency"}` -> `{"token"}`: the local storefront's sign-in."""
    from billing.domain.errors import Unauthenticated

    from .token import local_token

    try:
        asked = json.loads(body or b"{}")
        roles = asked.get("roles") if isinstance(asked, dict) else None
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise ValueError('send {"roles": [...], "org"?: "...", "residency": "us"}')
        org, residency = asked.get("org"), asked.get("residency")
        if not all(v is None or isinstance(v, str) for v in (org, residency)):
            raise ValueError("org and residency are strings")
        return _json(200, {"token": local_token(roles, org=org, residency=residency)})
    except ValueError as refused:
        return refusal(422, "validation_error", str(refused))
    except Unauthenticated as refused:
        return refusal(422, "validation_error", refused.message)


def install_test_clock():
    """Every function of the local stack shares this process and so the layer's `deployment`:
    one test clock there is the billing time of the whole stack."""
    from billing import deployment
    from billing.domain.clock import TestClock

    clock = TestClock()
    deployment.use_clock(clock)
    return clock


def install_queues(stack: Stack, functions: dict[str, LocalFunction]) -> LocalQueues:
    """The template's queues for every function of the process (their SQS client, locally)."""
    from billing import deployment

    queues = LocalQueues(stack, lambda function_id, event: functions[function_id].invoke(event))
    deployment.use_sqs(queues)
    return queues


def _json(status: int, payload: object) -> HttpResponse:
    return HttpResponse(status, {"Content-Type": "application/json"}, json.dumps(payload, default=str).encode())


def make_handler(local: LocalStack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            declared = (self.headers.get("Content-Length") or "0").strip()
            if not declared.isdigit():
                return self.send_error(400, "Content-Length must be a whole number of bytes.")
            if int(declared) > API_GATEWAY_BODY_LIMIT:  # refused before reading: API Gateway's own limit
                self.close_connection = True
                self._send(refusal(413, "payload_too_large", "The request body is too large."))
                return self._drain_unread_input()
            length = int(declared)
            body = self.rfile.read(length) if length else b""
            path, _, query = self.path.partition("?")
            if path.startswith(EVENTBRIDGE_PATH) and self.command == "POST":
                return self._send(local.eventbridge_request(dict(self.headers.items()), body))
            if path.rstrip("/") == REDELIVER_PATH and self.command == "POST":
                response = local.redeliver()
            elif path.rstrip("/") == EVENTS_PATH:
                response = local.events_request(self.command, query, body)
            elif path.startswith(INVOKE_PREFIX) and self.command == "POST":
                response = local.invoke(path[len(INVOKE_PREFIX) :].strip("/"), body)
                local.written()
            elif path.startswith(QUEUES_PREFIX):
                response = local.queue_request(self.command, path, body)
                local.written()  # a drain's closes and charges report events too
            elif path.startswith(BUSES_PREFIX) and self.command == "POST":
                response = local.bus_request(path, body)
                local.written()
            elif path.rstrip("/") == CLOCK_PATH:
                response = local.clock_request(self.command, body)
            elif is_docs_path(path):
                response = docs_response(self.command, path)
            elif is_storefront_path(path):
                response = storefront_response(self.command, path)
            elif path.rstrip("/") == TOKEN_PATH and self.command == "POST":
                response = token_request(body)
            else:
                response = local.gateway.handle(
                    self.command, self.path, dict(self.headers.items()), body, self.client_address[0]
                )
                local.written()  # before answering: the client's next GET /_local/events sees it
            self._send(response)

        def _send(self, response: HttpResponse) -> None:
            self.send_response(response.status)
            for key, value in response.headers.items():
                if key.lower() not in ("content-length", "connection"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(response.body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _serve

        def __getattr__(self, name: str):
            """Any other method (HEAD, OPTIONS, TRACE, ...) gets the gateway's answer for a route it
            does not have, in the envelope, as API Gateway answers it: never a 501 page."""
            if name.startswith("do_") and name[3:].isalpha():
                return self._serve
            raise AttributeError(name)

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """The server's own refusals (a header over 64 KiB: 431, a malformed request line: 400)
            in the API's error envelope, as API Gateway's gateway responses are, never an HTML page."""
            kind = SERVER_ERROR_CODES.get(code, "bad_request" if code < 500 else "internal_error")
            message = "A request header is over 64 KiB." if code == 431 else message
            message = "The request line is over 64 KiB." if code == 414 else message
            self.close_connection = True
            self._send(refusal(code, kind, message or HTTPStatus(code).phrase))
            self._drain_unread_input()

        def _drain_unread_input(self) -> None:
            """After a refusal sent before the request was read whole (a request line or header over
            64 KiB, a body over the limit): read and drop what the client is still sending, for a
            moment. Closing a socket with unread input resets the connection, and a client still
            sending then loses the answer and sees the connection closed with nothing."""
            try:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_WR)  # the answer is complete: the client reads it
                deadline, left = time.monotonic() + UNREAD_INPUT_SECONDS, UNREAD_INPUT_BYTES
                while left > 0 and (wait := deadline - time.monotonic()) > 0:
                    self.connection.settimeout(wait)
                    chunk = self.connection.recv(min(left, 1 << 16))
                    if not chunk:
                        break
                    left -= len(chunk)
            except OSError:  # the client has gone, or is slower than we wait for: nothing to save
                pass

        def log_message(self, format: str, *args: object) -> None:
            if os.environ.get("BILLING_ACCESS_LOG", "true") == "true":
                sys.stderr.write(f"{self.command} {self.path} -> {args[1] if len(args) > 1 else ''}\n")

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m local_stack", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default=os.environ.get("BILLING_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("BILLING_PORT", "3000")))
    args = parser.parse_args(argv)
    started = time.monotonic()
    local = LocalStack()
    server = _Server((args.host, args.port), make_handler(local))
    own_host = "127.0.0.1" if args.host in ("", "0.0.0.0", "::") else args.host  # noqa: S104 - compared, not bound
    local.publish_events_at(f"http://{own_host}:{server.server_address[1]}")
    database = "embedded moto" if local.database else local.endpoint
    print(
        f"billing local stack ready on http://{args.host}:{server.server_address[1]}/api/billing "
        f"(storefront: /marketplace) "
        f"({len(local.functions)} functions, {len(local.gateway.routes)} routes, DynamoDB: {database}, "
        f"{time.monotonic() - started:.1f}s)",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if local.database:
            local.database.stop()
