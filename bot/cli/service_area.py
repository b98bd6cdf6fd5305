"""`run_bot.py service-area check LAT LON` and `service-area info`: ask the service area what the bot would."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bot.config import Settings
from bot.service_area import service_area_for


def register(sub: Any) -> None:
    """Add the service-area subcommand with its check and info actions."""
    area = sub.add_parser(
        "service-area",
        help="which served district a point lies in (district boundaries or the bounding box)",
        description="Answer as the bot's location check does: from service_area.boundaries_file when it is set, "
        "otherwise from the bounding box (approximate near borders).",
    )
    actions = area.add_subparsers(dest="service_area_command", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="print the served district at LAT LON, or 'outside' (exit code 1)")
    check.add_argument("lat", type=float, metavar="LAT", help="latitude in degrees, e.g. 23.1685")
    check.add_argument("lon", type=float, metavar="LON", help="longitude in degrees, e.g. 79.9338")
    check.set_defaults(handler=check_command)
    info = actions.add_parser("info", help="where the answers come from, and the districts served")
    info.set_defaults(handler=info_command)


async def check_command(args: argparse.Namespace, settings: Settings) -> int:
    """Print the district (or "outside", with what is known about the place); exit 0 when served, 1 when not."""
    if not (-90 <= args.lat <= 90 and -180 <= args.lon <= 180):
        print("LAT must be within -90..90 and LON within -180..180 (degrees)", file=sys.stderr)
        return 2
    area = service_area_for(settings.service_area)
    place = area.place(args.lat, args.lon)
    if not area.has_boundaries:
        where = "inside" if place.served else "outside"
        print(f"{where} the bounding box (approximate near borders: service_area.boundaries_file is not set)")
    elif place.served:
        print(place.district)
    elif place.district:
        print(f"outside (in {place.district} district, which is not served)")
    else:
        print(f"outside (in no district of {area.source})")
    return 0 if place.served else 1


async def info_command(args: argparse.Namespace, settings: Settings) -> int:
    """Print where the service area comes from, the served districts and the pre-filter box."""
    area = service_area_for(settings.service_area)
    box = area.bounding_box
    print(f"Service area: {area.describe()}")
    print(f"Pre-filter box: lat {box.min_lat:g}..{box.max_lat:g}, lon {box.min_lon:g}..{box.max_lon:g}")
    served = area.districts if area.has_boundaries else settings.service_area.districts
    print(f"Districts served ({len(served)}): {', '.join(served) or '(none listed)'}")
    if area.other_districts:
        print(f"In the file but not served ({len(area.other_districts)}): {', '.join(area.other_districts)}")
    return 0
