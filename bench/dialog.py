"""The whole report dialog through python-telegram-bot, against the echo baseline (issue 3).

Each simulated user registers and files a complaint by IVRS with one photo, 13 updates in all
(/start, English, I agree, share contact, Report theft, Meter tampering, Yes I know the IVRS, the
IVRS typed, Yes this one, a photo, Done, Skip, Submit), waiting for the bot's answer to each before
sending the next. In the same run, for each user count, the bare echo bot of bench/echo_baseline.py
answers the same number of messages per user on its own fresh fake, with the same PTB settings as
the bot (pool 16, concurrent_updates 32).

    python bench/dialog.py                   # 10, 100 and 500 users (about 8 minutes on 2 cores)
    python bench/dialog.py --quick           # 10 and 50 users
    python bench/dialog.py --users 100 --think 5 --no-echo   # latency at a person's pace
    python bench/dialog.py --users 100 --phases --profile /tmp/dialog.prof   # where the time goes

Three processes, as in echo_baseline.py: the fake Bot API, the bot (this process: the real runtime,
build_runtime on a fresh SQLite file with the consumer register, its notifier, SLA and reward
timers, and TelegramChannel long polling) and the users (a child process on the fake's control API).

Latency is per update, on the fake's clock: from the fake queuing the update to the fake receiving
the last message of the bot's answer. The users form a closed loop without pauses (--think 0), so
upd/s is the bot's capacity and latency at high user counts is mostly queueing (about users /
throughput, Little's law). With --think S each user pauses 0.5..1.5 x S seconds before every
update, as a person does, and the latency is what a person waits at that load. By default each
user count runs both ways: closed loop for upd/s against the echo bot, then --paced 3 (a pause of
1.5 to 4.5 s before each update) for the latency target; the echo bot's own closed-loop p95 at
100 users is several hundred ms, so a closed-loop p95 under 100 ms would be no measure of the bot.

Two echo bots run for each user count: the bare PTB echo bot (PTB's default httpx client: the
baseline of the ratio) and the same echo bot on V-Mitra's aiohttp transport
(bot/channels/telegram_request.py), so the share of the ratio that the transport buys is visible.

At the end every user must hold a complaint id, all distinct, and the database must hold exactly
one complaint per user (each user reports a consumer of their own, so the look-alike check does not
turn the dialog into a different one).

--phases wraps the engine, the channel and the database handle to show where the wall time goes
(waiting for and holding the SQLite write transaction, sending replies, photos), counts the calls into
SQLite and the CPU of the event-loop thread; --profile adds cProfile (the event-loop
thread only); --postgres URL runs the bot on PostgreSQL instead of SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import logging
import pstats
import random
import re
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import psutil  # noqa: E402
from bot_side import (  # noqa: E402
    bench_runtime,
    close_runtime,
    consumer_ivrs,
    control_get,
    load_average,
    telegram_channel,
)
from dialog_phases import Phases  # noqa: E402
from echo_baseline import REPLY_TIMEOUT_S, TOKEN, percentile, run_echo_baseline, start_fake, stop_process  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from storage.models import Complaint  # noqa: E402
from tests.fakes.telegram_user import HttpTransport, TelegramUser  # noqa: E402

FIRST_USER_ID = 20_000
COMPLAINT_ID = re.compile(r"VM-\d{4}-\d{6}")
# (what the user does, its argument, a fragment of the last message of the bot's answer)
STEPS: list[tuple[str, str, str]] = [
    ("send", "/start", "Choose your language"),
    ("press", "English", "Before you start"),
    ("press", "I agree", "share your mobile number"),
    ("contact", "", "What would you like to do"),
    ("press", "Report theft", "Which irregularity"),
    ("press", "Meter tampering", "Do you know the IVRS"),
    ("press", "Yes, I know the IVRS", "Type the IVRS number"),
    ("send", "{ivrs}", "Is this the consumer"),
    ("press", "Yes, this one", "Send 1 to 5 photos"),
    ("photo", "", "Photo 1 of 5 received"),
    ("press", "Done", "Add a short note"),
    ("press", "Skip", "Please check your complaint"),
    ("press", "Submit", "Complaint id: VM-"),
]
ECHO_PTB = {"pool_size": 16, "concurrency": 32}  # what TelegramChannel builds from the default pool of 16
# Replies that may come instead of the expected one, and the button that gets the user back on the path.
# Each user reports a consumer of their own, so the look-alike check should never stop them; if it does,
# the extra press is counted (and its update with it).
DETOURS = [("a complaint like yours is already open", "Mine is different")]


# ---- the users' child process ------------------------------------------------------------------------
def step_name(kind: str, argument: str) -> str:
    """A short label for a step in the per-step table."""
    names = {"contact": "share contact", "photo": "photo", "send": argument.replace("{ivrs}", "IVRS")}
    return names.get(kind, argument)


def user_photo(n: int) -> bytes:
    """A 640x480 JPEG of random blocks, its own for each user.

    Distinct, because two identical photos ingested at the same moment can collide in the photo
    store (the temporary file is named after the process only), and near copies trip the look-alike
    check.
    """
    from PIL import Image  # only the users' process needs it

    rng = random.Random(n)
    blocks = Image.frombytes("RGB", (16, 12), rng.randbytes(16 * 12 * 3))
    out = io.BytesIO()
    blocks.resize((640, 480), Image.Resampling.NEAREST).save(out, format="JPEG", quality=85)
    return out.getvalue()


async def reply_to(user: TelegramUser, expected: str) -> tuple[Any, int]:
    """The bot message containing ``expected``, taking any detour on the way; returns it and the detours taken."""
    detours, needle = 0, expected.casefold()
    while True:
        message = await user.next_message(timeout=REPLY_TIMEOUT_S)
        text = message.text.casefold()
        if needle in text:
            return message, detours
        for trigger, label in DETOURS:
            if trigger in text:
                await user.press(label, timeout=REPLY_TIMEOUT_S)
                detours += 1


async def drive_dialogs(control_url: str, users: int, think_s: float) -> dict[str, Any]:
    """Each user walks the whole dialog; returns the per-update latencies, the complaint ids and the wall time."""
    photos = [user_photo(n) for n in range(users)]
    latencies: list[float] = []
    by_step: dict[str, list[float]] = defaultdict(list)
    complaint_ids: list[str] = []
    detours = 0
    barrier = asyncio.Barrier(users + 1)
    rng = random.Random(3)
    async with HttpTransport(control_url) as transport:

        async def one_user(n: int) -> None:
            nonlocal detours
            user = TelegramUser(transport, FIRST_USER_ID + n, first_name=f"User{n}", language_code="en")
            await barrier.wait()
            for kind, argument, expected in STEPS:
                if think_s > 0:
                    await asyncio.sleep(think_s * rng.uniform(0.5, 1.5))
                if kind == "send":
                    await user.send(argument.replace("{ivrs}", consumer_ivrs(n)))
                elif kind == "press":
                    await user.press(argument, timeout=REPLY_TIMEOUT_S)
                elif kind == "contact":
                    await user.share_contact(f"+9198{n:08d}", own=True)
                else:
                    await user.send_photo(photos[n])
                reply, took = await reply_to(user, expected)
                detours += took
                latency = reply.ts - user.last_push["ts"]
                latencies.append(latency)
                by_step[step_name(kind, argument)].append(latency)
            found = COMPLAINT_ID.search(reply.text)
            complaint_ids.append(found.group() if found else "")

        tasks = [asyncio.create_task(one_user(n)) for n in range(users)]
        await barrier.wait()
        cpu0, started = time.process_time(), time.perf_counter()
        await asyncio.gather(*tasks)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu0
    return {"seconds": seconds, "latencies": latencies, "by_step": by_step, "complaint_ids": complaint_ids,
            "detours": detours, "driver_cpu": cpu}


# ---- the bot's process ----------------------------------------------------------------------------------
async def count_complaints(runtime: Any) -> int:
    async with runtime.db.reader() as session:
        return int(await session.scalar(select(func.count()).select_from(Complaint)) or 0)


async def run_dialog(users: int, think_s: float, *, phases: bool = False, profiler: cProfile.Profile | None = None,
                     postgres_url: str | None = None) -> dict[str, Any]:
    """One fresh fake and one fresh runtime; the users walk the dialog; returns throughput, latency, CPU, checks."""
    process, fake = await start_fake()
    workdir = tempfile.TemporaryDirectory(prefix="vmitra-bench-")
    timing = Phases() if phases else None
    try:
        runtime = await bench_runtime(Path(workdir.name), consumers=users, postgres_url=postgres_url)
        channel = telegram_channel(runtime, TOKEN, fake)
        await channel.start()
        await runtime.start_background()
        fake_process = psutil.Process(process.pid)
        load_before = load_average()
        try:
            if timing is not None:
                timing.install()
                timing.start_clock()
            driver = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--drive", "--control-url", fake["control_url"], "--users", str(users),
                "--think", str(think_s), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
            )
            bot_cpu0, fake_cpu0 = time.process_time(), sum(fake_process.cpu_times()[:2])
            if profiler is not None:
                profiler.enable()
            stdout, stderr = await driver.communicate()
            if profiler is not None:
                profiler.disable()
            bot_cpu = time.process_time() - bot_cpu0
            fake_cpu = sum(fake_process.cpu_times()[:2]) - fake_cpu0
            if timing is not None:
                timing.stop_clock()
                timing.uninstall()
            if driver.returncode != 0:
                tail = stderr.decode(errors="replace")[-3000:]
                raise RuntimeError(f"the users' process failed with exit code {driver.returncode}:\n{tail}")
            driven = json.loads(stdout)
            await runtime.engine.drain()
            stats = await control_get(fake["control_url"], "stats")
            filed = await count_complaints(runtime)
        finally:
            await channel.stop()
            await close_runtime(runtime)
    finally:
        if timing is not None:
            timing.uninstall()
        await stop_process(process)
        workdir.cleanup()
    updates = users * len(STEPS) + driven["detours"]
    ids = driven["complaint_ids"]
    checks = {
        "every user got a complaint id": len(ids) == users and all(ids),
        "the complaint ids are distinct": len(set(ids)) == len(ids),
        "complaints in the database == users": filed == users,
        "the fake saw every update": stats["updates_pushed"] == updates,
    }
    latencies = driven["latencies"]
    return {
        "bot": "V-Mitra dialog" + (" (PG)" if postgres_url else ""), "users": users, "updates": updates,
        "seconds": driven["seconds"],
        "dialogs_per_s": users / driven["seconds"], "updates_per_s": updates / driven["seconds"],
        "p50_ms": 1000 * percentile(latencies, 50), "p95_ms": 1000 * percentile(latencies, 95),
        "p99_ms": 1000 * percentile(latencies, 99), "bot_cpu_ms": 1000 * bot_cpu / updates,
        "fake_cpu_ms": 1000 * fake_cpu / updates, "load_before": load_before, "checks": checks,
        "api_errors": stats["errors"], "filed": filed, "detours": driven["detours"],
        "by_step": {step: (1000 * percentile(v, 50), 1000 * percentile(v, 95))
                    for step, v in driven["by_step"].items()},
        "phases": timing,
    }


async def run_echo(users: int, transport: str = "httpx") -> dict[str, Any]:
    """An echo bot on its own fresh fake: as many messages per user as the dialog has updates.

    "httpx" is the baseline the issue names, a bare PTB echo bot; "aiohttp" is the same bot on the
    HTTP transport V-Mitra uses, shown beside it so the transport's share of the ratio is visible.
    """
    process, fake = await start_fake()
    try:
        result = await run_echo_baseline(fake["base_url"], fake["base_file_url"], TOKEN, users, len(STEPS),
                                         fake_pid=process.pid, transport=transport, **ECHO_PTB)
    finally:
        await stop_process(process)
    label = "echo baseline" if transport == "httpx" else f"echo ({transport})"
    result.update(bot=label, updates=result["messages"], dialogs_per_s=None)
    return result


# ---- the report ---------------------------------------------------------------------------------------
COLUMNS = [("bot", "bot", "s", 14), ("users", "users", "d", 5), ("updates", "updates", "d", 7),
           ("seconds", "wall s", ".1f", 6), ("dialogs_per_s", "dialogs/s", ".2f", 9),
           ("updates_per_s", "upd/s", ".0f", 5),
           ("ratio", "vs echo", ".0%", 7), ("p50_ms", "p50 ms", ".0f", 6), ("p95_ms", "p95 ms", ".0f", 6),
           ("p99_ms", "p99 ms", ".0f", 6), ("bot_cpu_ms", "bot CPU ms/upd", ".2f", 14),
           ("fake_cpu_ms", "fake CPU ms/upd", ".2f", 15), ("load_before", "load", ".1f", 4)]


def print_table(rows: list[dict[str, Any]]) -> None:
    """The rows as a fixed-width table; missing values print as '-'."""
    print("  ".join(f"{title:<{width}}" if fmt == "s" else f"{title:>{width}}" for _, title, fmt, width in COLUMNS))
    for row in rows:
        cells = []
        for key, _, fmt, width in COLUMNS:
            value = row.get(key)
            if value is None:
                cells.append(f"{'-':>{width}}")
            elif fmt == "s":
                cells.append(f"{value:<{width}}")
            else:
                cells.append(f"{value:>{width}{fmt}}")
        print("  ".join(cells))


def print_details(row: dict[str, Any]) -> None:
    """Per-step latencies and (with --phases) where the bot's time went, for one dialog run."""
    print(f"\n{row['users']} users, per step (p50 / p95 ms):  " + ",  ".join(
        f"{name} {p50:.0f}/{p95:.0f}" for name, (p50, p95) in row["by_step"].items()))
    if row["phases"] is not None:
        print(f"{row['users']} users, where the bot's wall time went (phases overlap; summed over concurrent work):")
        row["phases"].print(row["updates"])


async def bench(user_counts: list[int], think_s: float, *, phases: bool, profile: str | None,
                with_echo: bool, paced_s: float = 0.0, postgres_url: str | None = None) -> list[dict[str, Any]]:
    """For each user count: the dialog, the echo baselines, and the dialog at a person's pace.

    The ratio is dialog upd/s over the bare PTB echo bot's; the echo bot on aiohttp gets its own.
    """
    rows: list[dict[str, Any]] = []
    profiler = cProfile.Profile() if profile else None
    for users in user_counts:
        dialog = await run_dialog(users, think_s, phases=phases, profiler=profiler, postgres_url=postgres_url)
        rows.append(dialog)
        if with_echo:
            for transport in ("httpx", "aiohttp"):
                echo = await run_echo(users, transport)
                ratio = dialog["updates_per_s"] / echo["updates_per_s"]
                dialog["ratio" if transport == "httpx" else "ratio_same_transport"] = ratio
                echo["ratio"] = 1.0 if transport == "httpx" else echo["updates_per_s"] / rows[-1]["updates_per_s"]
                rows.append(echo)
        if paced_s > 0:
            paced = await run_dialog(users, paced_s, postgres_url=postgres_url)
            paced["bot"] = f"V-Mitra, think {paced_s:g}s"
            rows.append(paced)
    if profiler is not None and profile is not None:
        profiler.dump_stats(profile)
        stats = pstats.Stats(profiler).sort_stats("tottime")
        print(f"\nbot process profile (dialog runs only; saved to {profile}), top 25 by own time:")
        stats.print_stats(25)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Command line; --drive is the internal mode of the users' child process."""
    parser = argparse.ArgumentParser(description="The report dialog vs an echo bot, through PTB and the fake Bot API.")
    parser.add_argument("--users", default="10,100,500", help="comma-separated user counts (default 10,100,500)")
    parser.add_argument("--quick", action="store_true", help="10 and 50 users only")
    parser.add_argument("--think", type=float, default=0.0,
                        help="mean pause in seconds before each update (default 0: a closed loop at full speed)")
    parser.add_argument("--no-echo", action="store_true", help="skip the echo baselines")
    parser.add_argument("--paced", type=float, default=3.0, metavar="S",
                        help="after each closed-loop run, the same users at a person's pace: a mean pause of S "
                        "seconds before each update, for the latency target (default 3; 0 skips it)")
    parser.add_argument("--phases", action="store_true", help="print where the bot's wall time goes")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the bot process during the dialog runs")
    parser.add_argument("--postgres", metavar="URL", help="run the bot on PostgreSQL (a fresh schema) instead of "
                        "SQLite, e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--control-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    counts = [10, 50] if args.quick else [int(n) for n in args.users.split(",")]
    if args.drive:
        print(json.dumps(asyncio.run(drive_dialogs(args.control_url, counts[0], args.think))))
        return 0
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    print(f"V-Mitra report dialog ({len(STEPS)} updates per user: registration + a report by IVRS with one photo) "
          f"vs the PTB echo bot; think time {args.think:g} s; {psutil.cpu_count()} CPUs; "
          f"load = 1-min load average before each run")
    rows = asyncio.run(bench(counts, args.think, phases=args.phases, profile=args.profile,
                             with_echo=not args.no_echo, paced_s=args.paced, postgres_url=args.postgres))
    print_table(rows)
    failed = False
    for row in rows:
        if not row["bot"].startswith("V-Mitra"):
            continue
        print_details(row)
        bad = [name for name, ok in row["checks"].items() if not ok]
        print(f"{row['users']} users: checks {'OK' if not bad else 'FAILED: ' + ', '.join(bad)} "
              f"({row['filed']} complaints filed; {row['api_errors']} Bot API error answers; "
              f"{row['detours']} look-alike detours)")
        failed = failed or bool(bad)
    target = next((r for r in rows if r["users"] == 100 and r["bot"].startswith("V-Mitra dialog")), None)
    paced = next((r for r in rows if r["users"] == 100 and r["bot"].startswith("V-Mitra, think")), None)
    if target is not None:
        ratio, same = target.get("ratio"), target.get("ratio_same_transport")
        print(f"\ntargets at 100 users: upd/s >= 50% of the bare PTB echo bot (closed loop): "
              f"{'-' if ratio is None else f'{ratio:.0%} ' + ('met' if ratio >= 0.5 else 'MISSED')}"
              f"{'' if same is None else f' (vs the echo bot on aiohttp too: {same:.0%})'}; ", end="")
        print("p95 < 100 ms at a person's pace: " + ("- (run with --paced S)" if paced is None else
              f"{paced['p95_ms']:.0f} ms {'met' if paced['p95_ms'] < 100 else 'MISSED'}") +
              f"; closed-loop p95 {target['p95_ms']:.0f} ms is queueing (Little's law), as the echo bot's is")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
