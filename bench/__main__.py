"""The one benchmark command: every suite's figures as ratios to their baselines.

    .venv/bin/python -m bench [--database URL] [--only NAME,...]

Each suite is a module of `bench` with `async def figures(database_url: str | None) ->
list[Figure]`; add a suite to `SUITES`. The exit code is 1 when a bound was missed, so the
README's table (copied from this output) says only what was met.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.figures import report  # noqa: E402

#: Module name → what it measures (the title of its part of the report).
SUITES: dict[str, str] = {
    "api": "Pipeline API: gate and create at 50 concurrent pipelines (p99, bound 50 ms)",
    "acks": "Acks of read commands at 50 concurrent clients beside a bare Bolt app (p99 ratio, bound 1.5x); "
            "time until the answer; serving memory",
    "metrics_scale": "Metrics, App Home, list and show at 100,000 releases / 2,000,000 events; serving memory",
    "delivery": "Delivery: a survey to 1,000 people, recovery after an outage, dispatch latency (ratios to bounds)",
}


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--database", default=None, help="a scratch database URL (default: temporary SQLite files)")
    parser.add_argument("--only", default="", help="comma-separated suite names (default: all)")
    args = parser.parse_args(argv)
    wanted = {name for name in args.only.split(",") if name}
    ok = True
    for name, title in SUITES.items():
        if wanted and name not in wanted:
            continue
        module = importlib.import_module(f"bench.{name}")
        ok = report(title, await module.figures(args.database)) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
