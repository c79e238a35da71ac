"""Run ids are unique across server processes; the seed governs only the classifier's draws and faults."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from retab_async.testing import LocalRetab

from .conftest import create_body

ID_SHAPE = re.compile(r"^clss_[0-9a-f]{16}$")


async def _ids(server: LocalRetab, n: int) -> list[str]:
    headers = {"Authorization": f"Bearer {server.api_key}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        ids = []
        for _ in range(n):
            url = server.base_url + "/v1/classifications"
            async with session.post(url, json=create_body(background=True)) as resp:
                assert resp.status == 201
                ids.append((await resp.json())["id"])
        return ids


async def test_two_servers_with_the_same_seed_hand_out_disjoint_ids() -> None:
    async with LocalRetab(seed=7, run_time=(0.01, 0.5)) as first:
        first_ids = await _ids(first, 20)
        first_times = [run.run_time for run in first.runs]
    async with LocalRetab(seed=7, run_time=(0.01, 0.5)) as second:
        second_ids = await _ids(second, 20)
        second_times = [run.run_time for run in second.runs]
    assert not set(first_ids) & set(second_ids)
    assert len(set(first_ids)) == 20
    assert all(ID_SHAPE.match(run_id) for run_id in first_ids + second_ids)
    assert first_times == second_times  # what the seed governs is still reproducible


@pytest.mark.subprocess
def test_two_serve_processes_hand_out_disjoint_ids() -> None:
    script = (
        "import asyncio, sys\n"
        "sys.path.insert(0, '.')\n"
        "from retab_async.testing import LocalRetab\n"
        "from tests.testing.test_ids import _ids\n"
        "async def main():\n"
        "    async with LocalRetab(seed=0) as server:\n"
        "        print(' '.join(await _ids(server, 5)))\n"
        "asyncio.run(main())\n"
    )
    outputs = [
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            cwd=Path(__file__).resolve().parents[2],
        ).stdout.split()
        for _ in range(2)
    ]
    assert len(outputs[0]) == len(outputs[1]) == 5
    assert not set(outputs[0]) & set(outputs[1])
