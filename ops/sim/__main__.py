"""``python -m ops.sim``: play simulated games and print the summary as JSON.

For speed runs and benchmarks that need no service set: ``--autopilot --offline`` measures
the simulator alone (rules, the mod's encoding, batching, an in-process 200 for every request);
without ``--offline`` the games go to ``--url``, and without ``--autopilot`` they wait for
that server's commands.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

import anyio

from ops.sim.config import DEFAULT_BASE_URL, ModConfig
from ops.sim.rules import GameOptions
from ops.sim.runner import offline_transport, play_games


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.sim", description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=DEFAULT_BASE_URL, help="the gateway's root URL")
    parser.add_argument("--games", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--autopilot", action="store_true", help="decide locally, no polling")
    parser.add_argument("--offline", action="store_true", help="no server: answer 200 in process")
    parser.add_argument("--realtime", action="store_true", help="60 fps on the wall clock")
    parser.add_argument("--overflow", action="store_true", help="scores overflow to inf")
    args = parser.parse_args(argv)
    config = ModConfig(realtime=args.realtime, poll_game_id=args.concurrency > 1)
    options = GameOptions(score_multiplier=1e308) if args.overflow else None
    cpu = time.process_time()
    summary = anyio.run(
        lambda: play_games(
            args.url,
            args.games,
            concurrency=args.concurrency,
            seed=args.seed,
            autopilot=args.autopilot,
            config=config,
            options=options,
            transport=offline_transport() if args.offline else None,
        )
    )
    out = dataclasses.asdict(summary)
    del out["records"]
    out["cpu_time"] = time.process_time() - cpu
    out["games_per_cpu_second"] = summary.games / out["cpu_time"] if out["cpu_time"] else 0.0
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0 if summary.stalled == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
