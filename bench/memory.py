"""RSS of a real uvicorn process: after start-up, along 1,000 requests (mostly webcam frames,
every 10th a group photo, every 20th a 12-megapixel phone photo) at 8 concurrent clients, and
its peak.

    python -m bench.memory [--requests 1000]
"""

from __future__ import annotations

import argparse
import asyncio

from bench.scenes import benchmark_scenes
from bench.server import rss_kib, uvicorn_server
from bench.throughput import fresh_connections

CHECKPOINTS = (100, 250, 500, 750, 1000)


def request_mix(requests: int) -> list[tuple[str, bytes]]:
    by_name: dict[str, list[bytes]] = {}
    for scene, _ in benchmark_scenes():
        by_name.setdefault(scene.name, []).append(scene.jpeg())
    mix = []
    for index in range(requests):
        name, query = ("phone", "") if index % 20 == 0 else ("group", "") if index % 10 == 5 else ("webcam", "upsample=0")
        bodies = by_name[name]
        mix.append((query, bodies[index % len(bodies)]))
    return mix


async def run(base: str, pid: int, mix: list[tuple[str, bytes]], clients: int) -> None:
    sent = completed = errors = 0
    async with fresh_connections() as client:

        async def worker() -> None:
            nonlocal sent, completed, errors
            while sent < len(mix):
                query, body = mix[sent]
                sent += 1
                response = await client.post(f"{base}/v1/faces?{query}", content=body, headers={"Content-Type": "image/jpeg"})
                completed += 1
                errors += response.status_code != 200
                if completed in CHECKPOINTS:
                    current, peak = rss_kib(pid)
                    print(f"| {completed} | {current / 1024:.0f} | {peak / 1024:.0f} | {errors} |", flush=True)

        await asyncio.gather(*(worker() for _ in range(clients)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    mix = request_mix(args.requests)
    with uvicorn_server(1) as (base, process):
        current, peak = rss_kib(process.pid)
        print("| requests answered | RSS MiB | peak RSS MiB | errors |")
        print("| --- | --- | --- | --- |")
        print(f"| 0 (started, warmed up) | {current / 1024:.0f} | {peak / 1024:.0f} | 0 |", flush=True)
        asyncio.run(run(base, process.pid, mix, args.clients))


if __name__ == "__main__":
    main()
