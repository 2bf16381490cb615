"""A webhook receiver in its own process (so the benchmark measures the notifier, not a fake
sharing its interpreter): records when each POST arrived, its group labels and its first alert's ``startsAt``; ``GET /stats``
answers them (``?since=N``: from the N-th), ``GET /count`` how many. Prints its port, then serves until killed."""

from __future__ import annotations

import json
import time

from aiohttp import web

# (arrived at, group labels, delivery id, the first alert's startsAt: its evaluation's time)
arrivals: list[tuple[float, dict[str, str], str, str]] = []


async def hook(request: web.Request) -> web.Response:
    body = await request.json()
    starts = body["alerts"][0]["startsAt"] if body.get("alerts") else ""
    arrivals.append(
        (time.time(), body["groupLabels"], request.headers.get("X-Vigil-Delivery-Id", ""), starts)
    )
    return web.Response(text="")


async def stats(request: web.Request) -> web.Response:
    return web.json_response(arrivals[int(request.query.get("since", 0)) :])


async def count(request: web.Request) -> web.Response:
    return web.Response(text=str(len(arrivals)))


async def main() -> None:
    app = web.Application()
    app.add_routes([web.post("/bulk", hook), web.get("/stats", stats), web.get("/count", count)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(json.dumps({"port": port}), flush=True)
    while True:
        await __import__("asyncio").sleep(3600)


if __name__ == "__main__":
    import asyncio

    asyncio.run(main())
