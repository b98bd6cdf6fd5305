"""Echo baseline: a bare python-telegram-bot echo bot long-polling the fake Bot API.

What PTB and the fake cost before any dialog logic: updates per second, and the reply latency (from
the fake queuing a user's update to the fake receiving the bot's reply, both on the fake's clock) with
N simulated users each sending M messages one after another (send, wait for the reply, send the next).

    python bench/echo_baseline.py --users 10,100,500 --messages 20

Three processes: the fake server (python -m tests.fakes.bot_api), the bot (this process) and the
simulated users (a child process on the fake's control API), so that neither the fake nor the users
share the bot's event loop. CPU columns are milliseconds of CPU per update in each process.

The users form a closed loop (each waits for its reply), so at high user counts the latency is mostly
queueing: about users / throughput. Three knobs matter for PTB's own cost:

* --pool-size: PTB's connection_pool_size. httpcore re-scans every pooled connection (with a poll()
  syscall each) whenever a request starts or ends, so a huge pool costs CPU; 16 is plenty on loopback.
* --concurrency: PTB's concurrent_updates. Requests beyond the pool wait inside httpcore, whose queue
  is re-scanned on every request start/end (CPU per update grows with the number waiting) and is not
  served fairly (measured at 100 users: sendMessage p95/p50 = 3.6 with 256, 1.3 with 16). A bound
  near the pool size keeps the waiting in PTB's cheap, FIFO update queue instead.
* --sniffio-shortcut: httpcore 1.0.9 runs `import sniffio` on every request; sniffio is not installed
  (anyio 4.16 no longer needs it), so every request pays a failed import that scans sys.path. The
  shortcut (sys.modules["sniffio"] = None) makes that import fail at once, as installing sniffio would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import psutil  # noqa: E402
from telegram import Update  # noqa: E402
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters  # noqa: E402

from bot.channels.telegram_request import AiohttpRequest  # noqa: E402
from tests.fakes.bot_api import READY_MARK  # noqa: E402
from tests.fakes.telegram_user import HttpTransport, TelegramUser  # noqa: E402

TOKEN = "123456:BENCH-TOKEN"
FIRST_USER_ID = 10_000
REPLY_TIMEOUT_S = 300  # generous: on a loaded machine the slowest replies wait many seconds in httpcore's queue


async def start_fake(token: str = TOKEN) -> tuple[asyncio.subprocess.Process, dict[str, str]]:
    """Start the fake Bot API in its own process; returns it and its ready-line fields (port, urls)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fakes.bot_api", "--port", "0", "--token", token, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
    if not line.startswith(READY_MARK):
        process.kill()
        raise RuntimeError(f"fake Bot API did not start: {line!r}")
    return process, dict(part.split("=", 1) for part in line.split()[1:])


async def stop_process(process: asyncio.subprocess.Process) -> None:
    """SIGTERM and wait."""
    if process.returncode is None:
        process.terminate()
        await asyncio.wait_for(process.wait(), 10)


async def drive_users(control_url: str, users: int, messages_per_user: int) -> dict[str, Any]:
    """Simulated users over the control API: a warm-up message each, then M timed send/reply rounds."""
    latencies: list[float] = []
    barrier = asyncio.Barrier(users + 1)
    async with HttpTransport(control_url) as transport:

        async def one_user(n: int) -> None:
            user = TelegramUser(transport, FIRST_USER_ID + n, first_name=f"User{n}")
            await user.send(f"warm-up {n}")
            await user.expect(f"warm-up {n}", timeout=REPLY_TIMEOUT_S)
            await barrier.wait()
            for m in range(messages_per_user):
                text = f"u{n} m{m}"
                await user.send(text)
                reply = await user.expect(text, timeout=REPLY_TIMEOUT_S)
                latencies.append(reply.ts - user.last_push["ts"])

        tasks = [asyncio.create_task(one_user(n)) for n in range(users)]
        await barrier.wait()
        cpu0, started = time.process_time(), time.perf_counter()
        await asyncio.gather(*tasks)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu0
    return {"seconds": seconds, "latencies": latencies, "driver_cpu": cpu}


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Replies with the same text."""
    if update.message and update.message.text:
        await update.message.reply_text(update.message.text)


async def run_echo_baseline(base_url: str, base_file_url: str, token: str, users: int,
                            messages_per_user: int, fake_pid: int | None = None, pool_size: int = 16,
                            concurrency: int = 256, transport: str = "httpx") -> dict[str, Any]:
    """Run the echo bot here and the users in a child process; returns throughput, latency and CPU per update.

    transport "httpx" is PTB's own HTTP client (the baseline); "aiohttp" is the bot's AiohttpRequest.
    """
    builder = (ApplicationBuilder().token(token).base_url(base_url).base_file_url(base_file_url)
               .concurrent_updates(concurrency))
    if transport == "aiohttp":
        builder = builder.request(AiohttpRequest(pool_size)).get_updates_request(AiohttpRequest(1))
    else:
        builder = builder.connection_pool_size(pool_size).pool_timeout(30)
    app = builder.build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    load_before = os.getloadavg()[0]
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=10)
    fake = psutil.Process(fake_pid) if fake_pid else None
    control_url = HttpTransport.for_base_url(base_url).control_url
    try:
        driver = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--drive", "--control-url", control_url,
            "--users", str(users), "--messages", str(messages_per_user), stdout=asyncio.subprocess.PIPE, cwd=ROOT,
        )
        bot_cpu0 = time.process_time()
        fake_cpu0 = sum(fake.cpu_times()[:2]) if fake else 0.0
        stdout, _ = await driver.communicate()
        bot_cpu = time.process_time() - bot_cpu0  # includes the warm-up round: an upper bound
        fake_cpu = sum(fake.cpu_times()[:2]) - fake_cpu0 if fake else float("nan")
        if driver.returncode != 0:
            raise RuntimeError(f"driver failed with exit code {driver.returncode}")
        driven = json.loads(stdout)
        async with aiohttp.ClientSession() as session, session.get(f"{control_url}/stats") as response:
            stats = await response.json()
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
    latencies, total = driven["latencies"], users * messages_per_user
    replies = stats["calls"].get("sendMessage", 0)
    if replies != stats["updates_pushed"] or stats["errors"]:
        raise RuntimeError(f"the fake saw {stats['updates_pushed']} updates, {replies} replies: {stats}")
    all_updates = total + users  # the warm-up round is inside the CPU window
    return {
        "users": users, "messages": total, "seconds": driven["seconds"], "updates_per_s": total / driven["seconds"],
        "p50_ms": 1000 * percentile(latencies, 50), "p95_ms": 1000 * percentile(latencies, 95),
        "p99_ms": 1000 * percentile(latencies, 99), "bot_cpu_ms": 1000 * bot_cpu / all_updates,
        "fake_cpu_ms": 1000 * fake_cpu / all_updates, "driver_cpu_ms": 1000 * driven["driver_cpu"] / total,
        "load_before": load_before,
    }


async def bench(user_counts: list[int], messages_per_user: int, pool_size: int = 16,
                concurrency: int = 256) -> list[dict[str, Any]]:
    """One fresh fake process per user count."""
    results = []
    for users in user_counts:
        process, fields = await start_fake()
        try:
            results.append(await run_echo_baseline(fields["base_url"], fields["base_file_url"], TOKEN, users,
                                                   messages_per_user, fake_pid=process.pid, pool_size=pool_size,
                                                   concurrency=concurrency))
        finally:
            await stop_process(process)
    return results


def print_table(results: list[dict[str, Any]]) -> None:
    """The results as a fixed-width table."""
    columns = [("users", "users", "d"), ("messages", "msgs", "d"), ("seconds", "wall s", ".2f"),
               ("updates_per_s", "upd/s", ".0f"), ("p50_ms", "p50 ms", ".1f"), ("p95_ms", "p95 ms", ".1f"),
               ("p99_ms", "p99 ms", ".1f"), ("bot_cpu_ms", "bot CPU ms/upd", ".2f"),
               ("fake_cpu_ms", "fake CPU ms/upd", ".2f"), ("driver_cpu_ms", "users CPU ms/upd", ".2f"),
               ("load_before", "load", ".1f")]
    print("  ".join(f"{title:>{max(6, len(title))}}" for _, title, _ in columns))
    for row in results:
        print("  ".join(f"{row[key]:>{max(6, len(title))}{fmt}}" for key, title, fmt in columns))


def main(argv: list[str] | None = None) -> None:
    """Command line; --drive is the internal mode of the users' child process."""
    parser = argparse.ArgumentParser(description="Echo-bot baseline against the fake Telegram Bot API.")
    parser.add_argument("--users", default="10,100,500", help="comma-separated user counts")
    parser.add_argument("--messages", type=int, default=20, help="messages per user, sent one after another")
    parser.add_argument("--pool-size", type=int, default=16, help="PTB connection_pool_size (default 16)")
    parser.add_argument("--concurrency", type=int, default=256,
                        help="PTB concurrent_updates (default 256, what concurrent_updates(True) means)")
    parser.add_argument("--sniffio-shortcut", action="store_true", help="make httpcore's per-request "
                        "`import sniffio` fail fast (see the module docstring)")
    parser.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--control-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.users.split(",")]
    if args.drive:
        print(json.dumps(asyncio.run(drive_users(args.control_url, counts[0], args.messages))))
        return
    if args.sniffio_shortcut:
        sys.modules["sniffio"] = None  # type: ignore[assignment]
    print(f"echo baseline: python-telegram-bot long polling, concurrent_updates {args.concurrency}, "
          f"pool {args.pool_size}, "
          f"{args.messages} messages per user, sniffio shortcut {'on' if args.sniffio_shortcut else 'off'}, "
          f"{psutil.cpu_count()} CPUs (load = 1-min load average before the run)")
    print_table(asyncio.run(bench(counts, args.messages, args.pool_size, args.concurrency)))


if __name__ == "__main__":
    main()
