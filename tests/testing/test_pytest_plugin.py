"""The ``retab_server`` fixture that the package registers as a pytest plugin."""

from __future__ import annotations

import pytest

from retab_async import RetabClient
from retab_async.testing import LocalRetab


async def test_fixture_yields_a_running_server(retab_server: LocalRetab) -> None:
    async with RetabClient(retab_server.api_key, retab_server.base_url) as client:
        record = await client.classifications.create(("a.txt", b"receipt"), ["invoice", "receipt"])
    assert record.category == "receipt"
    assert len(retab_server.requests) == 1


@pytest.mark.retab_server(api_key="sk_custom", run_time=0.001)
async def test_fixture_takes_options_from_its_marker(retab_server: LocalRetab) -> None:
    assert retab_server.api_key == "sk_custom"
    assert retab_server.config.run_time == 0.001
