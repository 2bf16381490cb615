"""A fake remediator in its own process (so the benchmark measures the action worker, not a
fake sharing its interpreter): answers every task 200 after ``--delay-ms``, and records when
each arrived, its ``action_id``, ``enqueued_at`` and ``Idempotency-Key``. ``GET /stats?since=N``
answers the arrivals from the N-th, ``GET /count`` how many. Prints its port, then serves until killed."""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from aiohttp import web

arrivals: list[tuple[float, str, float, str]] = []


def app(delay_s: float) -> web.Application:
    async def task(request: web.Request) -> web.Response:
        received = time.time()
        body = await request.json()
        arrivals.append(
            (received, body["action_id"], body["enqueued_at"], request.headers.get("Idempotency-Key", ""))
        )
        await asyncio.sleep(delay_s)
        return web.Response(text="done")

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(arrivals[int(request.query.get("since", 0)) :])

    async def count(request: web.Request) -> web.Response:
        return web.Response(text=str(len(arrivals)))

    application = web.Application()
    application.add_routes([web.post("/task", task), web.get("/stats", stats), web.get("/count", count)])
    return application


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay-ms", type=float, default=20.0)
    args = parser.parse_args()
    runner = web.AppRunner(app(args.delay_ms / 1000), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(json.dumps({"port": port}), flush=True)
    while True:
        await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main())
