"""The demo register for the web chat: loaded on an empty register, and reported truthfully to the page.

After loading, a marker file in data_dir records a sample of the generated IVRS numbers. The page's
"demo data" badge shows only while those consumers are still in the register: a real register that
replaced them is never called demo data, and a marker left behind never lies.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from bot.app import Runtime
from storage.models import Consumer
from storage.repositories import ConsumerRepository

log = logging.getLogger(__name__)

MARKER_FILE = "demo_register.json"
SAMPLE = 5


async def ensure_demo_register(runtime: Runtime) -> int:
    """Load `webchat.demo_consumers` generated consumers when the register is empty; returns how many."""
    settings = runtime.settings
    wanted = settings.webchat.demo_consumers
    async with runtime.db.reader() as session:
        present = await ConsumerRepository(session).count()
    if present or wanted <= 0:
        return 0
    try:
        from storage.demo_register import load_demo_register
    except ImportError:
        log.warning("the demo register generator is not available; the register stays empty")
        return 0
    started = time.monotonic()
    print(f"The consumer register is empty: loading {wanted:,} demo consumers...", flush=True)
    await load_demo_register(runtime.db, wanted, settings.webchat.demo_seed, settings.service_area.bounding_box)
    async with runtime.db.reader() as session:
        loaded = await ConsumerRepository(session).count()
        sample = list(await session.scalars(select(Consumer.ivrs).order_by(Consumer.id).limit(SAMPLE)))
    marker = {
        "consumers": loaded,
        "seed": settings.webchat.demo_seed,
        "sample_ivrs": sample,
        "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / MARKER_FILE).write_text(json.dumps(marker, indent=2), encoding="utf-8")
    log.info("loaded %d demo consumers in %.1f s", loaded, time.monotonic() - started)
    return loaded


async def demo_status(runtime: Runtime) -> dict[str, Any]:
    """{"active": true, "consumers": n, "example_ivrs": ...} while the generated demo consumers are in the register."""
    path = runtime.settings.data_dir / MARKER_FILE
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
        sample = [str(ivrs) for ivrs in marker.get("sample_ivrs", [])][:SAMPLE]
    except (OSError, ValueError, AttributeError):
        return {"active": False}
    if not sample:
        return {"active": False}
    async with runtime.db.reader() as session:
        present = set(await session.scalars(select(Consumer.ivrs).where(Consumer.ivrs.in_(sample))))
        total = await ConsumerRepository(session).count() if present else 0
    if not present:
        return {"active": False}
    example = next(ivrs for ivrs in sample if ivrs in present)
    return {"active": True, "consumers": total, "example_ivrs": example}
