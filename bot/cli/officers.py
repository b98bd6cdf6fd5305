"""`run_bot.py officers add|list|deactivate`: the registry of vigilance officers."""

from __future__ import annotations

import argparse
import json
from typing import Any

from bot.cli.database import open_database
from bot.config import Settings
from bot.phones import normalise_mobile
from storage.repositories import AuditRepository, OfficerRepository


def register(sub: Any) -> None:
    officers = sub.add_parser("officers", help="manage vigilance officers")
    actions = officers.add_subparsers(dest="officers_command", metavar="ACTION", required=True)

    add = actions.add_parser("add", help="register an officer who will use the bot")
    add.add_argument("--name", required=True)
    add.add_argument("--district", required=True)
    add.add_argument("--zone")
    add.add_argument("--role", choices=("inspector", "supervisor"), required=True)
    where = add.add_mutually_exclusive_group(required=True)
    where.add_argument("--telegram-id", help="the officer's numeric Telegram user id")
    where.add_argument("--whatsapp", help="the officer's WhatsApp number, e.g. +919876543210")
    add.set_defaults(handler=add_officer)

    listing = actions.add_parser("list", help="list officers")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=list_officers)

    deactivate = actions.add_parser("deactivate", help="stop routing complaints to an officer")
    deactivate.add_argument("id", type=int)
    deactivate.set_defaults(handler=deactivate_officer)


def _match_district(settings: Settings, district: str) -> str | None:
    for known in settings.service_area.districts:
        if known.casefold() == district.strip().casefold():
            return known
    return None


async def add_officer(args: argparse.Namespace, settings: Settings) -> int:
    district = _match_district(settings, args.district)
    if district is None:
        print(f"Unknown district {args.district!r}. Known: {', '.join(settings.service_area.districts)}")
        return 2
    if args.telegram_id is not None:
        if not args.telegram_id.isdigit():
            print("--telegram-id must be the numeric Telegram user id (ask the officer to message @userinfobot).")
            return 2
        channel, external_id = "telegram", args.telegram_id
    else:
        phone = normalise_mobile(args.whatsapp)
        if phone is None:
            print(f"{args.whatsapp!r} is not a valid Indian mobile number.")
            return 2
        channel, external_id = "whatsapp", phone
    database = open_database(settings)
    try:
        await database.upgrade()
        async with database.transaction() as session:
            officers = OfficerRepository(session)
            existing = await officers.by_identity(channel, external_id)
            if existing is not None:
                print(f"Officer {existing.id} ({existing.name}) already uses that {channel} account.")
                return 2
            officer = await officers.add(
                name=args.name.strip(),
                district=district,
                zone=args.zone,
                role=args.role,
                channel=channel,
                external_id=external_id,
            )
            await AuditRepository(session).record("admin", "officer.add", str(officer.id), role=args.role)
        print(f"Added officer {officer.id}: {officer.name}, {officer.role}, {officer.district} ({channel}).")
        return 0
    finally:
        await database.dispose()


async def list_officers(args: argparse.Namespace, settings: Settings) -> int:
    database = open_database(settings)
    try:
        await database.upgrade()
        async with database.reader() as session:
            repo = OfficerRepository(session)
            rows = []
            for officer in await repo.list():
                rows.append(
                    {
                        "id": officer.id,
                        "name": officer.name,
                        "role": officer.role,
                        "district": officer.district,
                        "zone": officer.zone,
                        "channel": officer.channel,
                        "active": officer.active,
                        "open_assignments": len(await repo.open_assignments(officer.id)),
                    }
                )
    finally:
        await database.dispose()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not rows:
        print("No officers yet. Add one with: python run_bot.py officers add --help")
        return 0
    print(f"{'id':>4}  {'name':<24} {'role':<10} {'district':<12} {'channel':<9} {'active':<6} open")
    for row in rows:
        active = "yes" if row["active"] else "no"
        print(
            f"{row['id']:>4}  {row['name']:<24} {row['role']:<10} {row['district']:<12} "
            f"{row['channel']:<9} {active:<6} {row['open_assignments']}"
        )
    return 0


async def deactivate_officer(args: argparse.Namespace, settings: Settings) -> int:
    database = open_database(settings)
    try:
        await database.upgrade()
        async with database.transaction() as session:
            if not await OfficerRepository(session).deactivate(args.id):
                print(f"No officer with id {args.id}.")
                return 2
            await AuditRepository(session).record("admin", "officer.deactivate", str(args.id))
    finally:
        await database.dispose()
    print(f"Officer {args.id} deactivated: no new complaints will be routed to them.")
    return 0
