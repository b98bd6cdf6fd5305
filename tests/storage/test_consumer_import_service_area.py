"""Consumer import with district boundaries (the artificial map of tests/service_area_fixture.py)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bot.config import ServiceAreaSettings
from bot.service_area import ServiceArea, read_boundaries, service_area_for
from storage.consumer_import import import_consumers
from storage.db import Database
from tests.service_area_fixture import SERVED, write_boundaries
from tests.storage.register_files import HEADER, count, stored, write

ROWS = [
    HEADER,
    "A000000001,In Alpha,,Alpha,LV-1,1,23.1685,79.9338",
    "A000000002,In the notch,,Alpha,LV-1,1,23.85,79.299",  # inside the box, in no district
    "A000000003,In Delta,,Delta,LV-1,1,22.9,80.0",  # in the file, not served
    "A000000004,On the border,,Beta,LV-1,1,23.2,80.0",
    "A000000005,No location,,Beta,LV-1,1,,",
    "A000000006,In the hole,,Gamma,LV-1,1,23.15,81.35",
    "A000000007,Far away,,Delhi,LV-1,1,28.61,77.21",  # outside every box
    "A000000008,On the island,,Gamma,LV-1,1,23.65,81.75",
]


@pytest.fixture
def area(tmp_path: Path) -> ServiceArea:
    return read_boundaries(write_boundaries(tmp_path / "districts.geojson"), SERVED, ServiceAreaSettings().bounding_box)


@pytest.mark.parametrize("parallel", [False, True], ids=["in-process", "worker-process"])
async def test_rows_outside_the_served_districts_are_skipped_with_the_reason(
    sqlite_db: Database, tmp_path: Path, area: ServiceArea, parallel: bool
) -> None:
    register = write(tmp_path / "register.csv", *ROWS)
    skipped_csv = tmp_path / "skipped.csv"
    report = await import_consumers(
        sqlite_db, [register], service_area=area, parallel=parallel, batch_size=3, skipped_csv=skipped_csv
    )
    assert (report.imported, report.rows_read) == (4, 8)
    assert [(row.line, row.reason, row.ivrs) for row in report.skipped] == [
        (3, "outside the service area: 23.85, 79.299 (in no served district)", "A000000002"),
        (4, "outside the service area: 22.9, 80.0 (in Delta district, not served)", "A000000003"),
        (7, "outside the service area: 23.15, 81.35 (in no served district)", "A000000006"),
        (8, "outside the service area: 28.61, 77.21", "A000000007"),
    ]
    assert report.skipped_by_kind == {"outside the service area": 4}
    assert await count(sqlite_db) == 4
    assert await stored(sqlite_db, "A000000005") is not None  # a row without a location is kept
    with skipped_csv.open(encoding="utf-8") as written:
        reasons = [row for row in csv.reader(written) if "Delta district" in ",".join(row)]
    assert len(reasons) == 1


async def test_without_boundaries_the_bounding_box_still_decides(sqlite_db: Database, tmp_path: Path) -> None:
    register = write(tmp_path / "register.csv", *ROWS)
    for service_area in (ServiceAreaSettings().bounding_box, service_area_for(ServiceAreaSettings())):
        report = await import_consumers(sqlite_db, [register], service_area=service_area)
        assert [row.ivrs for row in report.skipped] == ["A000000007"]


async def test_the_polygon_check_is_vectorised(
    sqlite_db: Database, tmp_path: Path, area: ServiceArea, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [HEADER] + [f"B{i:09d},,,Alpha,LV-1,1,{23.05 + (i % 90) / 100:.4f},{79.05 + (i % 7) / 10:.4f}"
                        for i in range(5000)]  # fmt: skip
    single: list[tuple[float, float]] = []
    place = ServiceArea.place

    def counted(self: ServiceArea, lat: float, lon: float) -> object:
        single.append((lat, lon))
        return place(self, lat, lon)

    monkeypatch.setattr(ServiceArea, "place", counted)
    report = await import_consumers(sqlite_db, [write(tmp_path / "r.csv", *lines)], service_area=area, parallel=False)
    assert report.imported + report.skipped_total == 5000
    assert report.skipped_total > 0
    assert len(single) == report.skipped_total  # only the rows outside are looked at one by one
    assert all(lat >= 23.7 and lon < 79.3 for lat, lon in single)  # the empty corner
