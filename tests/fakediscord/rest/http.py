"""What every REST route shares: the API prefix, JSON responses, request bodies and a route's recorded name."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp import web

from ..messages import UploadedFile

API_PREFIX = "/api/v10"

INTERACTION_ID = web.RequestKey("interaction_id", int)
"""Set by a handler once it knows which interaction a request is about, so a violation can name it."""


def json_response(body: object, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    # Exactly `application/json`: discord.py only decodes JSON when the header has no charset.
    return web.Response(
        body=json.dumps(body).encode(), status=status, headers={"Content-Type": "application/json", **(headers or {})}
    )


async def read_body(request: web.Request) -> tuple[dict[str, Any], list[UploadedFile]]:
    """A JSON body, or a multipart one: `payload_json` plus `files[n]` parts."""
    if not request.content_type.startswith("multipart/"):
        return (await request.json() if request.can_read_body else {}), []
    body: dict[str, Any] = {}
    files: list[UploadedFile] = []
    reader = await request.multipart()
    async for part in reader:
        if not isinstance(part, aiohttp.BodyPartReader):
            continue
        if part.name == "payload_json":
            body = json.loads(await part.text())
        elif part.name and part.name.startswith("files["):
            index = int(part.name[len("files[") : -1])
            files.append(
                UploadedFile(
                    index, part.filename or f"file{index}", bytes(await part.read()), part.headers.get("Content-Type")
                )
            )
    return body, files


def route_name(request: web.Request) -> str:
    """`METHOD /template` of the matched route (ids left as placeholders), as violations and writes name it."""
    resource = request.match_info.route.resource
    template = resource.canonical if resource is not None else request.path
    return f"{request.method} {template.removeprefix(API_PREFIX)}"
