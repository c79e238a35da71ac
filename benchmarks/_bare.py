"""The baseline the SDK is held against: the same stack (aiohttp + msgspec) without the SDK.

What a careful user writes by hand: one ``aiohttp.ClientSession`` with the auth
header set once, one msgspec decoder built once, a status check, nothing else.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import msgspec
from _common import API_KEY


class Category(msgspec.Struct, frozen=True):
    name: str
    description: str = ""
    handle_key: str | None = None


class Decision(msgspec.Struct, frozen=True):
    category: str
    reasoning: str = ""


class Consensus(msgspec.Struct, frozen=True):
    choices: list[Decision] = []
    likelihoods: float | None = None


class FileRef(msgspec.Struct, frozen=True):
    id: str
    filename: str
    mime_type: str


class Error(msgspec.Struct, frozen=True):
    code: str
    message: str
    details: dict[str, Any] | None = None


class Usage(msgspec.Struct, frozen=True):
    credits: float


class Classification(msgspec.Struct, frozen=True):
    id: str
    file: FileRef
    model: str
    categories: list[Category]
    n_consensus: int = 1
    instructions: str | None = None
    output: Decision | None = None
    status: str = "pending"
    error: Error | None = None
    consensus: Consensus | None = None
    usage: Usage | None = None
    created_at: str | None = None


TERMINAL = frozenset({"completed", "failed", "cancelled"})
decoder = msgspec.json.Decoder(Classification)
encode = msgspec.json.Encoder().encode


def session(*, limit: int = 100, user_agent: str | None = None) -> aiohttp.ClientSession:
    """A session as a bare loop would make it (call inside the running loop)."""
    headers = {"Authorization": f"Bearer {API_KEY}"}
    if user_agent:
        headers["User-Agent"] = user_agent
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit), headers=headers)


async def get(http: aiohttp.ClientSession, base: str, run_id: str, full: bool) -> Classification:
    flag = "true" if full else "false"
    async with http.get(f"{base}/v1/classifications/{run_id}?include_output={flag}") as resp:
        body = await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"GET {run_id}: {resp.status}")
        return decoder.decode(body)


async def create(http: aiohttp.ClientSession, base: str, body: bytes) -> Classification:
    headers = {"Content-Type": "application/json"}
    async with http.post(f"{base}/v1/classifications", data=body, headers=headers) as resp:
        raw = await resp.read()
        if resp.status != 201:
            raise RuntimeError(f"create: {resp.status}")
        return decoder.decode(raw)
