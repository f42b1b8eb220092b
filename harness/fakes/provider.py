"""A fake payment provider (Stripe- and PayPal-shaped payment status APIs) as a real HTTP server
whose failures follow a schedule the harness sets while the scenario runs.

    python -m harness.fakes.provider --port 8470 --seed 7

``GET /v1/payment_intents/{id}`` answers ``{"status": "succeeded"}``, and
``GET /v2/payments/captures/{id}`` and ``/v2/payments/refunds/{id}`` answer
``{"status": "COMPLETED"}``, unless the schedule says fail, or ``POST /_fake/statuses``
(``{"CAP-1": "DECLINED"}``) set another status for that id. The harness talks to ``/_fake/``:
``POST /_fake/config`` sets the schedule
(``{"rate": 0.3}`` — a seeded share of calls fail; or ``{"pattern": "EEO"}`` — cycle through
E = 500, T = hang ``timeout_s`` then 500, O = ok), ``GET /_fake/stats`` reports what was served
(the evidence that a fault fired). With ``--cert``, ``GET /_fake/paypal-cert.pem`` serves the
certificate of the key the harness signs PayPal deliveries with.
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from harness.fakes.http import JsonHandler, fake_host, serve_until_stopped

__all__ = ["CERT_PATH", "Schedule", "main", "serve"]

ROUTES = {
    "/v1/payment_intents/": "succeeded",
    "/v2/payments/captures/": "COMPLETED",
    "/v2/payments/refunds/": "COMPLETED",
}


class Schedule:
    """Decides, call by call, whether the fake answers ok, 500 or hangs. Thread-safe, seeded."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)  # noqa: S311 - fault schedules, not cryptography
        self._lock = threading.Lock()
        self.rate = 0.0
        self.pattern = ""
        self.timeout_s = 5.0
        self._position = 0
        self.stats = {"calls": 0, "ok": 0, "errors": 0, "timeouts": 0}

    def configure(self, config: dict[str, Any]) -> None:
        with self._lock:
            self.rate = float(config.get("rate", 0.0))
            self.pattern = str(config.get("pattern", ""))
            self.timeout_s = float(config.get("timeout_s", self.timeout_s))
            self._position = 0
            if not 0 <= self.rate <= 1 or set(self.pattern) - set("ETO"):
                raise ValueError("rate must be within 0..1 and pattern made of E, T, O")

    def next(self) -> str:
        with self._lock:
            self.stats["calls"] += 1
            if self.pattern:
                outcome = self.pattern[self._position % len(self.pattern)]
                self._position += 1
            else:
                outcome = "E" if self._random.random() < self.rate else "O"
            self.stats[{"E": "errors", "T": "timeouts", "O": "ok"}[outcome]] += 1
            return outcome


CERT_PATH = "/_fake/paypal-cert.pem"


def serve(
    port: int, seed: int, host: str = "127.0.0.1", certificate: bytes | None = None
) -> ThreadingHTTPServer:
    schedule = Schedule(seed)
    statuses: dict[str, str] = {}

    class Handler(JsonHandler):
        def do_GET(self) -> None:
            if self.path == "/_fake/stats":
                self._send(200, schedule.stats)
                return
            if self.path == CERT_PATH and certificate is not None:
                self.send_response(200)
                self.send_header("Content-Type", "application/x-pem-file")
                self.send_header("Content-Length", str(len(certificate)))
                self.end_headers()
                self.wfile.write(certificate)
                return
            for prefix, default in ROUTES.items():
                if self.path.startswith(prefix):
                    outcome = schedule.next()
                    if outcome == "T":
                        time.sleep(schedule.timeout_s)
                    if outcome in "ET":
                        self._send(500, {"error": "injected failure"})
                    else:
                        ref = unquote(self.path.removeprefix(prefix))
                        status = statuses.get(ref, default)
                        self._send(200, {"id": ref, "status": status})
                    return
            self._send(404, {"error": f"no route {self.path}"})

        def do_POST(self) -> None:
            if self.path == "/_fake/statuses":
                try:
                    body = self._body()
                except ValueError:
                    body = None
                if not isinstance(body, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in body.items()
                ):
                    self._send(400, {"error": 'give {"REF": "STATUS", ...} as strings'})
                    return
                statuses.update(body)
                self._send(200, {"statuses": len(statuses)})
                return
            if self.path != "/_fake/config":
                self._send(404, {"error": f"no route {self.path}"})
                return
            try:
                schedule.configure(self._body())
            except (ValueError, TypeError) as exc:
                self._send(400, {"error": str(exc)})
                return
            self._send(200, {"rate": schedule.rate, "pattern": schedule.pattern})

    return ThreadingHTTPServer((host, port), Handler)


def main() -> None:
    parser = argparse.ArgumentParser(description="fake payment provider for chaos scenarios")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default=fake_host(), help="address to listen on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cert", help="PEM certificate to serve at " + CERT_PATH)
    args = parser.parse_args()
    certificate = open(args.cert, "rb").read() if args.cert else None  # noqa: SIM115
    serve_until_stopped(serve(args.port, args.seed, host=args.host, certificate=certificate))


if __name__ == "__main__":
    main()
