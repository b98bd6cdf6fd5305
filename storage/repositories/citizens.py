"""Citizens and their channel identities."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.models import ChannelIdentity, Citizen, utcnow

TOUCH_EVERY = timedelta(minutes=1)

# Channels where a typed number is not proven to belong to the sender (no SMS check in the web chat).
UNVERIFIED_CHANNELS = frozenset({"webchat"})


class CitizenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, citizen_id: int) -> Citizen | None:
        return await self.session.get(Citizen, citizen_id)

    async def identity(self, channel: str, external_id: str) -> ChannelIdentity | None:
        """The identity for a channel address, with its citizen loaded."""
        stmt = (
            select(ChannelIdentity)
            .where(ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id)
            .options(selectinload(ChannelIdentity.citizen))
        )
        return await self.session.scalar(stmt)

    async def by_phone(self, phone: str) -> Citizen | None:
        return await self.session.scalar(select(Citizen).where(Citizen.phone == phone))

    async def identity_or_create(self, channel: str, external_id: str, language: str) -> ChannelIdentity:
        """The identity for a channel address; a new unregistered citizen is created on first contact."""
        found = await self.identity(channel, external_id)
        if found is not None:
            return found
        citizen = Citizen(language=language)
        identity = ChannelIdentity(channel=channel, external_id=external_id, citizen=citizen)
        self.session.add_all([citizen, identity])
        await self.session.flush()
        return identity

    async def touch(self, identity: ChannelIdentity) -> None:
        """Record an inbound message: the channel used last is where pushes go.

        The time is refreshed at most once a minute, sparing most updates a write; it can only be
        early, so WhatsApp's 24-hour window is at worst taken to close a minute before it does.
        """
        now = utcnow()
        if identity.last_inbound_at is None or now - identity.last_inbound_at >= TOUCH_EVERY:
            identity.last_inbound_at = now
        if identity.citizen.last_identity_id != identity.id:
            identity.citizen.last_identity_id = identity.id

    async def register_phone(self, identity: ChannelIdentity, phone: str) -> Citizen:
        """Confirm the citizen's phone; if another identity already owns it, join this one to that citizen."""
        current = identity.citizen
        owner = await self.by_phone(phone)
        if owner is not None and owner.id != current.id and identity.channel not in UNVERIFIED_CHANNELS:
            channels = {i.channel for i in await self.identities_of(owner.id)}
            if channels <= UNVERIFIED_CHANNELS:
                # Only an unproven claim holds the number: the proven owner takes it over, and the
                # web chat user keeps their own (now numberless) record and complaints.
                owner.phone = None
                await self.session.flush()
                owner = None
        if owner is not None and owner.id != current.id:
            identity.citizen = owner
            owner.language = current.language
            owner.last_identity_id = identity.id
            await self.session.flush()
            if current.registered_at is None:
                await self.session.delete(current)
            citizen = owner
        else:
            current.phone = phone
            citizen = current
        if citizen.registered_at is None:
            citizen.registered_at = utcnow()
        await self.session.flush()
        return citizen

    async def set_language(self, citizen: Citizen, language: str) -> None:
        citizen.language = language
        await self.session.flush()

    async def identities_of(self, citizen_id: int) -> list[ChannelIdentity]:
        rows = await self.session.scalars(select(ChannelIdentity).where(ChannelIdentity.citizen_id == citizen_id))
        return list(rows)
