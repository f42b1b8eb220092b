"""Capture servers for alert notifications: real HTTP (Slack incoming webhooks, Twilio's
Messages API, any other webhook) and real SMTP, recording what they receive for probes.

    python -m harness.fakes.notify --port 8490 --smtp-port 8491

Slack-shaped posts (``POST /slack/...``, JSON ``{"text": ...}``) answer 200 ``ok``; Twilio-shaped
posts (``POST /2010-04-01/Accounts/{sid}/Messages.json``, form To/From/Body) answer 201; any other
POST is recorded as channel ``http``; mail to the SMTP port as channel ``email``. Each message's
severity and kind are read from its ``[P1] FIRING: ...`` title.

The harness reads ``GET /_capture/messages?channel=sms&severity=P0&kind=FIRING`` (``count`` and
``messages``, each with ``at_s`` since the server started) and can make the HTTP channels fail:
``POST /_capture/mode`` ``{"mode": "ok" | "500" | "slow", "delay_s": 3}``.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import threading
import time
from email import message_from_bytes
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from harness.fakes.http import JsonHandler, fake_host

__all__ = ["Capture", "main", "serve_http", "serve_smtp"]

_TITLE = re.compile(r"\[(P[0-3])\] (FIRING|RESOLVED|ESCALATED)")
_TWILIO = re.compile(r"^/2010-04-01/Accounts/[^/]+/Messages\.json$")
MODES = ("ok", "500", "slow")


class Capture:
    """Messages received, in order; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self.messages: list[dict[str, Any]] = []
        self.mode = "ok"
        self.delay_s = 3.0

    def add(self, channel: str, text: str, to: str | None) -> None:
        match = _TITLE.search(text)
        with self._lock:
            self.messages.append(
                {
                    "channel": channel,
                    "severity": match.group(1) if match else None,
                    "kind": match.group(2) if match else None,
                    "to": to,
                    "text": text,
                    "at_s": round(time.monotonic() - self._started, 3),
                }
            )

    def select(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        with self._lock:
            found = list(self.messages)
        for field in ("channel", "severity", "kind", "to"):
            if field in query:
                found = [m for m in found if m[field] == query[field][0]]
        return found

    def set_mode(self, config: dict[str, Any]) -> None:
        mode = str(config.get("mode", "ok"))
        if mode not in MODES:
            raise ValueError(f"mode {mode!r}: expected one of {', '.join(MODES)}")
        with self._lock:
            self.mode = mode
            self.delay_s = float(config.get("delay_s", self.delay_s))


def serve_http(port: int, capture: Capture, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    class Handler(JsonHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/_capture/messages":
                found = capture.select(parse_qs(url.query))
                self._send(200, {"count": len(found), "messages": found})
            else:
                self._send(404, {"error": f"no route {url.path}"})

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/_capture/mode":
                try:
                    capture.set_mode(self._body())
                except ValueError as exc:
                    self._send(400, {"error": str(exc)})
                    return
                self._send(200, {"mode": capture.mode})
                return
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            if capture.mode == "slow":
                time.sleep(capture.delay_s)
            if capture.mode == "500":
                self._send(500, {"error": "capture server failing (injected)"})
                return
            if _TWILIO.match(url.path):
                form = parse_qs(raw.decode(errors="replace"))
                to = form.get("To", [None])[0]
                capture.add("sms", form.get("Body", [""])[0], to)
                self._send(201, {"sid": f"SM{len(capture.messages):032d}", "status": "queued"})
                return
            try:
                text = str(json.loads(raw or b"{}").get("text", ""))
            except (ValueError, AttributeError):
                text = raw.decode(errors="replace")
            channel = "slack" if url.path.startswith("/slack") else "http"
            capture.add(channel, text, url.path)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="capture-http", daemon=True).start()
    return server


def serve_smtp(port: int, capture: Capture, host: str = "127.0.0.1") -> Any:
    """A real SMTP server (aiosmtpd) on ``port``; returns its controller (``.stop()``)."""
    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            mail = message_from_bytes(envelope.content)
            body = mail.get_payload(decode=True)
            content = body.decode(errors="replace") if isinstance(body, bytes) else ""
            text = f"{mail.get('Subject', '')}\n{content}"
            for rcpt in envelope.rcpt_tos:
                capture.add("email", text, rcpt)
            return "250 Message accepted"

    controller = Controller(Handler(), hostname=host, port=port)
    controller.start()
    return controller


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="HTTP port (Slack, Twilio)")
    parser.add_argument("--smtp-port", type=int, required=True, help="SMTP port (email)")
    parser.add_argument("--host", default=fake_host(), help="address to listen on")
    args = parser.parse_args(argv)
    capture = Capture()
    server = serve_http(args.port, capture, host=args.host)
    controller = serve_smtp(args.smtp_port, capture, host=args.host)
    stopped: list[int] = []
    for signo in (signal.SIGINT, signal.SIGTERM):
        # Only a note: a handler that sets an Event takes its lock, and a second signal while
        # the first handler holds it deadlocks (the process then waits to be killed).
        signal.signal(signo, lambda signo, _frame: stopped.append(signo))
    try:
        while not stopped:
            time.sleep(0.2)
    finally:
        controller.stop()
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
