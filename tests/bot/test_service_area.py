"""The service area from district boundaries (an artificial map, tests/service_area_fixture.py) and its fallback."""

from __future__ import annotations

import json
import logging
import pickle
from pathlib import Path

import numpy as np
import pytest

from bot.app import build_runtime
from bot.config import ConfigError, ServiceAreaSettings, Settings, load_settings
from bot.service_area import APPROXIMATE_WARNING, ServiceArea, ServiceAreaError, read_boundaries, service_area_for
from storage.db import Database
from tests.service_area_fixture import ALPHA, DELTA, SERVED, feature, features, polygon, write_boundaries

BOX = ServiceAreaSettings().bounding_box


@pytest.fixture
def area(tmp_path: Path) -> ServiceArea:
    return read_boundaries(write_boundaries(tmp_path / "districts.geojson"), SERVED, BOX)


def test_a_concave_border_refuses_what_the_bounding_box_would_accept(area: ServiceArea) -> None:
    # Alpha's empty corner, 79.0..79.3 x 23.7..24.0: inside every bounding box, in no district.
    assert area.bounding_box.contains(23.85, 79.299)
    assert area.place(23.85, 79.299).district is None
    assert not area.contains(23.85, 79.299)
    assert area.district_at(23.85, 79.301) == "Alpha"
    assert area.contains(23.85, 79.301)
    # Beta's tooth cut into Alpha: just inside the tooth is Beta, just outside it is Alpha.
    assert area.district_at(23.5, 79.601) == "Beta"
    assert area.district_at(23.5, 79.599) == "Alpha"
    assert area.district_at(23.401, 79.7) == "Beta"
    assert area.district_at(23.399, 79.7) == "Alpha"


def test_a_point_on_a_shared_border_goes_to_the_district_listed_first(tmp_path: Path) -> None:
    path = write_boundaries(tmp_path / "districts.geojson")
    first = read_boundaries(path, ["Alpha", "Beta", "Gamma"], BOX)
    turned = read_boundaries(path, ["Beta", "Alpha", "Gamma"], BOX)
    for lat, lon in [(23.2, 80.0), (23.4, 79.8), (23.6, 79.6)]:  # on x = 80, the tooth's floor, its corner
        assert first.district_at(lat, lon) == "Alpha"
        assert turned.district_at(lat, lon) == "Beta"
        assert first.contains(lat, lon) and turned.contains(lat, lon)
    # On the border with Delta, which is not served, the served district wins; so does the outer edge.
    assert first.place(23.0, 79.5).district == "Alpha"
    assert first.district_at(24.0, 80.5) == "Beta"


def test_a_point_in_a_district_that_is_not_served_is_named(area: ServiceArea) -> None:
    assert area.place(22.9, 80.0).district == "Delta"
    assert not area.place(22.9, 80.0).served
    assert area.district_at(22.9, 80.0) is None
    assert not area.contains(22.9, 80.0)
    assert area.other_districts == ["Delta"]
    assert area.districts == SERVED


def test_a_multipolygon_with_a_hole_and_an_island(area: ServiceArea) -> None:
    assert area.district_at(23.05, 81.25) == "Gamma"
    assert area.district_at(23.15, 81.35) is None  # the hole
    assert area.district_at(23.65, 81.75) == "Gamma"  # the island
    assert area.district_at(23.4, 81.55) is None  # the sea between them
    assert area.district_at(23.1, 81.3) == "Gamma"  # the hole's edge belongs to the district


def test_the_pre_filter_is_the_served_districts_own_box(area: ServiceArea) -> None:
    box = area.bounding_box
    assert (box.min_lat, box.max_lat, box.min_lon, box.max_lon) == (23.0, 24.0, 79.0, 81.9)
    assert area.outer_box == BOX  # the configured box already holds every district of the file (Delta too)
    assert not area.contains(23.17, 79.93 - 10)
    assert area.district_at(23.1685, 79.9338) == "Alpha"  # the world's consumers


def test_the_vectorised_check_agrees_with_the_single_one(area: ServiceArea) -> None:
    lats = np.concatenate([np.round(np.linspace(22.4, 24.1, 35), 3), [23.2, 23.85, np.nan, 23.5]])
    lons = np.concatenate([np.round(np.linspace(78.9, 82.0, 35), 3), [80.0, 79.299, 80.0, np.nan]])
    grid_lat, grid_lon = (a.ravel() for a in np.meshgrid(lats, lons))
    many = area.contains_many(grid_lat, grid_lon)
    single = [
        not (np.isnan(a) or np.isnan(o)) and area.contains(float(a), float(o))
        for a, o in zip(grid_lat, grid_lon, strict=True)
    ]
    assert many.tolist() == single
    assert 0 < many.sum() < len(many)


def test_without_a_file_the_bounding_box_decides() -> None:
    fallback = service_area_for(ServiceAreaSettings())
    assert not fallback.has_boundaries
    assert fallback.contains(23.85, 79.25)  # the notch of the artificial map: the box cannot tell
    assert fallback.district_at(23.85, 79.25) is None
    assert not fallback.contains(28.61, 77.21)
    assert fallback.contains_many([23.0, 28.6], [80.0, 77.2]).tolist() == [True, False]
    assert "approximate" in fallback.describe()


async def test_start_up_warns_when_the_check_is_approximate(
    settings: Settings, sqlite_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        runtime = await build_runtime(settings, sqlite_db)
    assert runtime.service_area is not None and not runtime.service_area.has_boundaries
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert APPROXIMATE_WARNING in warnings
    assert "\n" not in APPROXIMATE_WARNING


async def test_start_up_loads_the_boundaries_once(
    settings: Settings, sqlite_db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_boundaries(tmp_path / "districts.geojson")
    area_settings = ServiceAreaSettings(boundaries_file=path, districts=SERVED)
    with caplog.at_level(logging.INFO):
        runtime = await build_runtime(settings.model_copy(update={"service_area": area_settings}), sqlite_db)
    assert runtime.service_area is service_area_for(area_settings)  # the handlers get the same object
    assert runtime.service_area.has_boundaries
    messages = [r.getMessage() for r in caplog.records]
    assert APPROXIMATE_WARNING not in messages
    assert any("not served: Delta" in m for m in messages)


def test_it_survives_pickling_for_the_import_worker(area: ServiceArea) -> None:
    again = pickle.loads(pickle.dumps(area))
    assert again.district_at(23.5, 79.8) == "Beta"
    assert again.place(22.9, 80.0).district == "Delta"


@pytest.mark.parametrize("prop", ["district", "DISTRICT", "dtname", "NAME_2"])
def test_the_usual_name_properties_are_read(tmp_path: Path, prop: str) -> None:
    path = write_boundaries(tmp_path / "d.geojson", features(prop))
    assert read_boundaries(path, SERVED, BOX).district_at(23.5, 79.8) == "Beta"


def test_a_configured_property_and_names_in_other_case(tmp_path: Path) -> None:
    alpha, beta = features()[:2]
    items = [feature("ALPHA", alpha["geometry"], "DIST_NM"), feature("  beta ", beta["geometry"], "DIST_NM")]
    path = write_boundaries(tmp_path / "d.geojson", items)
    area = read_boundaries(path, ["alpha", "Beta"], BOX, "DIST_NM")
    assert area.district_at(23.5, 79.8) == "Beta"  # spelled as in the settings
    with pytest.raises(ServiceAreaError, match=r"feature 1 has no 'district' property \(it has: DIST_NM, note\)"):
        read_boundaries(path, ["Alpha"], BOX)


def test_several_features_of_one_district_are_merged(tmp_path: Path) -> None:
    west = feature("Alpha", polygon([(79.0, 23.0), (79.5, 23.0), (79.5, 23.7), (79.0, 23.7), (79.0, 23.0)]))
    east = feature("Alpha", polygon([(79.5, 23.0), (80.0, 23.0), (80.0, 23.4), (79.5, 23.4), (79.5, 23.0)]))
    area = read_boundaries(write_boundaries(tmp_path / "d.geojson", [west, east]), ["Alpha"], BOX)
    assert area.district_at(23.2, 79.5) == "Alpha"
    assert area.district_at(23.2, 79.9) == "Alpha"
    assert area.district_at(23.6, 79.9) is None


BOWTIE = polygon([(79.0, 23.0), (80.0, 24.0), (80.0, 23.0), (79.0, 24.0), (79.0, 23.0)])
PROJECTED = polygon([(500000.0, 2500000.0), (510000.0, 2500000.0), (510000.0, 2510000.0), (500000.0, 2500000.0)])
ELSEWHERE = polygon([(10.0, 50.0), (11.0, 50.0), (11.0, 51.0), (10.0, 50.0)])  # valid degrees, but not here
CASES: dict[str, tuple[object, str]] = {
    "not JSON": ("{not json", "not valid JSON"),
    "not a collection": ({"type": "Feature"}, "not a GeoJSON FeatureCollection"),
    "no features": ({"type": "FeatureCollection", "features": []}, "has no features"),
    "invalid geometry": ([feature("Alpha", BOWTIE)], r"feature 1 \(Alpha\): invalid geometry: Self-intersection"),
    "a point": ([feature("Alpha", {"type": "Point", "coordinates": [79.5, 23.5]})],
                "must be a Polygon or MultiPolygon, not Point"),
    "broken coordinates": ([feature("Alpha", {"type": "Polygon", "coordinates": [[1, 2]]})], "unreadable geometry"),
    "no name": ([{"type": "Feature", "properties": {}, "geometry": polygon(ALPHA)}], "feature 1 has no 'district'"),
    "missing district": ([feature("Alpha", polygon(ALPHA)), feature("Delta", polygon(DELTA))],
                         "no feature for the served district.s. Beta, Gamma; the file names: Alpha, Delta"),
    "projected": ([feature("Alpha", PROJECTED)], "not longitude/latitude degrees"),
    "declared crs": ({"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "EPSG:32644"}},
                      "features": features()}, "WGS 84 .EPSG:4326., the file declares"),
    "far away": ([feature(n, ELSEWHERE) for n in SERVED], "lie nowhere near service_area.bounding_box"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_unusable_file_is_one_clear_line(tmp_path: Path, case: str) -> None:
    content, expected = CASES[case]
    path = tmp_path / "districts.geojson"
    if isinstance(content, list):
        write_boundaries(path, content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    with pytest.raises(ServiceAreaError, match=expected) as caught:
        read_boundaries(path, SERVED, BOX)
    message = str(caught.value)
    assert message.startswith(f"service_area.boundaries_file: {path}: ")
    assert "\n" not in message
    assert isinstance(caught.value, ConfigError)  # run_bot.py prints it as a configuration error


def test_a_missing_or_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ServiceAreaError, match=r"nowhere\.geojson: file not found"):
        read_boundaries(tmp_path / "nowhere.geojson", SERVED, BOX)
    with pytest.raises(ServiceAreaError, match="cannot be read"):
        read_boundaries(tmp_path, SERVED, BOX)  # a folder


def test_config_keys(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("service_area:\n  boundaries_file: ''\n  district_property: dtname\n", encoding="utf-8")
    settings = load_settings(config, environ={})
    assert settings.service_area.boundaries_file is None
    assert settings.service_area.district_property == "dtname"
    config.write_text("service_area:\n  boundaries_file: maps/districts.geojson\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="districts must list the served districts"):
        load_settings(config, environ={})
    assert load_settings(environ={}).service_area.boundaries_file is None  # the shipped config.yaml


def test_a_relative_path_is_taken_from_where_the_bot_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_boundaries(tmp_path / "districts.geojson")
    monkeypatch.chdir(tmp_path)
    area = service_area_for(ServiceAreaSettings(boundaries_file=Path("districts.geojson"), districts=SERVED))
    assert area.source == str(tmp_path / "districts.geojson")
    assert area.district_at(23.5, 79.8) == "Beta"
