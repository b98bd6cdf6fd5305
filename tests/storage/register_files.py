"""Small register files for the import tests, and the import run over them with the default service area."""

from __future__ import annotations

import random
from pathlib import Path

from sqlalchemy import func, select

from bot.config import ServiceAreaSettings
from storage.consumer_import import ImportReport, import_consumers
from storage.db import Database
from storage.models import Consumer

AREA = ServiceAreaSettings().bounding_box
HEADER = "ivrs,name,address,district,category,sanctioned_load_kw,latitude,longitude"


def write(path: Path, *lines: str, encoding: str = "utf-8") -> Path:
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


async def run(db: Database, *paths: Path, **options: object) -> ImportReport:
    return await import_consumers(db, list(paths), service_area=AREA, **options)  # type: ignore[arg-type]


async def stored(db: Database, ivrs: str) -> Consumer | None:
    async with db.reader() as session:
        return await session.scalar(select(Consumer).where(Consumer.ivrs == ivrs))


async def count(db: Database) -> int:
    async with db.reader() as session:
        return int(await session.scalar(select(func.count()).select_from(Consumer)) or 0)


def register_lines(n: int, start: int = 0, name: str = "Ramesh Patel") -> list[str]:
    rnd = random.Random(start)
    return [HEADER] + [
        f'N{start + i:010d},{name} {i},"H.No {i}, Ward 5, Gorakhpur, Jabalpur",Jabalpur,LV-1,1.5,'
        f"{23.1 + rnd.random() * 0.1:.6f},{79.9 + rnd.random() * 0.1:.6f}"
        for i in range(n)
    ]
