"""Tiny systems under test for the engine's own tests, run as ``python -c APP PORT``."""

from __future__ import annotations

import textwrap

__all__ = ["REDIS_HEALTH_APP", "REDIS_WRITES_APP", "SLOW_APP"]

#: An HTTP app that answers 200 while it can ping the Redis at $CG_REDIS, 503 when it cannot.
REDIS_HEALTH_APP = textwrap.dedent(
    """\
    import http.server, os, sys, redis
    client = redis.Redis.from_url(os.environ["CG_REDIS"], socket_timeout=0.3,
                                  socket_connect_timeout=0.3)
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            try:
                client.ping(); code = 200
            except redis.RedisError:
                code = 503
            self.send_response(code); self.end_headers(); self.wfile.write(b"ok")
        def log_message(self, *a): pass
    http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
    """
)

#: A write store over the Redis at $CG_REDIS: ``POST /writes`` adds a write and answers 201
#: ``{"id": N}``; ``GET /writes`` lists the ids kept, ``GET /writes/N`` is 200 when N is kept
#: (404 when not), ``GET /health`` 200 while Redis answers (503 when not). With
#: ``CG_DROP_EVERY=N`` every Nth write is acknowledged and not kept (durability broken on
#: purpose).
REDIS_WRITES_APP = textwrap.dedent(
    """\
    import http.server, json, os, sys, redis
    client = redis.Redis.from_url(os.environ["CG_REDIS"], socket_timeout=1)
    drop = int(os.environ.get("CG_DROP_EVERY", "0"))
    class H(http.server.BaseHTTPRequestHandler):
        def _send(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code); self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data))); self.end_headers()
            self.wfile.write(data)
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                n = client.incr("writes:next")
                if not (drop and n % drop == 0):
                    client.sadd("writes", n)
            except redis.RedisError as exc:
                return self._send(503, {"error": str(exc)})
            self._send(201, {"id": n})
        def do_GET(self):
            try:
                if self.path == "/health":
                    client.ping(); return self._send(200, {"status": "ok"})
                if self.path.startswith("/writes/"):
                    kept = client.sismember("writes", self.path.rsplit("/", 1)[1])
                    return self._send(200 if kept else 404, {})
                self._send(200, {"ids": sorted(int(i) for i in client.smembers("writes"))})
            except redis.RedisError as exc:
                self._send(503, {"error": str(exc)})
        def log_message(self, *a): pass
    http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
    """
)

#: An HTTP app that answers every GET after ``CG_DELAY_S`` seconds (a slow system), any number
#: at once.
SLOW_APP = textwrap.dedent(
    """\
    import http.server, os, sys, time
    delay = float(os.environ.get("CG_DELAY_S", "0.5"))
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path != "/health":
                time.sleep(delay)
            self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
            self.wfile.write(b"ok")
        def log_message(self, *a): pass
    class S(http.server.ThreadingHTTPServer):
        request_queue_size = 128
    S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
    """
)
