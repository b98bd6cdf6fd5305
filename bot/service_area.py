"""The company's service area: the served districts' boundaries from a GeoJSON file, or else the bounding box.

With `service_area.boundaries_file` set, a point is served when a served district's polygon covers
it (its border included). A point on the border of two districts belongs to the one listed first in
`service_area.districts`; a served district always wins over one the company does not serve.
Features of districts that are not in the list are kept only to name them in the refusal.
Without a file the bounding box decides, which is approximate near the borders.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from bot.config import BoundingBox, ConfigError, ServiceAreaSettings

log = logging.getLogger(__name__)

DEFAULT_PROPERTY = "district"
# Tried after the default property: Census/Survey of India ("DISTRICT", "dtname") and GADM ("NAME_2") files.
OTHER_PROPERTIES = ("DISTRICT", "dtname", "NAME_2")
POLYGONAL = ("Polygon", "MultiPolygon")
APPROXIMATE_WARNING = (
    "service_area.boundaries_file is not set: locations are checked against the bounding box only, "
    "which is approximate near the borders of the served districts"
)
_SHOWN_NAMES = 8  # names listed in one error or warning line

Fail = Callable[[str], NoReturn]


class ServiceAreaError(ConfigError):
    """The boundaries file cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Place:
    """Where a point lies: the district covering it (None when none is known) and whether it is served."""

    district: str | None
    served: bool


def _key(name: str) -> str:
    """A district name compared without case or extra spaces."""
    return " ".join(name.split()).casefold()


def _box_of(geometries: Sequence[BaseGeometry]) -> BoundingBox:
    min_lon, min_lat, max_lon, max_lat = shapely.total_bounds(np.array(geometries, dtype=object)).tolist()
    return BoundingBox(min_lat=min_lat, max_lat=max_lat, min_lon=min_lon, max_lon=max_lon)


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_SHOWN_NAMES])
    return shown + (f" and {len(names) - _SHOWN_NAMES} more" if len(names) > _SHOWN_NAMES else "")


class ServiceArea:
    """Answers whether a point lies in a served district, and in which one."""

    def __init__(
        self,
        box: BoundingBox,
        served: Sequence[tuple[str, BaseGeometry]] = (),
        others: Sequence[tuple[str, BaseGeometry]] = (),
        source: str | None = None,
    ) -> None:
        self.source = source
        self._config_box = box
        self._served = list(served)
        self._others = list(others)
        self.districts = [name for name, _ in self._served]
        self.other_districts = [name for name, _ in self._others]
        self._names = self.districts + self.other_districts
        self._geoms = np.array([g for _, g in self._served] + [g for _, g in self._others], dtype=object)
        shapely.prepare(self._geoms)
        self._tree = shapely.STRtree(self._geoms) if len(self._geoms) else None
        self._served_bounds = shapely.bounds(self._geoms[: len(self._served)]) if self._served else None
        # The fast pre-filter: the configured box, or with boundaries the served districts' own bounds.
        self.bounding_box = _box_of([g for _, g in self._served]) if self._served else box
        # The configured box widened to every district of the file: outside it, nothing is known.
        self.outer_box = _box_of([shapely.box(box.min_lon, box.min_lat, box.max_lon, box.max_lat), *self._geoms])

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its parts (the worker process of the consumer import receives it pickled).
        return (ServiceArea, (self._config_box, self._served, self._others, self.source))

    @property
    def has_boundaries(self) -> bool:
        """True when district polygons decide; False when only the bounding box does."""
        return bool(self._served)

    def place(self, lat: float, lon: float) -> Place:
        """The district covering the point (served ones first, then in configured order) and whether it is served."""
        if self._tree is None or not self._served:
            return Place(None, self._config_box.contains(lat, lon))
        for index in sorted(self._tree.query(shapely.Point(lon, lat)).tolist()):
            if shapely.intersects_xy(self._geoms[index], lon, lat):
                return Place(self._names[index], index < len(self._served))
        return Place(None, False)

    def district_at(self, lat: float, lon: float) -> str | None:
        """The served district covering the point, or None (always None without a boundaries file)."""
        place = self.place(lat, lon)
        return place.district if place.served else None

    def contains(self, lat: float, lon: float) -> bool:
        """Whether the point is served: in a served district, or in the bounding box without a file."""
        box = self.bounding_box
        if not (box.min_lat <= lat <= box.max_lat and box.min_lon <= lon <= box.max_lon):
            return False
        return self.place(lat, lon).served

    def contains_many(self, lats: Any, lons: Any) -> np.ndarray:
        """contains() for arrays of latitudes and longitudes at once (NaN is outside)."""
        lat = np.asarray(lats, dtype=np.float64)
        lon = np.asarray(lons, dtype=np.float64)
        box = self.bounding_box
        with np.errstate(invalid="ignore"):
            inside = (lat >= box.min_lat) & (lat <= box.max_lat) & (lon >= box.min_lon) & (lon <= box.max_lon)
        if self._served_bounds is None or not inside.any():
            return inside
        candidates = np.flatnonzero(inside)
        lat, lon = lat[candidates], lon[candidates]
        found = np.zeros(len(candidates), dtype=bool)
        for (_, geometry), (x0, y0, x1, y1) in zip(self._served, self._served_bounds.tolist(), strict=True):
            near = np.flatnonzero(~found & (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1))
            if len(near):
                found[near] = shapely.intersects_xy(geometry, lon[near], lat[near])
        inside[candidates] = found
        return inside

    def describe(self) -> str:
        """One line for logs and the CLI: where the answers come from."""
        if not self.has_boundaries:
            b = self._config_box
            return f"bounding box {b.min_lat}..{b.max_lat} N, {b.min_lon}..{b.max_lon} E (approximate near borders)"
        others = f"; {len(self._others)} other districts in the file are not served" if self._others else ""
        return f"boundaries of {len(self._served)} served districts from {self.source}{others}"


def _district_name(properties: dict[str, Any], wanted: str) -> str | None:
    names = (wanted, *OTHER_PROPERTIES) if wanted == DEFAULT_PROPERTY else (wanted,)
    for name in names:
        value = properties.get(name)
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())
    return None


def _read_features(path: Path, fail: Fail) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        fail("file not found")
    except (OSError, UnicodeError) as exc:
        fail(f"cannot be read: {exc}")
    try:
        data = json.loads(text)
    except ValueError as exc:
        fail(f"not valid JSON: {exc}")
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        fail("not a GeoJSON FeatureCollection")
    crs = json.dumps(data.get("crs") or {})
    if data.get("crs") and not any(tag in crs for tag in ("CRS84", "4326")):
        fail(f"coordinates must be longitude/latitude in WGS 84 (EPSG:4326), the file declares {crs}")
    features = data.get("features")
    if not isinstance(features, list) or not features:
        fail("the FeatureCollection has no features")
    return features


def _feature_geometry(number: int, feature: Any, wanted: str, fail: Fail) -> tuple[str, BaseGeometry]:
    where = f"feature {number}"
    if not isinstance(feature, dict):
        fail(f"{where} is not a GeoJSON Feature")
    properties = feature.get("properties") or {}
    name = _district_name(properties, wanted)
    if name is None:
        has = ", ".join(map(str, properties)) or "none"
        fail(f"{where} has no {wanted!r} property (it has: {has}); set service_area.district_property")
    where = f"{where} ({name})"
    raw = feature.get("geometry")
    if not isinstance(raw, dict) or raw.get("type") not in POLYGONAL:
        kind = raw.get("type") if isinstance(raw, dict) else raw
        fail(f"{where}: the geometry must be a Polygon or MultiPolygon, not {kind}")
    try:
        geometry = shape(raw)
    except Exception as exc:  # shapely raises ValueError, TypeError, IndexError or GEOSException here
        fail(f"{where}: unreadable geometry: {exc}")
    if geometry.is_empty:
        fail(f"{where}: the geometry is empty")
    min_lon, min_lat, max_lon, max_lat = geometry.bounds
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        fail(f"{where}: coordinates are not longitude/latitude degrees; reproject the file to WGS 84 (EPSG:4326)")
    if not geometry.is_valid:
        fail(f"{where}: invalid geometry: {shapely.is_valid_reason(geometry)}")
    return name, geometry


def read_boundaries(
    path: Path, districts: Sequence[str], box: BoundingBox, prop: str = DEFAULT_PROPERTY
) -> ServiceArea:
    """Load and check a GeoJSON file of district boundaries; raise ServiceAreaError naming the problem."""

    def fail(problem: str) -> NoReturn:
        raise ServiceAreaError(f"service_area.boundaries_file: {path}: {problem}")

    pieces: dict[str, list[BaseGeometry]] = {}
    spelled: dict[str, str] = {}
    for number, feature in enumerate(_read_features(path, fail), start=1):
        name, geometry = _feature_geometry(number, feature, prop, fail)
        pieces.setdefault(_key(name), []).append(geometry)
        spelled.setdefault(_key(name), name)

    def merged(key: str) -> BaseGeometry:
        parts = pieces[key]
        return parts[0] if len(parts) == 1 else shapely.union_all(parts)

    served_keys = [_key(name) for name in districts]
    missing = [name for name, key in zip(districts, served_keys, strict=True) if key not in pieces]
    if missing:
        present = sorted(spelled.values())
        fail(f"no feature for the served district(s) {_listed(missing)}; the file names: {_listed(present)}")
    served = [(name, merged(key)) for key, name in dict(zip(served_keys, districts, strict=True)).items()]
    others = sorted(((spelled[key], merged(key)) for key in pieces if key not in served_keys), key=lambda o: o[0])
    served_box = _box_of([g for _, g in served])
    if not (
        served_box.min_lat <= box.max_lat
        and box.min_lat <= served_box.max_lat
        and served_box.min_lon <= box.max_lon
        and box.min_lon <= served_box.max_lon
    ):
        fail(
            "the served districts lie nowhere near service_area.bounding_box; are the coordinates longitude, latitude?"
        )
    if others:
        log.warning(
            "%s: %d district(s) not in service_area.districts are not served: %s",
            path,
            len(others),
            _listed([name for name, _ in others]),
        )
    return ServiceArea(box, served, others, source=str(path))


def _box_tuple(box: BoundingBox) -> tuple[float, float, float, float]:
    return (box.min_lat, box.max_lat, box.min_lon, box.max_lon)


@lru_cache(maxsize=8)
def _cached(
    path: str | None, districts: tuple[str, ...], box: tuple[float, float, float, float], prop: str
) -> ServiceArea:
    bounding = BoundingBox(min_lat=box[0], max_lat=box[1], min_lon=box[2], max_lon=box[3])
    if path is None:
        return ServiceArea(bounding)
    return read_boundaries(Path(path), districts, bounding, prop)


def service_area_for(settings: ServiceAreaSettings) -> ServiceArea:
    """The ServiceArea these settings describe, loaded once per file and kept (raises ServiceAreaError)."""
    path = settings.boundaries_file
    shown = None if path is None else (str(path) if path.is_absolute() else os.path.join(os.getcwd(), path))
    return _cached(shown, tuple(settings.districts), _box_tuple(settings.bounding_box), settings.district_property)
