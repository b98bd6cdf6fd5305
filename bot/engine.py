"""The dialog engine: runs every inbound event through the channel-neutral flows, exactly once.

For each event the engine
1. drops it if its update id was already processed,
2. downloads and checks its photos (outside any database transaction),
3. in ONE transaction: records the update id, finds or creates the citizen, loads the dialog
   state, runs the current step (or a global command), saves the state,
4. hands the replies to the channel adapter.

One user's events run strictly in the order they arrived; different users run concurrently.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import unicodedata
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from sqlalchemy.exc import IntegrityError

from bot.config import Settings
from bot.dialog import IDLE, STEPS, DialogContext, PhotoOutcome
from bot.events import Attachment, InboundEvent, Reply
from bot.i18n import translate
from bot.phones import normalise_mobile
from storage.db import Database
from storage.models import ChannelIdentity
from storage.photo_store import PhotoRejected, PhotoStore, RejectReason
from storage.repositories import (
    CitizenRepository,
    DialogStateRepository,
    InboundRepository,
    OfficerRepository,
    ProcessedUpdateRepository,
    queued_in,
)

log = logging.getLogger(__name__)

MAX_STEP_HOPS = 8


class AttachmentTooLarge(Exception):
    """The channel reports the attachment is bigger than we accept."""


class AttachmentUnavailable(Exception):
    """The attachment could not be downloaded."""


class ChannelAdapter(Protocol):
    """What the engine needs from a channel."""

    name: str
    # True when choices are drawn as a numbered list, so "2" picks the second choice.
    numbered_choices: bool

    async def send(self, external_id: str, replies: list[Reply]) -> None: ...

    async def fetch_attachment(self, attachment: Attachment, max_bytes: int) -> bytes: ...


Router = Callable[[DialogContext], Awaitable[bool]]


@dataclass
class _Lane:
    """One user's queue of events and whether a worker is draining it."""

    queue: deque[tuple[InboundEvent, ChannelAdapter, asyncio.Future[list[Reply]]]] = field(default_factory=deque)
    running: bool = False


class DialogEngine:
    """Channel-neutral event processing with per-user ordering and exactly-once effects."""

    def __init__(self, db: Database, settings: Settings, photo_store: PhotoStore, router: Router) -> None:
        self.db = db
        self.settings = settings
        self.photo_store = photo_store
        self.router = router
        self._lanes: dict[str, _Lane] = {}
        self._slots = asyncio.Semaphore(settings.dialog.workers)
        self._tasks: set[asyncio.Task[None]] = set()
        # Called after each committed event, told whether it queued pushes (the notifier's wake-up).
        self.on_committed: Callable[[bool], None] | None = None

    def submit(self, event: InboundEvent, adapter: ChannelAdapter) -> asyncio.Future[list[Reply]]:
        """Queue an event behind the same user's earlier ones; the future resolves once replies are sent.

        Synchronous on purpose: callers enqueue in arrival order before they ever yield.
        """
        future: asyncio.Future[list[Reply]] = asyncio.get_running_loop().create_future()
        lane = self._lanes.setdefault(event.user_key, _Lane())
        lane.queue.append((event, adapter, future))
        if not lane.running:
            lane.running = True
            task = asyncio.create_task(self._drain(event.user_key, lane))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return future

    async def _drain(self, user_key: str, lane: _Lane) -> None:
        try:
            while lane.queue:
                event, adapter, future = lane.queue.popleft()
                try:
                    async with self._slots:
                        replies = await self.handle(event, adapter)
                    # Sending is outside the slot: it is waiting on the network, not work, and the
                    # lane still sends this user's replies before it takes their next event.
                    if replies:
                        await adapter.send(event.external_id, replies)
                except Exception as exc:
                    log.exception("failed to handle an event on %s", event.channel)
                    if not future.done():
                        future.set_exception(exc)
                    continue
                if not future.done():
                    future.set_result(replies)
        finally:
            lane.running = False
            if self._lanes.get(user_key) is lane and not lane.queue:
                del self._lanes[user_key]

    async def drain(self) -> None:
        """Wait until every queued event has been handled (for shutdown and tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def handle(self, event: InboundEvent, adapter: ChannelAdapter) -> list[Reply]:
        """Process one event and return the replies; a redelivered update returns none.

        A redelivered update fails the first statement of its transaction (recording its id), so it
        changes nothing and is answered by nobody. Only an update with attachments is looked up
        first, to spare downloading them again; for the others that read would cost every update a
        session of its own.
        """
        if event.update_id is not None and event.attachments and await self._seen(event):
            log.info("duplicate update %s on %s ignored", event.update_id, event.channel)
            return []
        photos = [await self._intake(att, adapter) for att in event.attachments]
        try:
            replies, queued = await self._run(event, adapter, photos)
            if self.on_committed is not None:
                self.on_committed(queued)
            return replies
        except IntegrityError:
            if event.update_id is not None and await self._seen(event):
                log.info("duplicate update %s on %s ignored", event.update_id, event.channel)
                return []  # redelivered, or a concurrent delivery of the same update won the race
            raise
        except Exception:
            log.exception("dialog step failed on %s", event.channel)
            language = await self._language_of(event)
            return [Reply(text=translate(language, "errors.internal"))]

    async def _seen(self, event: InboundEvent) -> bool:
        assert event.update_id is not None
        async with self.db.reader() as session:
            return await ProcessedUpdateRepository(session).seen(event.channel, event.update_id)

    async def _run(
        self, event: InboundEvent, adapter: ChannelAdapter, photos: list[PhotoOutcome]
    ) -> tuple[list[Reply], bool]:
        """The dialog step in one transaction; returns its replies and whether it queued pushes."""
        async with self.db.transaction() as session:
            if event.update_id is not None:
                await ProcessedUpdateRepository(session).mark(event.channel, event.update_id)
            citizens = CitizenRepository(session)
            states = DialogStateRepository(session)
            sender = await InboundRepository(session).sender(event.channel, event.external_id, event.user_key)
            identity, officer, state = sender.identity, sender.officer, sender.state
            if identity is None:
                identity = await citizens.identity_or_create(
                    event.channel, event.external_id, self._first_language(event)
                )
                officer = await OfficerRepository(session).by_identity(event.channel, event.external_id)
                state = await states.load(event.user_key)
            await citizens.touch(identity)
            if event.verified_phone and identity.citizen.registered_at is None:
                await self._link_verified_phone(citizens, identity, event.verified_phone)
            step = state.step if state is not None and state.step in STEPS else IDLE
            data = copy.deepcopy(state.data) if state is not None else {}
            event = self._resolve_choice(event, data, adapter)
            ctx = DialogContext(
                event=event,
                session=session,
                settings=self.settings,
                identity=identity,
                step=step,
                data=data,
                photos=photos,
                photo_store=self.photo_store,
                officer=officer,
            )
            await self._dispatch(ctx)
            self._remember_choices(ctx)
            await states.save(event.user_key, ctx.step, ctx.data)
        return ctx.replies, queued_in(session)

    @staticmethod
    async def _link_verified_phone(citizens: CitizenRepository, identity: ChannelIdentity, raw_phone: str) -> None:
        """A channel-verified number (WhatsApp) that a registered citizen already owns joins that citizen at once."""
        phone = normalise_mobile(raw_phone)
        owner = await citizens.by_phone(phone) if phone else None
        if phone and owner is not None and owner.registered_at is not None:
            await citizens.register_phone(identity, phone)

    async def _dispatch(self, ctx: DialogContext) -> None:
        if not await self.router(ctx):
            current = STEPS[ctx.step]
            if current.handle is not None:
                await current.handle(ctx)
            else:
                ctx.goto(IDLE)
        for _ in range(MAX_STEP_HOPS):
            if ctx.next_step is None:
                return
            ctx.step, ctx.next_step = ctx.next_step, None
            target = STEPS[ctx.step]
            if target.prompt is not None:
                await target.prompt(ctx)
        raise RuntimeError(f"dialog did not settle after {MAX_STEP_HOPS} steps (at {ctx.step})")

    @staticmethod
    def _resolve_choice(event: InboundEvent, data: dict[str, object], adapter: ChannelAdapter) -> InboundEvent:
        """Turn a typed answer into the button it names: the label itself, or its number on list channels."""
        if event.choice is not None or not event.text or event.command:
            return event
        offered = data.get("_choices")
        if not isinstance(offered, list) or not offered:
            return event
        typed = event.text.strip().casefold()
        if adapter.numbered_choices and typed.isascii() and typed.isdigit():
            labels = [str(label) for _, label in offered]
            for (payload, _), number in zip(offered, choice_numbers(labels), strict=True):
                if number == int(typed):
                    return replace(event, choice=payload, text=None)
        for payload, label in offered:
            if typed in (str(label).strip().casefold(), plain_label(str(label)).casefold()):
                return replace(event, choice=payload, text=None)
        return event

    @staticmethod
    def _remember_choices(ctx: DialogContext) -> None:
        last = next((reply for reply in reversed(ctx.replies) if reply.choices), None)
        if last is not None:
            ctx.data["_choices"] = [[c.payload, c.label] for c in last.flat_choices]
        elif ctx.replies:
            ctx.data.pop("_choices", None)

    def _first_language(self, event: InboundEvent) -> str:
        hint = (event.language_hint or "").split("-")[0].lower()
        return hint if hint in ("en", "hi") else self.settings.dialog.default_language

    async def _language_of(self, event: InboundEvent) -> str:
        try:
            async with self.db.reader() as session:
                identity = await CitizenRepository(session).identity(event.channel, event.external_id)
                return identity.citizen.language if identity is not None else self._first_language(event)
        except Exception:
            return self._first_language(event)

    async def _intake(self, attachment: Attachment, adapter: ChannelAdapter) -> PhotoOutcome:
        """Download one attachment and store it if it is an acceptable photo."""
        limit = self.photo_store.max_bytes
        mime = (attachment.mime_type or "").lower()
        if not attachment.is_photo and not mime.startswith("image/"):
            return PhotoOutcome(rejected=RejectReason.NOT_AN_IMAGE)
        if attachment.size_bytes is not None and attachment.size_bytes > limit:
            return PhotoOutcome(rejected=RejectReason.TOO_LARGE)
        try:
            data = await adapter.fetch_attachment(attachment, limit)
        except AttachmentTooLarge:
            return PhotoOutcome(rejected=RejectReason.TOO_LARGE)
        except AttachmentUnavailable:
            return PhotoOutcome(rejected=RejectReason.UNAVAILABLE)
        try:
            stored = await asyncio.to_thread(self.photo_store.ingest, data)
        except PhotoRejected as exc:
            return PhotoOutcome(rejected=exc.reason)
        return PhotoOutcome(stored=stored)


def choice_numbers(labels: list[str]) -> list[int]:
    """The number that picks each choice on list channels.

    A choice's position, except that a choice labelled with a number ("11" on page two of the
    nearby list) is picked by that number, and the others are numbered after the highest such
    label (bot/channels/whatsapp_wire.py draws lists by the same rule).
    """
    numeric = [int(label) for label in labels if label.isascii() and label.isdigit()]
    following = max(numeric, default=0) + 1
    numbers = []
    for label in labels:
        if label.isascii() and label.isdigit():
            numbers.append(int(label))
        else:
            numbers.append(following)
            following += 1
    return numbers


def plain_label(label: str) -> str:
    """A label without leading/trailing emoji and symbols ("✅ I agree" -> "I agree"), for typed answers."""
    start, end = 0, len(label)
    while start < end and unicodedata.category(label[start])[0] not in "LNM":
        start += 1
    while end > start and unicodedata.category(label[end - 1])[0] not in "LNM":
        end -= 1
    return label[start:end]
