"""Pushed messages against Telegram's flood limits (issue 6): the notifier's sustained rate, 429s and order.

The fake Bot API runs in its own process with Telegram's limits (429 with retry_after beyond 30
messages a second overall or one a second per chat). This process holds the bot's side as
bot/cli/serve.py builds it: the runtime on a fresh SQLite file, its notifier with the pacing of
config.yaml, and the TelegramChannel registered with it. 1,500 messages to 400 chats are queued in
the outbox at once and the notifier drains them.

    python bench/notify.py                      # 1,500 messages to 400 chats
    python bench/notify.py --messages 600 --chats 200

The rate is measured on the fake's clock, from the first accepted message to the last: (accepted - 1)
/ seconds. Targets: at least 90% of 30 messages/s, no 429 answer, every chat's messages in order.

Baselines, in the same run on a fresh fake each: the same messages sent by a loop calling
bot.send_message as fast as it can, one after another, (a) sleeping out each 429's retry_after and
sending again, (b) dropping the message on a 429.

Each 429 is attributed from the fake's record of accepted calls: "chat" if the same chat had a message
accepted less than a second before, "all" if 30 had been accepted in the second before.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from bisect import bisect_left
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import aiohttp  # noqa: E402
import psutil  # noqa: E402
from bot_side import bench_runtime, control_get, load_average, telegram_channel  # noqa: E402
from echo_baseline import start_fake, stop_process  # noqa: E402
from telegram.error import RetryAfter  # noqa: E402

from bot.channels.telegram import TelegramChannel  # noqa: E402
from bot.events import Reply  # noqa: E402
from bot.notifier import enqueue  # noqa: E402
from storage.repositories import OutboxRepository  # noqa: E402

TOKEN = "123456:NOTIFY-BENCH"
FIRST_CHAT = 30_000
LIMIT_GLOBAL, LIMIT_PER_CHAT = 30, 1
DRAIN_WITHIN_S = 600


def planned(messages: int, chats: int) -> list[tuple[int, str]]:
    """Message n goes to chat n mod chats with the text n<n>; each chat's list is in queue order."""
    return [(FIRST_CHAT + n % chats, f"n{n}") for n in range(messages)]


async def start_limited_fake() -> tuple[asyncio.subprocess.Process, dict[str, str]]:
    """A fake in its own process that enforces 30 messages/s overall and 1/s per chat."""
    process, fake = await start_fake(TOKEN)
    async with aiohttp.ClientSession() as session:
        limits = {"flood_limit_global_per_s": LIMIT_GLOBAL, "flood_limit_per_chat_per_s": LIMIT_PER_CHAT}
        async with session.post(f"{fake['control_url']}/config", json=limits) as response:
            response.raise_for_status()
    return process, fake


async def add_chats(control_url: str, chats: int) -> None:
    """The chats have opened the bot (the fake refuses messages to unknown chats)."""
    async with aiohttp.ClientSession() as session:
        for chat in range(FIRST_CHAT, FIRST_CHAT + chats):
            user = {"id": chat, "is_bot": False, "first_name": f"Citizen {chat}", "language_code": "en"}
            async with session.post(f"{control_url}/users", json=user) as response:
                response.raise_for_status()


def analyse(calls: list[dict[str, Any]], plan: list[tuple[int, str]]) -> dict[str, Any]:
    """Rate, 429s by cause, the busiest second and per-chat order, from the fake's record of sendMessage calls."""
    accepted = [c for c in calls if c["error"] is None]
    floods = [c for c in calls if c["error"] and "Too Many Requests" in c["error"]]
    times = [c["ts"] for c in accepted]
    by_chat_times: dict[int, list[float]] = {}
    received: dict[int, list[str]] = {}
    for call in accepted:
        chat = int(call["params"]["chat_id"])
        by_chat_times.setdefault(chat, []).append(call["ts"])
        received.setdefault(chat, []).append(call["params"]["text"])
    per_chat = overall = 0
    for call in floods:
        chat_times = by_chat_times.get(int(call["params"]["chat_id"]), [])
        if bisect_left(chat_times, call["ts"]) > bisect_left(chat_times, call["ts"] - 1.0):
            per_chat += 1
        elif bisect_left(times, call["ts"]) - bisect_left(times, call["ts"] - 1.0) >= LIMIT_GLOBAL:
            overall += 1
    expected: dict[int, list[str]] = {}
    for chat, text in plan:
        expected.setdefault(chat, []).append(text)
    peak = max((bisect_left(times, t + 1.0) - i for i, t in enumerate(times)), default=0)
    seconds = times[-1] - times[0] if len(times) > 1 else 0.0
    return {
        "delivered": len(accepted), "lost": len(plan) - len(accepted), "seconds": seconds,
        "rate": (len(accepted) - 1) / seconds if seconds else 0.0, "floods": len(floods),
        "floods_chat": per_chat, "floods_all": overall, "floods_other": len(floods) - per_chat - overall,
        "peak": peak, "in_order": received == expected,
    }


async def run_notifier(plan: list[tuple[int, str]], chats: int) -> dict[str, Any]:
    """The outbox filled at once, drained by the notifier through TelegramChannel, as in production."""
    process, fake = await start_limited_fake()
    workdir = tempfile.TemporaryDirectory(prefix="vmitra-notify-")
    try:
        await add_chats(fake["control_url"], chats)
        runtime = await bench_runtime(Path(workdir.name), consumers=0)
        channel = telegram_channel(runtime, TOKEN, fake)
        rate = runtime.settings.notifier
        try:
            await channel.bot.initialize()
            async with runtime.db.transaction() as session:
                for chat, text in plan:
                    await enqueue(session, "telegram", str(chat), Reply(text=text), "status_update")
            load_before, cpu0 = load_average(), time.process_time()
            await runtime.notifier.start()
            deadline = time.monotonic() + DRAIN_WITHIN_S
            while True:
                async with runtime.db.reader() as session:
                    counts = await OutboxRepository(session).counts()
                if not counts.get("pending") and not counts.get("sending"):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the outbox did not drain within {DRAIN_WITHIN_S} s: {counts}")
                await asyncio.sleep(0.2)
            await runtime.notifier.stop()
            cpu = time.process_time() - cpu0
        finally:
            await channel.bot.shutdown()
            await runtime.close()
        calls = (await control_get(fake["control_url"], "calls", method="sendMessage"))["calls"]
    finally:
        await stop_process(process)
        workdir.cleanup()
    result = analyse(calls, plan)
    result.update(mode=f"notifier ({rate.telegram_per_second:g}/s, "
                       f"{rate.telegram_per_chat_interval.total_seconds():g} s/chat)",
                  load=load_before, cpu_ms=1000 * cpu / len(plan), failed=counts.get("failed", 0))
    return result


async def run_naive(plan: list[tuple[int, str]], chats: int, *, retry: bool) -> dict[str, Any]:
    """bot.send_message in a loop, as fast as it goes; on a 429 either sleep retry_after and resend, or drop."""
    process, fake = await start_limited_fake()
    workdir = tempfile.TemporaryDirectory(prefix="vmitra-notify-")
    try:
        await add_chats(fake["control_url"], chats)
        runtime = await bench_runtime(Path(workdir.name), consumers=0)
        channel = TelegramChannel(runtime.engine, TOKEN, base_url=fake["base_url"],
                                  base_file_url=fake["base_file_url"])
        try:
            await channel.bot.initialize()
            load_before, cpu0 = load_average(), time.process_time()
            for chat, text in plan:
                while True:
                    try:
                        await channel.bot.send_message(chat_id=chat, text=text)
                        break
                    except RetryAfter as exc:
                        if not retry:
                            break
                        delay = exc.retry_after
                        await asyncio.sleep(delay.total_seconds() if hasattr(delay, "total_seconds") else delay)
            cpu = time.process_time() - cpu0
        finally:
            await channel.bot.shutdown()
            await runtime.close()
        calls = (await control_get(fake["control_url"], "calls", method="sendMessage"))["calls"]
    finally:
        await stop_process(process)
        workdir.cleanup()
    result = analyse(calls, plan)
    mode = "naive loop, retry after 429" if retry else "naive loop, drop on 429"
    result.update(mode=mode, load=load_before, cpu_ms=1000 * cpu / len(plan), failed=0)
    return result


COLUMNS = [("mode", "sender", "s", 34), ("delivered", "sent", "d", 5), ("lost", "lost", "d", 4),
           ("seconds", "wall s", ".1f", 6), ("rate", "msg/s", ".1f", 5), ("ratio", "of 30/s", ".0%", 7),
           ("floods", "429s", "d", 4), ("floods_chat", "chat", "d", 4), ("floods_all", "all", "d", 4),
           ("peak", "peak 1 s", "d", 8), ("in_order", "all, in order", "s", 13), ("cpu_ms", "CPU ms/msg", ".2f", 10),
           ("load", "load", ".1f", 4)]


def print_table(rows: list[dict[str, Any]]) -> None:
    """The rows as a fixed-width table (429s split by cause: a chat's 1/s, or the 30/s overall)."""
    print("  ".join(f"{title:<{w}}" if fmt == "s" else f"{title:>{w}}" for _, title, fmt, w in COLUMNS))
    for row in rows:
        cells = []
        for key, _, fmt, width in COLUMNS:
            value = row[key] if key != "ratio" else row["rate"] / LIMIT_GLOBAL
            if key == "in_order":
                value = "yes" if value else "NO"
            cells.append(f"{value:<{width}}" if fmt == "s" else f"{value:>{width}{fmt}}")
        print("  ".join(cells))


async def bench(messages: int, chats: int, baselines: bool) -> list[dict[str, Any]]:
    plan = planned(messages, chats)
    rows = [await run_notifier(plan, chats)]
    if baselines:
        rows.append(await run_naive(plan, chats, retry=True))
        rows.append(await run_naive(plan, chats, retry=False))
    return rows


def main(argv: list[str] | None = None) -> int:
    """Command line; exit status 1 when the notifier misses a target."""
    parser = argparse.ArgumentParser(description="The notifier's delivery rate against Telegram's flood limits.")
    parser.add_argument("--messages", type=int, default=1_500, help="messages to queue (default 1500)")
    parser.add_argument("--chats", type=int, default=400, help="chats they go to, round robin (default 400)")
    parser.add_argument("--quick", action="store_true", help="300 messages to 100 chats")
    parser.add_argument("--no-baseline", action="store_true", help="only the notifier")
    args = parser.parse_args(argv)
    messages, chats = (300, 100) if args.quick else (args.messages, args.chats)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    print(f"{messages} messages to {chats} chats; the fake answers 429 beyond {LIMIT_GLOBAL}/s overall or "
          f"{LIMIT_PER_CHAT}/s per chat; rate on the fake's clock; {psutil.cpu_count()} CPUs; "
          f"load = 1-min load average before each run")
    rows = asyncio.run(bench(messages, chats, not args.no_baseline))
    print_table(rows)
    notifier = rows[0]
    met = {
        "rate >= 90% of 30/s": notifier["rate"] >= 0.9 * LIMIT_GLOBAL,
        "no 429": notifier["floods"] == 0,
        "every message, once, in order per chat": notifier["in_order"] and not notifier["failed"],
    }
    print("targets: " + "; ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in met.items()))
    return 0 if all(met.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
