"""A small, clearly artificial district map for the service-area tests (no real boundary is drawn here).

Longitude runs 79..82 E and latitude 22.5..24 N (so the world's Jabalpur consumers fall in Alpha):

    24.0 +--+-------+---------+            Alpha and Beta share the border x = 80, except for Beta's
         |  | Alpha |  Beta   |  [Gamma]  tooth 79.6..80 x 23.4..23.6 cut into Alpha. The corner
    23.7 +--+   +---+         |   island  79..79.3 x 23.7..24 belongs to no district (a concave
         |      |tooth        |           border that the bounding box would accept).
    23.4 |      +---+         |  [Gamma   Gamma is a MultiPolygon: a square with a hole
         |          |         |   +hole]  (81.3..81.4 x 23.1..23.2) and an island.
    23.0 +----------+---------+           Delta (a triangle below, 22.5..23) is in the file but
          \\        Delta     /            not in the served list.
    22.5    ---------------
        79.0       80.0      81.0
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SERVED = ["Alpha", "Beta", "Gamma"]

ALPHA = [(79.0, 23.0), (80.0, 23.0), (80.0, 23.4), (79.6, 23.4), (79.6, 23.6), (80.0, 23.6), (80.0, 24.0),
         (79.3, 24.0), (79.3, 23.7), (79.0, 23.7), (79.0, 23.0)]  # fmt: skip
BETA = [(80.0, 23.0), (81.0, 23.0), (81.0, 24.0), (80.0, 24.0), (80.0, 23.6), (79.6, 23.6), (79.6, 23.4),
        (80.0, 23.4), (80.0, 23.0)]  # fmt: skip
GAMMA_SQUARE = [(81.2, 23.0), (81.5, 23.0), (81.5, 23.3), (81.2, 23.3), (81.2, 23.0)]
GAMMA_HOLE = [(81.3, 23.1), (81.4, 23.1), (81.4, 23.2), (81.3, 23.2), (81.3, 23.1)]
GAMMA_ISLAND = [(81.6, 23.5), (81.9, 23.5), (81.9, 23.8), (81.6, 23.8), (81.6, 23.5)]
DELTA = [(79.0, 23.0), (81.0, 23.0), (80.0, 22.5), (79.0, 23.0)]


def polygon(*rings: list[tuple[float, float]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [list(map(list, ring)) for ring in rings]}


def feature(name: str, geometry: dict[str, Any], prop: str = "district") -> dict[str, Any]:
    return {"type": "Feature", "properties": {prop: name, "note": "synthetic test shape"}, "geometry": geometry}


def features(prop: str = "district") -> list[dict[str, Any]]:
    """The four artificial districts as GeoJSON features."""
    gamma = {
        "type": "MultiPolygon",
        "coordinates": [polygon(GAMMA_SQUARE, GAMMA_HOLE)["coordinates"], polygon(GAMMA_ISLAND)["coordinates"]],
    }
    return [
        feature("Alpha", polygon(ALPHA), prop),
        feature("Beta", polygon(BETA), prop),
        feature("Gamma", gamma, prop),
        feature("Delta", polygon(DELTA), prop),
    ]


def write_boundaries(path: Path, items: list[dict[str, Any]] | None = None, **extra: Any) -> Path:
    """Write a FeatureCollection (the artificial map unless items are given) and return its path."""
    collection = {"type": "FeatureCollection", "features": features() if items is None else items, **extra}
    path.write_text(json.dumps(collection), encoding="utf-8")
    return path
