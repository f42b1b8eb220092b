"""The shop API plus a bare handler, served by one uvicorn process, for the intake benchmark.

``POST /bench/bare`` reads the body and answers 200, as a handler with no verification, dedup or
storage would; ``POST /webhooks/stripe`` is the real intake. Both run in the same server, so
the difference between them is what intake adds.
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import Request

from resilience.shop import ShopContext, ShopSettings
from resilience.shop.api import create_app


def main() -> None:
    port = int(sys.argv[1])
    ctx = ShopContext.from_settings(ShopSettings())
    app = create_app(ctx)

    @app.post("/bench/bare")
    async def bare(request: Request) -> dict[str, str]:
        await request.body()
        return {"status": "accepted"}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
