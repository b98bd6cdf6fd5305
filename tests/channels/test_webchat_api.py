"""The web chat's JSON endpoints: sessions, CSRF, bad input, upload limits, long poll, and data kept as text."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import delete, select

from bot.app import Runtime
from bot.channels.webchat import WebChatChannel
from bot.channels.webchat_session import COOKIE_NAME, KEY_FILE, session_key
from bot.events import Reply
from storage.models import ChannelIdentity, Complaint, Consumer
from tests.channels.conftest import (
    CONSUMERS,
    INJECTION_ADDRESS,
    INJECTION_IVRS,
    INJECTION_NAME,
    PHOTO_LIMIT,
    WebChatUser,
    mark_as_demo,
    register,
)
from tests.conversation import Chat, MemoryAdapter, jpeg_bytes


async def _fresh_client(server: TestServer) -> TestClient:
    client = TestClient(server)
    await client.start_server()
    return client


# --- the page and the session ------------------------------------------------------------------


async def test_the_page_is_served_with_a_strict_content_security_policy(wc_client: TestClient) -> None:
    response = await wc_client.get("/")
    assert response.status == 200
    html = await response.text()
    assert "/static/app.js" in html and "leaflet.js" in html
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    for path in ("/static/app.js", "/static/app.css", "/static/vendor/leaflet/leaflet.js", "/static/service-area.json"):
        assert (await wc_client.get(path)).status == 200, path
    assert (await wc_client.get("/static/")).status in (403, 404)  # no directory listing


async def test_bootstrap_issues_an_httponly_strict_cookie_and_a_csrf_token(wc_client: TestClient) -> None:
    response = await wc_client.get("/api/bootstrap")
    data = await response.json()
    cookie = response.cookies[COOKIE_NAME]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
    assert not cookie["secure"]  # plain http on 127.0.0.1
    assert data["csrf"] and data["messages"] == [] and data["sms"] is False
    assert data["demo"] == {"active": False}
    assert data["limits"]["photo_max_bytes"] == PHOTO_LIMIT
    again = await (await wc_client.get("/api/bootstrap")).json()
    assert again["csrf"] == data["csrf"]  # same session, same token


async def test_a_whole_registration_runs_through_the_json_api(wc_user: WebChatUser) -> None:
    first = await wc_user.send("/start")
    assert first["messages"][0]["choices"][0][0] == {"payload": "lang:hi", "label": "हिन्दी"}
    assert first["registered"] is False
    await wc_user.press("English")
    wc_user.expect("Before you start")
    await wc_user.press("agree")
    ask = wc_user.expect("share your mobile number")
    assert ask["ask"] == "contact"
    await wc_user.post({"contact": {"phone": "12345"}})
    wc_user.expect("not a valid Indian mobile number")
    done = await wc_user.post({"contact": {"phone": "+91 98765 43210"}})
    wc_user.expect("you are registered")
    assert done["registered"] is True and done["language"] == "en"
    assert [m["seq"] for m in wc_user.messages] == list(range(1, len(wc_user.messages) + 1))


async def test_hindi_is_chosen_in_the_chat_and_the_page_is_told(wc_user: WebChatUser) -> None:
    await wc_user.send("/start")
    chosen = await wc_user.press("हिन्दी")
    assert chosen["language"] == "hi"
    wc_user.expect("भाषा")
    again = await (await wc_user.client.get("/api/bootstrap")).json()
    assert again["language"] == "hi" and again["messages"] == wc_user.messages  # a reload redraws the history


async def test_missing_or_forged_sessions_are_refused(wc_server: TestServer, wc_user: WebChatUser) -> None:
    anonymous = await _fresh_client(wc_server)
    try:
        for method, path in (("POST", "/api/message"), ("POST", "/api/photo"), ("GET", "/api/messages")):
            headers = {"X-CSRF-Token": wc_user.csrf}
            response = await anonymous.request(method, path, json={"text": "hi"}, headers=headers)
            assert response.status == 401, path
            assert (await response.json())["error"] == "no_session"
        real = wc_user.client.session.cookie_jar.filter_cookies(wc_user.client.make_url("/"))[COOKIE_NAME].value
        forged = real[:-3] + ("aaa" if not real.endswith("aaa") else "bbb")
        anonymous.session.cookie_jar.update_cookies({COOKIE_NAME: forged})
        response = await anonymous.post("/api/message", json={"text": "hi"}, headers={"X-CSRF-Token": wc_user.csrf})
        assert response.status == 401
        fresh = await (await anonymous.get("/api/bootstrap")).json()  # a forged cookie just gets a new session
        assert fresh["csrf"] != wc_user.csrf
    finally:
        await anonymous.close()


async def test_csrf_token_must_match_the_session(wc_server: TestServer, wc_user: WebChatUser) -> None:
    other = WebChatUser(await _fresh_client(wc_server))
    try:
        await other.bootstrap()
        for headers in ({}, {"X-CSRF-Token": "nope"}, {"X-CSRF-Token": other.csrf}):
            response = await wc_user.client.post("/api/message", json={"text": "/start"}, headers=headers)
            assert response.status == 403
            assert (await response.json())["error"] == "bad_csrf"
        response = await wc_user.client.get("/api/messages?after=0&wait=0")
        assert response.status == 403
    finally:
        await other.client.close()


async def test_cross_site_requests_are_refused_even_with_the_token(wc_user: WebChatUser) -> None:
    refused = ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"})
    for headers in refused:
        response = await wc_user.client.post(
            "/api/message", json={"text": "/start"}, headers={"X-CSRF-Token": wc_user.csrf, **headers}
        )
        assert response.status == 403, headers
        assert (await response.json())["error"] == "cross_origin"
    assert (await wc_user.client.get("/api/bootstrap", headers={"Sec-Fetch-Site": "cross-site"})).status == 403
    own = str(wc_user.client.make_url("")).rstrip("/")
    await wc_user.post({"text": "/start"}, headers={"Origin": own, "Sec-Fetch-Site": "same-origin"})


async def test_the_demo_badge_is_shown_only_while_the_demo_consumers_are_there(
    wc_client: TestClient, wc_runtime: Runtime
) -> None:
    assert (await (await wc_client.get("/api/bootstrap")).json())["demo"] == {"active": False}
    mark_as_demo(wc_runtime)
    demo = (await (await wc_client.get("/api/bootstrap")).json())["demo"]
    assert demo == {"active": True, "consumers": len(CONSUMERS) + 1, "example_ivrs": CONSUMERS[0][0]}
    async with wc_runtime.db.transaction() as session:  # a real register replaced the demo one
        await session.execute(delete(Consumer).where(Consumer.ivrs == CONSUMERS[0][0]))
    assert (await (await wc_client.get("/api/bootstrap")).json())["demo"] == {"active": False}


def test_the_session_key_comes_from_the_secret_or_a_file_made_once(tmp_path: Path) -> None:
    assert session_key("s" * 44, tmp_path) == session_key("s" * 44, tmp_path) != session_key("t" * 44, tmp_path)
    assert not (tmp_path / KEY_FILE).exists()
    generated = session_key(None, tmp_path)
    assert len(generated) == 32 and session_key(None, tmp_path) == generated
    assert (tmp_path / KEY_FILE).stat().st_mode & 0o777 == 0o600


# --- bad input -----------------------------------------------------------------------------------


async def test_bad_message_bodies_get_clear_json_errors(wc_user: WebChatUser) -> None:
    cases = [
        ({"text": "a", "choice": "b"}, "bad_body"),
        ({}, "bad_body"),
        ({"text": 5}, "bad_text"),
        ({"text": "   "}, "empty_text"),
        ({"text": "x" * 4001}, "text_too_long"),
        ({"choice": "x" * 65}, "bad_choice"),
        ({"location": {"lat": 200, "lon": 79.9}}, "bad_location"),
        ({"location": {"lat": "23", "lon": 79.9}}, "bad_location"),
        ({"location": {"lat": True, "lon": 79.9}}, "bad_location"),
        ({"location": {"lat": 23.1, "lon": 79.9, "source": "satellite"}}, "bad_location"),
        ({"contact": {"phone": 98765}}, "bad_contact"),
        ({"contact": {"phone": "9" * 40}}, "bad_contact"),
        ({"text": "hi", "id": "has spaces"}, "bad_id"),
        ({"text": "hi", "after": -1}, "bad_after"),
    ]
    for body, code in cases:
        response = await wc_user.client.post("/api/message", json=body, headers={"X-CSRF-Token": wc_user.csrf})
        assert response.status == 400, body
        assert (await response.json())["error"] == code, body
    headers = {"X-CSRF-Token": wc_user.csrf}
    as_json = {**headers, "Content-Type": "application/json"}
    response = await wc_user.client.post("/api/message", data="{not json", headers=as_json)
    assert response.status == 400 and (await response.json())["error"] == "bad_json"
    nan = '{"location": {"lat": NaN, "lon": 79.9}}'
    response = await wc_user.client.post("/api/message", data=nan, headers=as_json)
    assert (await response.json())["error"] == "bad_location"
    as_text = {**headers, "Content-Type": "text/plain"}
    response = await wc_user.client.post("/api/message", data="text=hi", headers=as_text)
    assert response.status == 415
    response = await wc_user.client.post("/api/message", json={"text": "y" * 20_000}, headers=headers)
    assert response.status == 413 and (await response.json())["error"] == "too_large"
    assert wc_user.messages == []  # nothing reached the dialog


async def test_a_repeated_message_id_is_handled_once(wc_user: WebChatUser, wc_runtime: Runtime) -> None:
    body = {"text": "/start", "id": "same-id"}
    await wc_user.post(body)
    count = len(wc_user.messages)
    again = await wc_user.post({**body, "after": 0})
    assert len(again["messages"]) == count  # the answer repeats what was said, nothing new was said
    assert len(wc_user.messages) == count


# --- photos --------------------------------------------------------------------------------------


async def _to_photo_step(wc_user: WebChatUser) -> None:
    await register(wc_user)
    await wc_user.press("Report theft")
    await wc_user.press("Meter tampering")
    await wc_user.press("Yes, I know the IVRS")
    await wc_user.send("N3330008565")
    await wc_user.press("Yes, this one")
    assert wc_user.expect("Send 1 to 5 photos")["ask"] == "photo"


async def test_photo_upload_reaches_the_dialog(wc_user: WebChatUser, webchat: WebChatChannel) -> None:
    await _to_photo_step(wc_user)
    await wc_user.photo(jpeg_bytes())
    wc_user.expect("Photo 1 of 5 received")
    await wc_user.photo(b"%PDF-1.4 not a picture", mime="application/pdf")
    wc_user.expect("That is not a photo")
    await wc_user.photo(b"\xff\xd8\xff\xe0 broken jpeg")
    assert not webchat.uploads._items  # every upload was handed to the engine once and forgotten


async def test_oversize_uploads_are_refused_at_the_http_layer(wc_user: WebChatUser) -> None:
    await _to_photo_step(wc_user)
    seen = len(wc_user.messages)
    body = await wc_user.photo(b"\xff\xd8" + b"0" * (PHOTO_LIMIT + 10), status=413)
    assert body["error"] == "too_large"

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: the limit is enforced while reading
        yield b'--XyZ\r\nContent-Disposition: form-data; name="photo"; filename="big.jpg"\r\n'
        yield b"Content-Type: image/jpeg\r\n\r\n"
        for _ in range(PHOTO_LIMIT // 65536 + 2):
            yield b"1" * 65536
        yield b"\r\n--XyZ--\r\n"

    response = await wc_user.client.post(
        "/api/photo",
        data=chunked(),
        headers={"X-CSRF-Token": wc_user.csrf, "Content-Type": "multipart/form-data; boundary=XyZ"},
    )
    assert response.status == 413 and (await response.json())["error"] == "too_large"
    response = await wc_user.client.post("/api/photo", json={"photo": "x"}, headers={"X-CSRF-Token": wc_user.csrf})
    assert response.status == 415
    form = FormData()
    form.add_field("picture", b"abc", filename="p.jpg", content_type="image/jpeg")
    response = await wc_user.client.post("/api/photo", data=form, headers={"X-CSRF-Token": wc_user.csrf})
    assert response.status == 400 and (await response.json())["error"] == "no_photo"
    for content_type, garbage in (
        ("multipart/form-data", b"no boundary"),
        ("multipart/form-data; boundary=XyZ", b"no starting boundary"),
        ("multipart/form-data; boundary=XyZ", b"--XyZ\r\nnot a header\r\n\r\nabc\r\n--XyZ--\r\n"),
    ):
        headers = {"X-CSRF-Token": wc_user.csrf, "Content-Type": content_type}
        response = await wc_user.client.post("/api/photo", data=garbage, headers=headers)
        assert response.status == 400 and (await response.json())["error"] == "bad_multipart"
    assert len(wc_user.messages) == seen


# --- data from the register stays data ----------------------------------------------------------


async def test_markup_in_addresses_is_returned_verbatim_as_json_text(wc_user: WebChatUser) -> None:
    await register(wc_user)
    await wc_user.press("Report theft")
    await wc_user.press("Theft")
    await wc_user.press("Yes, I know the IVRS")
    response = await wc_user.client.post(
        "/api/message",
        json={"text": INJECTION_IVRS, "after": wc_user.last_seq},
        headers={"X-CSRF-Token": wc_user.csrf},
    )
    assert response.content_type == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    card = wc_user._take(await response.json())[-1]
    assert INJECTION_ADDRESS in card["text"]  # exactly as in the register, not escaped twice, not stripped
    assert INJECTION_NAME not in card["text"] and "Private Name" not in card["text"]
    await wc_user.send("/nearby")
    await wc_user.post({"location": {"lat": 23.1687, "lon": 79.9340, "source": "gps"}})
    listing = wc_user.expect("Consumers within")
    assert INJECTION_ADDRESS in listing["text"] and INJECTION_IVRS in listing["text"]


# --- pushes and the long poll --------------------------------------------------------------------


async def test_long_poll_delivers_a_pushed_status_message(wc_user: WebChatUser, webchat: WebChatChannel) -> None:
    await wc_user.send("/start")
    after = wc_user.last_seq
    response = await wc_user.client.get(f"/api/messages?after={after}&wait=0", headers={"X-CSRF-Token": wc_user.csrf})
    assert (await response.json())["messages"] == []
    user_id = next(iter(webchat.outbox._boxes))

    async def later() -> None:
        await asyncio.sleep(0.2)
        await webchat.push(user_id, Reply(text="Status of VM-2026-000001: in process"), "status")

    pusher = asyncio.create_task(later())
    response = await wc_user.client.get(f"/api/messages?after={after}&wait=5", headers={"X-CSRF-Token": wc_user.csrf})
    await pusher
    data = await response.json()
    assert [m["text"] for m in data["messages"]] == ["Status of VM-2026-000001: in process"]
    assert data["messages"][0]["seq"] == after + 1
    response = await wc_user.client.get("/api/messages?after=x", headers={"X-CSRF-Token": wc_user.csrf})
    assert response.status == 400


async def test_reply_photos_are_served_only_to_their_user(
    wc_server: TestServer, wc_user: WebChatUser, webchat: WebChatChannel, wc_runtime: Runtime
) -> None:
    stored = wc_runtime.photo_store.ingest(jpeg_bytes())
    await wc_user.send("/start")
    user_id = next(iter(webchat.outbox._boxes))
    await webchat.push(user_id, Reply(text="", photos=[stored.path]), "photo")
    poll = f"/api/messages?after={wc_user.last_seq}&wait=0"
    response = await wc_user.client.get(poll, headers={"X-CSRF-Token": wc_user.csrf})
    url = (await response.json())["messages"][0]["photos"][0]
    image = await wc_user.client.get(url)
    assert image.status == 200 and image.content_type == "image/jpeg"
    other = await _fresh_client(wc_server)
    try:
        await other.get("/api/bootstrap")
        assert (await other.get(url)).status == 404
        assert (await wc_user.client.get(url.replace("sig=", "sig=x"))).status == 404
    finally:
        await other.close()


# --- registration cannot take over another webchat's citizen ------------------------------------


async def test_a_number_registered_on_telegram_is_not_taken_over_from_the_web(
    wc_user: WebChatUser, wc_runtime: Runtime
) -> None:
    telegram = Chat(wc_runtime.engine, MemoryAdapter(), user_id="555")
    await telegram.send("/start")
    await telegram.press("English")
    await telegram.press("agree")
    await telegram.share_contact("+919812345678")
    telegram.expect("you are registered")
    await wc_user.send("/start")
    await wc_user.press("English")
    await wc_user.press("agree")
    await wc_user.post({"contact": {"phone": "98123 45678"}})
    wc_user.expect("your own number")
    async with wc_runtime.db.reader() as session:
        web = await session.scalar(select(ChannelIdentity).where(ChannelIdentity.channel == "webchat"))
        tg = await session.scalar(select(ChannelIdentity).where(ChannelIdentity.channel == "telegram"))
        assert web is not None and tg is not None and web.citizen_id != tg.citizen_id
        assert (await session.scalars(select(Complaint))).all() == []
