"""`run_bot.py rewards list|appeal|release|cancel|retry`: the administrator's view of rewards and their appeals."""

from __future__ import annotations

import argparse
import json
from typing import Any

from sqlalchemy import select

from bot.cli.database import open_database
from bot.config import Settings
from bot.rewards.appeals import AppealRefused, decide_appeal, record_appeal
from bot.rewards.notices import rupees
from storage.models import Complaint, Reward
from storage.repositories import AuditRepository, RewardRepository

STATES = ("scheduled", "held", "due", "awaiting_bank", "paying", "paid", "failed", "cancelled")


def register(sub: Any) -> None:
    """Add the rewards subcommands."""
    rewards = sub.add_parser("rewards", help="rewards owed to informants, and appeals against findings")
    actions = rewards.add_subparsers(dest="rewards_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list rewards, newest first")
    listing.add_argument("--state", choices=STATES)
    listing.add_argument("--limit", type=int, default=200)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=list_rewards)
    for name, help_text, handler in (
        ("appeal", "an appeal was filed against the finding: hold the reward (before it is due)", appeal),
        ("release", "the appeal was decided for the company: pay the held reward at once", release),
        ("cancel", "the appeal was decided against the finding: cancel the held reward", cancel),
        ("retry", "pay a failed reward again (after its bank details were checked)", retry),
    ):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("id", type=int, help="the reward's id (see rewards list)")
        action.set_defaults(handler=handler)


def _row(reward: Reward, public_id: str | None) -> dict[str, Any]:
    def when(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": reward.id,
        "complaint": public_id,
        "slab": reward.slab,
        "amount_paise": reward.amount_paise,
        "state": reward.state,
        "due_at": when(reward.due_at),
        "attempt": reward.attempt,
        "bank_reference": reward.bank_reference,
        "paid_at": when(reward.paid_at),
        "failure_reason": reward.failure_reason,
        "appealed_at": when(reward.appealed_at),
        "appeal_outcome": reward.appeal_outcome,
    }


async def list_rewards(args: argparse.Namespace, settings: Settings) -> int:
    """Print rewards (never the informant's details)."""
    database = open_database(settings)
    try:
        await database.upgrade()
        async with database.reader() as session:
            stmt = (
                select(Reward, Complaint.public_id)
                .join(Complaint, Complaint.id == Reward.complaint_id)
                .order_by(Reward.id.desc())
                .limit(args.limit)
            )
            if args.state:
                stmt = stmt.where(Reward.state == args.state)
            rows = [_row(reward, public_id) for reward, public_id in (await session.execute(stmt)).all()]
    finally:
        await database.dispose()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    elif not rows:
        print("No rewards.")
    else:
        print(f"{'id':>5}  {'complaint':<16} {'state':<13} {'amount (Rs)':>12}  {'due (UTC)':<16}  reference")
        for row in rows:
            due = (row["due_at"] or "")[:16].replace("T", " ")
            amount = rupees(row["amount_paise"])
            print(
                f"{row['id']:>5}  {row['complaint'] or '-':<16} {row['state']:<13} {amount:>12}  {due:<16}  "
                f"{row['bank_reference'] or row['failure_reason'] or ''}"
            )
    return 0


async def _appeal_step(settings: Settings, reward_id: int, step: str) -> int:
    database = open_database(settings)
    try:
        await database.upgrade()
        async with database.transaction() as session:
            if await RewardRepository(session).get(reward_id) is None:
                print(f"No reward {reward_id}.")
                return 2
            try:
                if step == "appeal":
                    reward = await record_appeal(session, reward_id, actor="admin")
                else:
                    reward = await decide_appeal(session, reward_id, for_company=step == "release", actor="admin")
            except AppealRefused as refused:
                state = refused.reward.state if refused.reward is not None else "?"
                state = "past its appeal window" if state == "scheduled" else state
                print(f"Reward {reward_id} is {state}: {refused}.")
                return 2
    finally:
        await database.dispose()
    done = {"appeal": "held for the appeal", "release": "due: it will be paid at once", "cancel": "cancelled"}
    print(f"Reward {reward_id} (Rs {rupees(reward.amount_paise)}) is {done[step]}; the complainant is told.")
    return 0


async def appeal(args: argparse.Namespace, settings: Settings) -> int:
    """Hold a scheduled reward for an appeal."""
    return await _appeal_step(settings, args.id, "appeal")


async def release(args: argparse.Namespace, settings: Settings) -> int:
    """The appeal was decided for the company: the held reward becomes due."""
    return await _appeal_step(settings, args.id, "release")


async def cancel(args: argparse.Namespace, settings: Settings) -> int:
    """The appeal was decided against the finding: cancel the held reward."""
    return await _appeal_step(settings, args.id, "cancel")


async def retry(args: argparse.Namespace, settings: Settings) -> int:
    """A failed reward becomes due again."""
    database = open_database(settings)
    try:
        await database.upgrade()
        async with database.transaction() as session:
            rewards = RewardRepository(session)
            reward = await rewards.get(args.id)
            if reward is None or reward.state != "failed":
                print(f"Reward {args.id} is {reward.state if reward else 'unknown'}; only a failed reward is retried.")
                return 2
            if not await rewards.transition(args.id, ("failed",), "due"):
                print(f"Reward {args.id} changed meanwhile; nothing done.")
                return 2
            await AuditRepository(session).record("admin", "reward.retry", f"reward:{args.id}")
    finally:
        await database.dispose()
    print(f"Reward {args.id} is due again; the bot pays it at its next sweep.")
    return 0
