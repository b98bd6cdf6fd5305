"""`run_bot.py complaints list|show`: the administrator's full view, every look written to the audit log."""

from __future__ import annotations

import argparse
import json
from typing import Any

from sqlalchemy import select

from bot.cli.database import open_database
from bot.config import Settings
from storage.models import ChannelIdentity, Citizen, Complaint
from storage.repositories import AuditRepository, ComplaintRepository, OfficerRepository


def register(sub: Any) -> None:
    complaints = sub.add_parser("complaints", help="inspect complaints (every view is audit-logged)")
    actions = complaints.add_subparsers(dest="complaints_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list complaints, newest first")
    listing.add_argument("--status", help="pending, assigned, accepted, inspecting or complete")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=list_complaints)
    show = actions.add_parser("show", help="everything about one complaint, the informant included")
    show.add_argument("id", help="public id, e.g. VM-2026-000123")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=show_complaint)


def _summary(complaint: Complaint) -> dict[str, Any]:
    return {
        "id": complaint.public_id,
        "category": complaint.category,
        "status": complaint.status,
        "outcome": complaint.outcome,
        "district": complaint.district,
        "target_ivrs": complaint.target_ivrs,
        "latitude": complaint.latitude,
        "longitude": complaint.longitude,
        "channel": complaint.channel,
        "created_at": complaint.created_at.isoformat(),
    }


async def list_complaints(args: argparse.Namespace, settings: Settings) -> int:
    database = open_database(settings)
    try:
        await database.upgrade()
        async with database.transaction() as session:
            stmt = select(Complaint).order_by(Complaint.id.desc()).limit(args.limit)
            if args.status:
                stmt = stmt.where(Complaint.status == args.status)
            rows = [_summary(c) for c in await session.scalars(stmt)]
            await AuditRepository(session).record("admin", "complaints.list", None, status=args.status, count=len(rows))
    finally:
        await database.dispose()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    elif not rows:
        print("No complaints.")
    else:
        for row in rows:
            district = row["district"] or "-"
            print(f"{row['id']}  {row['status']:<10} {row['category']:<22} {district:<12} {row['created_at']}")
    return 0


async def show_complaint(args: argparse.Namespace, settings: Settings) -> int:
    database = open_database(settings)
    try:
        await database.upgrade()
        async with database.transaction() as session:
            complaints = ComplaintRepository(session)
            complaint = await complaints.by_public_id(args.id)
            if complaint is None:
                print(f"No complaint {args.id}.")
                return 2
            detail = _summary(complaint)
            detail["note"] = complaint.note
            detail["assessed_amount_paise"] = complaint.assessed_amount_paise
            detail["case_reference"] = complaint.case_reference
            detail["photos"] = [{"sha256": p.content_hash, "path": p.path} for p in complaint.photos]
            detail["history"] = [
                {
                    "at": h.created_at.isoformat(),
                    "to": h.to_status,
                    "outcome": h.outcome,
                    "by": h.actor_kind,
                    "actor_id": h.actor_id,
                }
                for h in complaint.history
            ]
            citizen = await session.get(Citizen, complaint.citizen_id) if complaint.citizen_id else None
            if citizen is not None:
                identities = await session.scalars(
                    select(ChannelIdentity).where(ChannelIdentity.citizen_id == citizen.id)
                )
                detail["informant"] = {
                    "citizen_id": citizen.id,
                    "phone": citizen.phone,
                    "channels": [f"{i.channel}:{i.external_id}" for i in identities],
                }
            assignment = await OfficerRepository(session).current_assignment(complaint.id)
            if assignment is not None:
                detail["assignment"] = {"officer_id": assignment.officer_id, "state": assignment.state}
            await AuditRepository(session).record("admin", "complaint.show", complaint.public_id)
    finally:
        await database.dispose()
    if args.json:
        print(json.dumps(detail, ensure_ascii=False, indent=2))
    else:
        for key, value in detail.items():
            print(f"{key}: {value}")
    return 0
