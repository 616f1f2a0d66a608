"""Requests/s and latency under 1, 2, 4, 8 concurrent clients against a real uvicorn process on
loopback, while a probe hits /healthz every 50 ms to show whether the event loop ever blocks.

    python -m bench.throughput [--workers 1] [--requests 24]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx

from bench.latency import percentile
from bench.scenes import benchmark_scenes
from bench.server import uvicorn_server

LEVELS = (1, 2, 4, 8)


def fresh_connections() -> httpx.AsyncClient:
    # A new connection per request, as separate clients would: no race with the server
    # closing an idle keep-alive connection just as a request is sent on it.
    return httpx.AsyncClient(timeout=300, limits=httpx.Limits(max_keepalive_connections=0))


async def load(base: str, bodies: list[bytes], query: str, clients: int, requests: int) -> dict[str, float]:
    latencies: list[float] = []
    health: list[float] = []
    errors = 0
    queue = list(range(requests))
    done = asyncio.Event()

    async with fresh_connections() as client:

        async def worker() -> None:
            nonlocal errors
            while queue:
                index = queue.pop()
                start = time.perf_counter()
                response = await client.post(f"{base}/v1/faces?{query}", content=bodies[index % len(bodies)],
                                             headers={"Content-Type": "image/jpeg"})
                latencies.append(time.perf_counter() - start)
                errors += response.status_code != 200

        async def probe() -> None:
            async with fresh_connections() as own:  # never queued behind a request
                while not done.is_set():
                    start = time.perf_counter()
                    await own.get(f"{base}/healthz")
                    health.append(time.perf_counter() - start)
                    await asyncio.sleep(0.05)

        probing = asyncio.create_task(probe())
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - start
        done.set()
        await probing
    return {
        "rps": requests / elapsed,
        "p50": percentile(latencies, 0.5) * 1000,
        "p95": percentile(latencies, 0.95) * 1000,
        "errors": errors,
        "health_p95": percentile(health, 0.95) * 1000,
        "health_max": max(health) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--requests", type=int, default=24, help="group-photo requests per level (webcam: 4x)")
    args = parser.parse_args()
    scenes = benchmark_scenes({"group", "webcam"})
    kinds = [
        ("group 1600x900, defaults", "", [s.jpeg() for s, _ in scenes if s.name == "group"], args.requests),
        ("webcam 640x480, upsample=0", "upsample=0", [s.jpeg() for s, _ in scenes if s.name == "webcam"], 4 * args.requests),
    ]
    with uvicorn_server(args.workers) as (base, _):
        print(f"uvicorn workers: {args.workers}")
        print("| requests | clients | req/s | p50 ms | p95 ms | errors | /healthz p95 ms | /healthz max ms |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for label, query, bodies, requests in kinds:
            asyncio.run(load(base, bodies, query, 1, 2))  # warm-up
            for clients in LEVELS:
                r = asyncio.run(load(base, bodies, query, clients, requests))
                print(f"| {label} | {clients} | {r['rps']:.2f} | {r['p50']:.0f} | {r['p95']:.0f} | {r['errors']} "
                      f"| {r['health_p95']:.1f} | {r['health_max']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
