"""Web chat fixtures (named wc_* and webchat, beside other channels' ones): a runtime and its TestServer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer

from bot.app import Runtime, build_runtime
from bot.channels.webchat import WebChatChannel
from bot.channels.webchat_demo import MARKER_FILE, demo_status
from bot.config import Settings, load_settings
from bot.http_server import build_http_app
from storage.db import Database
from storage.models import Consumer
from storage.repositories import ConsumerRepository
from tests.world import CONSUMERS

INJECTION_IVRS = "N3330009999"
INJECTION_ADDRESS = "<img src=x onerror=alert(1)>"
INJECTION_NAME = "<script>alert('name')</script>"
PHOTO_LIMIT = 300_000


@pytest.fixture
def wc_settings(tmp_path: Path) -> Settings:
    base = load_settings(environ={})
    return base.model_copy(
        update={
            "data_dir": tmp_path / "data",
            "photos": base.photos.model_copy(update={"max_bytes": PHOTO_LIMIT}),
        }
    )


@pytest.fixture
async def wc_runtime(wc_settings: Settings, sqlite_db: Database) -> AsyncIterator[Runtime]:
    """A runtime whose register has the Wright Town consumers and one with markup in its address."""
    rows = [*CONSUMERS, (INJECTION_IVRS, INJECTION_ADDRESS, "LV-1", 3.0, 23.16870, 79.93400)]
    async with sqlite_db.transaction() as session:
        repo = ConsumerRepository(session)
        for ivrs, address, category, load, lat, lon in rows:
            name = INJECTION_NAME if ivrs == INJECTION_IVRS else "Private Name"
            await repo.add(
                Consumer(
                    ivrs=ivrs,
                    name=name,
                    address=address,
                    district="Jabalpur",
                    category=category,
                    sanctioned_load_kw=load,
                    latitude=lat,
                    longitude=lon,
                )
            )
    runtime = await build_runtime(wc_settings, sqlite_db)
    yield runtime
    await runtime.engine.drain()


@pytest.fixture
def webchat(wc_runtime: Runtime) -> WebChatChannel:
    return WebChatChannel.from_runtime(wc_runtime, demo_probe=partial(demo_status, wc_runtime))


def mark_as_demo(runtime: Runtime) -> None:
    """Writes the demo marker as start-up does after generating a register (here: the test register)."""
    marker = {"consumers": len(CONSUMERS) + 1, "seed": 0, "sample_ivrs": [CONSUMERS[0][0]]}
    runtime.settings.data_dir.mkdir(parents=True, exist_ok=True)
    (runtime.settings.data_dir / MARKER_FILE).write_text(json.dumps(marker), encoding="utf-8")


@pytest.fixture
async def wc_server(webchat: WebChatChannel) -> AsyncIterator[TestServer]:
    """The bot's HTTP app with the web chat installed, on 127.0.0.1 and a free port."""
    app = build_http_app(webchat.settings)
    webchat.install(app)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    yield test_server
    await test_server.close()


class WebChatUser:
    """A browser-less web chat user: the page's JSON calls, with the transcript kept as plain dicts."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.csrf = ""
        self.last_seq = 0
        self.messages: list[dict[str, Any]] = []
        self.count = 0

    async def bootstrap(self) -> dict[str, Any]:
        response = await self.client.get("/api/bootstrap")
        assert response.status == 200, await response.text()
        data = await response.json()
        self.csrf = data["csrf"]
        self._take(data)
        return data

    def _take(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        new = [m for m in data.get("messages", []) if m["seq"] > self.last_seq]
        for message in new:
            self.last_seq = message["seq"]
        self.messages.extend(new)
        return new

    async def post(self, body: dict[str, Any], *, status: int = 200, **kwargs: Any) -> dict[str, Any]:
        self.count += 1
        payload = {"id": f"m{self.count}", "after": self.last_seq, **body}
        headers = {"X-CSRF-Token": self.csrf, **kwargs.pop("headers", {})}
        response = await self.client.post("/api/message", json=payload, headers=headers, **kwargs)
        data = await response.json()
        assert response.status == status, data
        if status == 200:
            self._take(data)
        return data

    async def send(self, text: str) -> dict[str, Any]:
        return await self.post({"text": text})

    async def press(self, label: str) -> dict[str, Any]:
        """Presses the button whose label contains `label` on the latest message with buttons."""
        for message in reversed(self.messages):
            if message["choices"]:
                for row in message["choices"]:
                    for choice in row:
                        if label.casefold() in choice["label"].casefold():
                            return await self.post({"choice": choice["payload"]})
                raise AssertionError(f"no button {label!r} in {json.dumps(message['choices'], ensure_ascii=False)}")
        raise AssertionError("no message with buttons")

    async def photo(self, data: bytes, mime: str = "image/jpeg", *, status: int = 200) -> dict[str, Any]:
        self.count += 1
        form = FormData()
        form.add_field("photo", data, filename="p.jpg", content_type=mime)
        response = await self.client.post(
            f"/api/photo?id=p{self.count}&after={self.last_seq}", data=form, headers={"X-CSRF-Token": self.csrf}
        )
        body = await response.json()
        assert response.status == status, body
        if status == 200:
            self._take(body)
        return body

    def expect(self, fragment: str) -> dict[str, Any]:
        for message in reversed(self.messages):
            if fragment.casefold() in message["text"].casefold():
                return message
        texts = "\n---\n".join(m["text"] for m in self.messages)
        raise AssertionError(f"no message containing {fragment!r}; the conversation was:\n{texts}")


@pytest.fixture
async def wc_client(wc_server: TestServer) -> AsyncIterator[TestClient]:
    test_client = TestClient(wc_server)
    await test_client.start_server()
    yield test_client
    await test_client.close()


@pytest.fixture
async def wc_user(wc_client: TestClient) -> WebChatUser:
    chat_user = WebChatUser(wc_client)
    await chat_user.bootstrap()
    return chat_user


async def register(user: WebChatUser, phone: str = "+919876543210") -> None:
    """Walks a new web chat user through registration in English."""
    await user.send("/start")
    await user.press("English")
    await user.press("agree")
    await user.post({"contact": {"phone": phone}})
    user.expect("registered")
