"""Tiny systems under test for the engine's own tests, run as ``python -c APP PORT``."""

from __future__ import annotations

import textwrap

__all__ = ["REDIS_HEALTH_APP"]

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
