"""A whole simulated game against `jimbot up`, as the real mod would play it: over HTTP."""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import TYPE_CHECKING

import anyio
import httpx

from ops.ports import free_port
from ops.sim import play_games
from tests.integration.test_up import DRAIN, _env, _read_until

if TYPE_CHECKING:
    from pathlib import Path


async def _healthy(base: str) -> None:
    with anyio.fail_after(30):
        while True:
            try:
                async with httpx.AsyncClient(timeout=1) as client:
                    if (await client.get(f"{base}/health")).status_code == 200:
                        return
            except httpx.HTTPError:
                pass
            await anyio.sleep(0.1)


async def test_a_simulated_game_through_jimbot_up(tmp_path: Path) -> None:
    env = _env(free_port())
    base = f"http://127.0.0.1:{env['JIMBOT_HTTP_PORT']}"
    with (tmp_path / "stderr.log").open("wb") as stderr:
        proc = await anyio.open_process(
            [sys.executable, "-m", "ops.cli", "up", "--monitor-port", "0"],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stderr=stderr,
        )
        async with proc:
            try:
                table = await _read_until(proc, "Ctrl-C drains")
                await _healthy(base)
                with anyio.fail_after(120):
                    summary = await play_games(base, 1, seed=11)
                async with httpx.AsyncClient(base_url=base, timeout=5) as client:
                    states = (
                        await client.get(
                            "/api/v1/events", params={"type": "GAME_STATE", "limit": 1000}
                        )
                    ).json()
                    decisions = (
                        await client.get("/api/v1/events", params={"type": "LEARNING_DECISION"})
                    ).json()
                proc.send_signal(signal.SIGINT)
                with anyio.fail_after(DRAIN + 10):
                    code = await proc.wait()
            finally:
                if proc.returncode is None:
                    proc.kill()
    assert "gateway" in table and "game_director" in table and "decision" in table
    assert summary.games == 1 and summary.stalled == 0
    assert summary.won + summary.lost == 1
    assert summary.decisions > 0
    assert states["count"] > 0
    assert decisions["count"] > 0
    assert code == 0
