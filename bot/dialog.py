"""Dialog building blocks: steps registered by name, and the context a step works with."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.events import Ask, Choice, InboundEvent, MapPin, Reply
from bot.i18n import translate
from storage.models import ChannelIdentity, Citizen, Officer
from storage.photo_store import PhotoStore, RejectReason, StoredPhoto
from storage.repositories import (
    CitizenRepository,
    ComplaintRepository,
    ConsumerRepository,
    OfficerRepository,
)

IDLE = "menu"

StepFn = Callable[["DialogContext"], Awaitable[None]]


@dataclass(frozen=True)
class Step:
    """One state of a dialog: `prompt` asks the question, `handle` takes the answer."""

    name: str
    handle: StepFn | None = None
    prompt: StepFn | None = None
    # Steps that accept free text as an answer (so the billing/outage redirect stays out of the way).
    takes_text: bool = False


STEPS: dict[str, Step] = {}


def _update(name: str, **fields: Any) -> None:
    current = STEPS.get(name, Step(name))
    STEPS[name] = Step(**{**current.__dict__, **fields})


def on(name: str, *, takes_text: bool = False) -> Callable[[StepFn], StepFn]:
    """Register the function that handles the user's answer at step `name`."""

    def register(fn: StepFn) -> StepFn:
        _update(name, handle=fn, takes_text=takes_text)
        return fn

    return register


def prompt(name: str) -> Callable[[StepFn], StepFn]:
    """Register the function that asks the question of step `name` when the dialog arrives there."""

    def register(fn: StepFn) -> StepFn:
        _update(name, prompt=fn)
        return fn

    return register


@dataclass(frozen=True)
class PhotoOutcome:
    """One attachment after intake: stored, or rejected with a reason."""

    stored: StoredPhoto | None = None
    rejected: RejectReason | None = None


@dataclass
class DialogContext:
    """What a step sees: the event, the citizen, the dialog's data, the repositories; and what it says."""

    event: InboundEvent
    session: AsyncSession
    settings: Settings
    identity: ChannelIdentity
    step: str
    data: dict[str, Any]
    photos: list[PhotoOutcome] = field(default_factory=list)
    photo_store: PhotoStore | None = None
    replies: list[Reply] = field(default_factory=list)
    next_step: str | None = None
    # Set when the sender is an active vigilance officer: they get the officer dialogs.
    officer: Officer | None = None

    @property
    def citizen(self) -> Citizen:
        return self.identity.citizen

    @property
    def language(self) -> str:
        return self.citizen.language

    def t(self, key: str, **values: Any) -> str:
        """The message `key` in the citizen's language."""
        return translate(self.language, key, **values)

    def say(
        self,
        text: str,
        *,
        choices: list[list[Choice]] | None = None,
        ask: Ask | None = None,
        ask_label: str | None = None,
        pin: MapPin | None = None,
    ) -> Reply:
        """Queue a reply (text already translated)."""
        reply = Reply(text=text, choices=choices or [], ask=ask, ask_label=ask_label, pin=pin)
        self.replies.append(reply)
        return reply

    def choice(self, payload: str, key: str, **values: Any) -> Choice:
        """A button whose label is the translated message `key`."""
        return Choice(payload, self.t(key, **values))

    def goto(self, step: str) -> None:
        """Move to `step` once the current handler returns; its prompt will ask its question."""
        if step not in STEPS:
            raise KeyError(f"unknown dialog step {step!r}")
        self.next_step = step

    def settle_at(self, step: str) -> None:
        """Move to `step` without asking its question (the reply already said what comes next)."""
        if step not in STEPS:
            raise KeyError(f"unknown dialog step {step!r}")
        self.step, self.next_step = step, None

    def reset(self, step: str = IDLE) -> None:
        """Drop everything collected so far and go to `step`."""
        self.data.clear()
        self.goto(step)

    @cached_property
    def citizens(self) -> CitizenRepository:
        return CitizenRepository(self.session)

    @cached_property
    def consumers(self) -> ConsumerRepository:
        return ConsumerRepository(self.session)

    @cached_property
    def complaints(self) -> ComplaintRepository:
        return ComplaintRepository(self.session, self.settings.complaints.id_prefix)

    @cached_property
    def officers(self) -> OfficerRepository:
        return OfficerRepository(self.session)
