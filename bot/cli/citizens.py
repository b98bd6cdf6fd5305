"""`run_bot.py citizens block|unblock|blocked`: the blocked-users list (every change audit-logged)."""

from __future__ import annotations

import argparse
from typing import Any

from sqlalchemy import select

from bot.cli.database import open_database
from bot.config import Settings
from bot.phones import normalise_mobile
from storage.models import Citizen
from storage.repositories import AuditRepository, CitizenRepository


def register(sub: Any) -> None:
    citizens = sub.add_parser("citizens", help="block or unblock citizens who abuse the service")
    actions = citizens.add_subparsers(dest="citizens_command", metavar="ACTION", required=True)
    for name, help_text in (("block", "stop a citizen from using the bot"), ("unblock", "lift a block")):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("--phone", required=True, help="the citizen's registered mobile number")
        action.add_argument("--reason", default="", help="why (kept in the audit log)")
        action.set_defaults(handler=set_blocked, blocked=name == "block")
    listing = actions.add_parser("blocked", help="list blocked citizens (masked numbers)")
    listing.set_defaults(handler=list_blocked)


def masked(phone: str | None) -> str:
    """+91XXXXXX3210: enough to tell numbers apart, not enough to call one."""
    return f"{phone[:3]}XXXXXX{phone[-4:]}" if phone and len(phone) > 7 else "(no number)"


async def set_blocked(args: argparse.Namespace, settings: Settings) -> int:
    phone = normalise_mobile(args.phone)
    if phone is None:
        print(f"{args.phone!r} is not a valid Indian mobile number.")
        return 2
    database = open_database(settings)
    try:
        await database.upgrade()
        async with database.transaction() as session:
            citizen = await CitizenRepository(session).by_phone(phone)
            if citizen is None:
                print(f"No citizen is registered with {masked(phone)}.")
                return 2
            citizen.blocked = args.blocked
            action = "citizen.block" if args.blocked else "citizen.unblock"
            await AuditRepository(session).record("admin", action, str(citizen.id), reason=args.reason)
    finally:
        await database.dispose()
    print(f"Citizen {citizen.id} ({masked(phone)}) {'blocked' if args.blocked else 'unblocked'}.")
    return 0


async def list_blocked(args: argparse.Namespace, settings: Settings) -> int:
    database = open_database(settings)
    try:
        await database.upgrade()
        async with database.reader() as session:
            rows = list(await session.scalars(select(Citizen).where(Citizen.blocked.is_(True)).order_by(Citizen.id)))
    finally:
        await database.dispose()
    if not rows:
        print("No citizen is blocked.")
    for citizen in rows:
        print(f"{citizen.id:>6}  {masked(citizen.phone)}")
    return 0
