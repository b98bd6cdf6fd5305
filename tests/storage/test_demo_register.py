"""The demo register: repeatable, inside the service area, shaped like the real one, and loadable."""

from __future__ import annotations

import csv
import math
import re
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from bot.config import DEFAULT_CONFIG_PATH, load_settings
from storage import geo
from storage.consumer_rows import COLUMNS
from storage.db import Database
from storage.demo_register import DISTRICTS, iter_demo_rows, load_demo_register, write_demo_csv
from storage.models import Consumer

SETTINGS = load_settings(DEFAULT_CONFIG_PATH, environ={})
AREA = SETTINGS.service_area.bounding_box


def test_the_same_seed_gives_the_same_rows_and_another_seed_other_rows() -> None:
    first = list(iter_demo_rows(3000, seed=11))
    assert first == list(iter_demo_rows(3000, seed=11))
    other = list(iter_demo_rows(3000, seed=12))
    assert sum(a != b for a, b in zip(first, other, strict=True)) > 2900


def test_rows_are_valid_register_rows() -> None:
    rows = list(iter_demo_rows(20_000, seed=3))
    assert len(rows) == 20_000
    assert set(rows[0]) == set(COLUMNS)
    assert all(AREA.contains(r["latitude"], r["longitude"]) for r in rows)
    assert {r["district"] for r in rows} <= set(SETTINGS.service_area.districts)
    assert len({r["ivrs"] for r in rows}) == len(rows)
    assert all(re.fullmatch(r"[NSRH]\d{10}", r["ivrs"]) for r in rows)
    assert all(r["name"] and r["address"] for r in rows)
    categories = Counter(r["category"] for r in rows)
    assert set(categories) <= {"LV-1", "LV-2", "LV-3", "LV-4", "LV-5", "HV-3"}
    assert categories.most_common(1)[0][0] == "LV-1"
    assert 0.6 < categories["LV-1"] / len(rows) < 0.85
    domestic_loads = sorted(r["sanctioned_load_kw"] for r in rows if r["category"] == "LV-1")
    assert 0.5 <= domestic_loads[len(domestic_loads) // 2] <= 2.0 and domestic_loads[-1] <= 10
    assert any(re.search("[\u0900-\u097f]", r["name"]) for r in rows)  # a few names in Devanagari


def test_consumers_cluster_in_towns_and_villages_in_proportion_to_population() -> None:
    rows = list(iter_demo_rows(20_000, seed=5))
    by_district = Counter(r["district"] for r in rows)
    assert by_district.most_common(1)[0][0] in {"Jabalpur", "Sagar"}
    assert by_district["Jabalpur"] > 4 * by_district["Niwari"]
    jabalpur = next(d for d in DISTRICTS if d.name == "Jabalpur")
    near_town = [r for r in rows if geo.haversine_m(r["latitude"], r["longitude"], jabalpur.lat, jabalpur.lon) < 10_000]
    assert len(near_town) > 0.4 * by_district["Jabalpur"]  # more than half of Jabalpur's consumers live in the city
    pumps = [r for r in rows if r["category"] == "LV-5"]
    assert all(r["address"].startswith("Khasra No") and "Village" in r["address"] for r in pumps)
    # Villages: consumers far out of town still live close together (in squares of about 1 km).
    town = {d.name: (d.lat, d.lon) for d in DISTRICTS}
    rural = [r for r in rows if geo.haversine_m(r["latitude"], r["longitude"], *town[r["district"]]) > 15_000]
    squares = Counter((round(r["latitude"], 2), round(r["longitude"], 2)) for r in rural)
    assert len(rural) > 0.4 * len(rows)
    assert len(squares) < 0.8 * len(rural) and squares.most_common(1)[0][1] >= 8


def test_the_csv_file_holds_exactly_the_generated_rows(tmp_path: Path) -> None:
    path = tmp_path / "demo.csv"
    assert write_demo_csv(path, 5000, seed=2) == 5000
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        assert next(reader) == list(COLUMNS)
        written = list(reader)
    expected = list(iter_demo_rows(5000, seed=2))
    assert len(written) == len(expected)
    for cells, row in zip(written, expected, strict=True):
        assert cells[:5] == [row["ivrs"], row["name"], row["address"], row["district"], row["category"]]
        assert [float(c) for c in cells[5:]] == [row["sanctioned_load_kw"], row["latitude"], row["longitude"]]


def test_exactly_the_rows_asked_for_are_generated() -> None:
    assert list(iter_demo_rows(0, seed=1)) == []
    assert sum(1 for _ in iter_demo_rows(70_001, seed=1)) == 70_001  # more than one chunk of a district


async def test_loading_the_demo_register_twice_updates_the_same_consumers(db: Database) -> None:
    first = await load_demo_register(db, 3000, seed=4, service_area=AREA)
    assert (first.imported, first.updated, first.skipped_total) == (3000, 0, 0)
    again = await load_demo_register(db, 3000, seed=4, service_area=AREA)
    assert (again.imported, again.updated) == (0, 3000)
    async with db.reader() as session:
        assert await session.scalar(select(func.count()).select_from(Consumer)) == 3000
        sample = (await session.execute(select(Consumer).limit(50))).scalars().all()
    for consumer in sample:
        assert consumer.cell == geo.cell_of(consumer.latitude, consumer.longitude)
        assert math.isclose(consumer.uz, math.sin(math.radians(consumer.latitude)), abs_tol=1e-12)
