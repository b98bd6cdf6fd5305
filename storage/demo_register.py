"""A synthetic but realistic consumer register for demos and benchmarks.

Consumers are spread over the 24 districts of MP East Discom in proportion to their
population (census 2011, split for the new districts). In each district a share lives in the
headquarters town (a dense core and wider suburbs, gaussian around the town centre) and the
rest in villages: small clusters scattered over the district, with farm pump connections
(LV-5) spread wider around their village. Names mix common Hindi-belt first names and
surnames, with Gond surnames where the district has a large tribal population and a few
names in Devanagari. IVRS numbers are one letter (the zone) and ten digits: a district code
and a serial that grows down the file, as in a register exported district by district.

Generation is vectorised with numpy and streamed in chunks, so millions of rows take
seconds and little memory; the same seed always gives the same rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from bot.config import BoundingBox, ServiceAreaSettings
from storage.consumer_batches import ParsedBatch, columns_of
from storage.consumer_import import ImportReport, import_records
from storage.consumer_rows import COLUMNS, SkippedRow
from storage.db import Database

DEMO_AREA: BoundingBox = ServiceAreaSettings().bounding_box
CHUNK_ROWS = 50_000
BATCH_ROWS = 5000  # rows per database batch when loading
KM_PER_DEG_LAT = 111.2
MAX_SERIAL = 10_000_000  # seven digits of serial per district


@dataclass(frozen=True)
class District:
    name: str
    zone: str
    lat: float  # headquarters town
    lon: float
    population_k: int  # census 2011, thousands
    urban: float  # share of connections in the headquarters town
    tribal: float  # share of Gond/Baiga surnames
    radius_km: float  # villages lie within this distance of the headquarters


# fmt: off
DISTRICTS: tuple[District, ...] = (
    District("Jabalpur", "Jabalpur", 23.18, 79.95, 2463, 0.58, 0.15, 40),
    District("Katni", "Jabalpur", 23.83, 80.39, 1292, 0.22, 0.25, 35),
    District("Narsinghpur", "Jabalpur", 22.95, 79.19, 1092, 0.18, 0.13, 35),
    District("Chhindwara", "Jabalpur", 22.06, 78.94, 1600, 0.24, 0.37, 45),
    District("Pandhurna", "Jabalpur", 21.60, 78.52, 490, 0.25, 0.30, 22),
    District("Seoni", "Jabalpur", 22.09, 79.54, 1379, 0.13, 0.38, 45),
    District("Mandla", "Jabalpur", 22.60, 80.37, 1055, 0.12, 0.58, 40),
    District("Dindori", "Jabalpur", 22.94, 81.08, 705, 0.05, 0.65, 40),
    District("Balaghat", "Jabalpur", 21.81, 80.18, 1701, 0.15, 0.22, 45),
    District("Sagar", "Sagar", 23.84, 78.74, 2379, 0.30, 0.10, 50),
    District("Damoh", "Sagar", 23.83, 79.44, 1264, 0.20, 0.13, 40),
    District("Tikamgarh", "Sagar", 24.74, 78.83, 1040, 0.17, 0.05, 30),
    District("Niwari", "Sagar", 25.37, 78.80, 405, 0.20, 0.05, 16),
    District("Chhatarpur", "Sagar", 24.92, 79.58, 1763, 0.23, 0.04, 45),
    District("Panna", "Sagar", 24.72, 80.19, 1016, 0.13, 0.17, 45),
    District("Rewa", "Rewa", 24.53, 81.30, 1600, 0.20, 0.13, 35),
    District("Mauganj", "Rewa", 24.67, 81.88, 765, 0.08, 0.13, 22),
    District("Satna", "Rewa", 24.58, 80.83, 1590, 0.25, 0.14, 35),
    District("Maihar", "Rewa", 24.27, 80.76, 640, 0.15, 0.14, 25),
    District("Sidhi", "Rewa", 24.40, 81.88, 1127, 0.08, 0.27, 40),
    District("Singrauli", "Rewa", 24.20, 82.67, 1178, 0.20, 0.32, 30),
    District("Shahdol", "Shahdol", 23.30, 81.36, 1066, 0.20, 0.44, 35),
    District("Anuppur", "Shahdol", 23.10, 81.69, 749, 0.27, 0.48, 30),
    District("Umaria", "Shahdol", 23.52, 80.84, 644, 0.17, 0.46, 35),
)
ZONE_LETTER = {"Jabalpur": "N", "Sagar": "S", "Rewa": "R", "Shahdol": "H"}

CATEGORIES = ("LV-1", "LV-2", "LV-3", "LV-4", "LV-5", "HV-3")
DOMESTIC, SHOP, PUBLIC, INDUSTRY, PUMP, HT = range(len(CATEGORIES))
URBAN_MIX = (0.80, 0.15, 0.008, 0.035, 0.006, 0.001)
RURAL_MIX = (0.70, 0.05, 0.01, 0.006, 0.2338, 0.0002)
# Sanctioned loads (kW) per category and how often each occurs.
LOADS: tuple[tuple[tuple[float, ...], tuple[float, ...]], ...] = (
    ((0.3, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0, 10.0), (5, 25, 30, 12, 10, 8, 4, 4, 1, 1)),
    ((0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0), (5, 20, 25, 18, 14, 8, 5, 3, 2)),
    ((2.0, 5.0, 10.0, 15.0, 20.0, 30.0), (20, 30, 20, 12, 10, 8)),
    ((5.0, 10.0, 15.0, 20.0, 25.0, 37.5, 50.0, 75.0, 100.0), (15, 20, 15, 12, 10, 10, 8, 6, 4)),
    ((2.2, 3.7, 5.6, 7.5, 11.2), (10, 45, 25, 15, 5)),  # pumps of 3, 5, 7.5, 10 and 15 HP
    ((100.0, 150.0, 200.0, 300.0, 500.0, 1000.0, 2000.0), (20, 20, 20, 15, 12, 8, 5)),
)

FIRST_NAMES = (
    "Ramesh", "Suresh", "Mahesh", "Rajesh", "Dinesh", "Mukesh", "Rakesh", "Santosh", "Manoj", "Anil", "Sunil",
    "Vinod", "Ashok", "Pradeep", "Sanjay", "Ajay", "Vijay", "Rahul", "Amit", "Ravi", "Deepak", "Arvind",
    "Ram Prasad", "Shiv Prasad", "Ram Kumar", "Rajendra", "Narendra", "Surendra", "Mahendra", "Devendra",
    "Gopal", "Govind", "Kishore", "Mohan", "Rohit", "Ankit", "Nitin", "Harish", "Brijesh", "Kamlesh", "Umesh",
    "Yogesh", "Shailendra", "Hari Shankar", "Ram Sajeevan", "Bhagwan Das", "Kallu", "Munna", "Raju",
    "Chhote Lal", "Badri Prasad", "Shyam Lal", "Ram Kishan", "Jagdish", "Prakash", "Dilip", "Sunita", "Anita",
    "Geeta", "Sita", "Kamla", "Savitri", "Rekha", "Meena", "Pushpa", "Usha", "Asha", "Kiran", "Neha", "Pooja",
    "Priya", "Anjali", "Shanti", "Radha", "Lakshmi", "Saroj", "Mamta", "Kavita", "Seema", "Suman", "Jyoti",
    "Sushila", "Urmila", "Manju", "Vandana", "Shobha", "Kusum", "Babita", "Rajkumari", "Phoolwati", "Gayatri",
)
SURNAMES = (
    "Sharma", "Verma", "Patel", "Yadav", "Tiwari", "Mishra", "Dubey", "Pandey", "Shukla", "Tripathi",
    "Dwivedi", "Chaturvedi", "Gupta", "Jain", "Agrawal", "Soni", "Sahu", "Namdeo", "Thakur", "Singh", "Rajput",
    "Lodhi", "Kushwaha", "Chourasia", "Vishwakarma", "Ahirwar", "Kori", "Choudhary", "Rai", "Khare",
    "Shrivastava", "Saxena", "Jaiswal", "Kewat", "Mehra", "Burman", "Prajapati", "Raikwar", "Bundela", "Parihar",
)
TRIBAL_SURNAMES = (
    "Uikey", "Markam", "Dhurve", "Maravi", "Tekam", "Parteti", "Kumre", "Netam", "Paraste", "Marko", "Baiga",
    "Kushram", "Warkade", "Bhalavi", "Shyam", "Armo",
)
MUSLIM_NAMES = (
    "Mohammad Salim Khan", "Abdul Rashid", "Shabana Begum", "Rubina Bano", "Iqbal Ahmed", "Anwar Hussain",
    "Salma Khatoon", "Imran Qureshi", "Javed Ansari", "Naseem Siddiqui", "Shahid Khan", "Farida Bi",
)
DEVANAGARI_FIRST = ("रमेश", "सुरेश", "महेश", "राजेश", "राम प्रसाद", "अनिल", "सुनीता", "गीता", "सीता", "कमला", "गोपाल")
DEVANAGARI_SURNAMES = ("शर्मा", "वर्मा", "पटेल", "यादव", "तिवारी", "मिश्रा", "दुबे", "साहू", "सिंह", "उइके", "मरकाम")
SHOPS = (
    "Kirana Store", "General Store", "Medical Store", "Traders", "Hardware", "Cloth Emporium", "Mobile Shop",
    "Hotel", "Dhaba", "Clinic", "Coaching Centre", "Tailors", "Electricals", "Sweets", "Photo Studio",
)
INDUSTRIES = (
    "Rice Mill", "Flour Mill", "Dal Mill", "Oil Mill", "Ice Factory", "Cement Products", "Steel Fabrication",
    "Brick Works", "Agro Industries", "Plastics", "Printing Press", "Cold Storage", "Engineering Works",
)
HT_NAMES = ("Mahakoshal", "Vindhya", "Bundelkhand", "Narmada", "Satpura", "Baghelkhand", "Sone Valley", "Kaimur")
HT_KINDS = ("Cement", "Steel", "Textiles", "Agro", "Minerals", "Ferro Alloys", "Paper", "Pharma")
LOCALITIES: dict[str, tuple[str, ...]] = {
    "Jabalpur": ("Napier Town", "Wright Town", "Adhartal", "Garha", "Ranjhi", "Gorakhpur", "Madan Mahal",
                 "Gwarighat", "Vijay Nagar", "Civil Lines", "Sadar", "Gohalpur", "Kanchghar", "Ghamapur", "Bilhari"),
    "Sagar": ("Makronia", "Civil Lines", "Gopalganj", "Tilakganj", "Katra", "Parkota", "Rampura", "Sadar",
              "Bhagwanganj", "Shanichari"),
    "Rewa": ("Civil Lines", "Amahiya", "Ghoghar", "Samdariya", "Nehru Nagar", "Uprahti", "Chirahula"),
    "Satna": ("Civil Lines", "Krishna Nagar", "Dhawari", "Sindhi Camp", "Kolgawan", "Rewa Road"),
    "Katni": ("Madhav Nagar", "Jhinjhari", "Bargawan", "Gole Bazar", "Khirahani", "Civil Lines"),
}
COMMON_LOCALITIES = (
    "Civil Lines", "Sadar Bazar", "Gandhi Nagar", "Nehru Nagar", "Subhash Nagar", "Shastri Nagar", "Indira Colony",
    "Station Road", "Purani Basti", "Housing Board Colony", "Azad Nagar", "Tilak Ward", "Ram Nagar", "Shivaji Nagar",
)
VILLAGE_HEADS = (
    "Ram", "Sita", "Shiv", "Bar", "Pip", "Khama", "Sem", "Ama", "Bel", "Kar", "Deo", "Sal", "Ghat", "Nay", "Son",
    "Mah", "Chand", "Ban", "Kund", "Gor", "Bhan", "Maj", "Pat", "Sil", "Kot", "Dhan", "Ratan", "Lakh", "Mur",
)
VILLAGE_TAILS = (
    "pur", "pura", "garh", "gaon", "khedi", "kheda", "ria", "ari", "wara", "tola", "ghat", "oli", "ahi", "kund", "bari",
)
# fmt: on
# Every person name, so that picking one is an index into this list:
# general first x surname, then first x Gond surname, then Muslim names, then Devanagari names.
PEOPLE = (
    [f"{f} {s}" for f in FIRST_NAMES for s in SURNAMES]
    + [f"{f} {s}" for f in FIRST_NAMES for s in TRIBAL_SURNAMES]
    + list(MUSLIM_NAMES)
    + [f"{f} {s}" for f in DEVANAGARI_FIRST for s in DEVANAGARI_SURNAMES]
)
_TRIBAL_START = len(FIRST_NAMES) * len(SURNAMES)
_MUSLIM_START = _TRIBAL_START + len(FIRST_NAMES) * len(TRIBAL_SURNAMES)
_DEVANAGARI_START = _MUSLIM_START + len(MUSLIM_NAMES)
VILLAGES_PER_DISTRICT = 400


def _weights(values: tuple[float, ...]) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    return array / array.sum()


def _reflect(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Fold points that fell outside [low, high] back inside, like a mirror at each edge."""
    span = high - low
    folded = np.mod(values - low, 2 * span)
    return low + np.where(folded > span, 2 * span - folded, folded)


class _DistrictPlan:
    """Per-district constants: IVRS prefix, villages (centre, name, size) and place names."""

    def __init__(self, index: int, district: District, rng: np.random.Generator) -> None:
        self.district = district
        self.prefix = f"{ZONE_LETTER[district.zone]}{101 + 17 * index:03d}"
        count = VILLAGES_PER_DISTRICT
        # Villages lie uniformly over a disc round the headquarters, at least 4 km out of town.
        distance = np.sqrt(rng.uniform((4 / district.radius_km) ** 2, 1.0, count)) * district.radius_km
        bearing = rng.uniform(0, 2 * np.pi, count)
        km_per_deg_lon = KM_PER_DEG_LAT * np.cos(np.radians(district.lat))
        self.village_lat = district.lat + distance * np.cos(bearing) / KM_PER_DEG_LAT
        self.village_lon = district.lon + distance * np.sin(bearing) / km_per_deg_lon
        self.village_weight = _weights(tuple(rng.lognormal(0.0, 0.8, count)))
        heads = rng.integers(0, len(VILLAGE_HEADS), count).tolist()
        tails = rng.integers(0, len(VILLAGE_TAILS), count).tolist()
        villages = [VILLAGE_HEADS[h] + VILLAGE_TAILS[t] for h, t in zip(heads, tails, strict=True)]
        self.localities = LOCALITIES.get(district.name, COMMON_LOCALITIES)
        self.places = list(self.localities) + villages  # town localities first, then villages
        self.serial = int(rng.integers(1, 5000))


def _people(rng: np.random.Generator, count: int, tribal: float) -> np.ndarray:
    """Indexes into PEOPLE: Hindi-belt names, Gond surnames by the district's share, a few in Devanagari."""
    first = rng.integers(0, len(FIRST_NAMES), count)
    kind = rng.random(count)
    general = first * len(SURNAMES) + rng.integers(0, len(SURNAMES), count)
    gond = _TRIBAL_START + first * len(TRIBAL_SURNAMES) + rng.integers(0, len(TRIBAL_SURNAMES), count)
    muslim = _MUSLIM_START + rng.integers(0, len(MUSLIM_NAMES), count)
    hindi = _DEVANAGARI_START + rng.integers(0, len(PEOPLE) - _DEVANAGARI_START, count)
    return np.select([kind < 0.03, kind < 0.08, kind < 0.08 + 0.92 * tribal], [hindi, muslim, gond], general)


def _chunk(plan: _DistrictPlan, rng: np.random.Generator, count: int, area: BoundingBox) -> list[tuple]:
    """count rows of one district, as tuples in COLUMNS order."""
    d = plan.district
    urban = rng.random(count) < d.urban
    category = np.where(
        urban,
        rng.choice(len(CATEGORIES), count, p=_weights(URBAN_MIX)),
        rng.choice(len(CATEGORIES), count, p=_weights(RURAL_MIX)),
    )
    load = np.zeros(count)
    for code, (values, weights) in enumerate(LOADS):
        chosen = category == code
        load[chosen] = rng.choice(np.asarray(values), int(chosen.sum()), p=_weights(weights))

    # Town: 70% in a dense core (sigma 1.8 km), the rest in suburbs (sigma 5 km). Village houses
    # stay within a few hundred metres of the village; pumps (LV-5) lie out in the fields.
    town_sigma = np.where(rng.random(count) < 0.7, 1.8, 5.0)
    village = rng.choice(VILLAGES_PER_DISTRICT, count, p=plan.village_weight)
    sigma_km = np.where(urban, town_sigma, np.where(category == PUMP, 1.5, 0.35))
    centre_lat = np.where(urban, d.lat, plan.village_lat[village])
    centre_lon = np.where(urban, d.lon, plan.village_lon[village])
    km_per_deg_lon = KM_PER_DEG_LAT * np.cos(np.radians(centre_lat))
    lat = _reflect(centre_lat + rng.normal(0, 1, count) * sigma_km / KM_PER_DEG_LAT, area.min_lat, area.max_lat)
    lon = _reflect(centre_lon + rng.normal(0, 1, count) * sigma_km / km_per_deg_lon, area.min_lon, area.max_lon)

    gaps = rng.integers(1, 4 if plan.serial + 3 * count < MAX_SERIAL else 2, count)
    serials = (plan.serial + np.cumsum(gaps)).tolist()
    plan.serial = serials[-1]
    ivrs = [f"{plan.prefix}{serial:07d}" for serial in serials]
    names = [PEOPLE[i] for i in _people(rng, count, d.tribal).tolist()]
    house = rng.integers(1, 400, count)
    ward = np.where(urban, rng.integers(1, 80, count), rng.integers(1, 16, count))
    place_index = np.where(urban, rng.integers(0, len(plan.localities), count), len(plan.localities) + village)
    places = [plan.places[i] for i in place_index.tolist()]
    house_list = house.tolist()
    addresses = [
        f"H.No {h}, Ward {w}, {p}, {d.name}" for h, w, p in zip(house_list, ward.tolist(), places, strict=True)
    ]
    # The other categories are a minority: give them their own names and addresses one by one.
    pick = rng.integers(0, 1000, count).tolist()
    is_urban = urban.tolist()
    for i in np.flatnonzero(category != DOMESTIC).tolist():
        cat, place, h = int(category[i]), places[i], house_list[i]
        village_address = f"Village {place}, {d.name}"
        if cat == PUMP:
            addresses[i] = f"Khasra No {h * 7 + pick[i] % 7}, {village_address}"
        elif cat == SHOP:
            if pick[i] % 2:
                names[i] = f"M/s {names[i].split()[-1]} {SHOPS[pick[i] % len(SHOPS)]}"
            addresses[i] = f"Shop No {h % 60 + 1}, {place}, {d.name}"
        elif cat == PUBLIC:
            body = f"Nagar Palika {d.name}" if is_urban[i] else f"Gram Panchayat {place}"
            names[i] = f"{body} ({'Street Light' if pick[i] % 3 else 'Water Works'})"
            addresses[i] = f"{place}, {d.name}"
        elif cat == INDUSTRY:
            names[i] = f"M/s {names[i].split()[-1]} {INDUSTRIES[pick[i] % len(INDUSTRIES)]}"
            addresses[i] = f"Plot No {h}, Industrial Area, {d.name}" if is_urban[i] else village_address
        else:
            names[i] = f"M/s {HT_NAMES[pick[i] % len(HT_NAMES)]} {HT_KINDS[h % len(HT_KINDS)]} Pvt Ltd"
            addresses[i] = f"Plot No {h}, Industrial Area, {d.name}"
    categories = [CATEGORIES[c] for c in category.tolist()]
    lat_list, lon_list = np.round(lat, 6).tolist(), np.round(lon, 6).tolist()
    return list(
        zip(ivrs, names, addresses, repeat(d.name), categories, load.tolist(), lat_list, lon_list, strict=False)
    )


def iter_demo_chunks(n: int, seed: int = 1, area: BoundingBox = DEMO_AREA) -> Iterator[list[tuple]]:
    """The demo register as lists of up to CHUNK_ROWS tuples in COLUMNS order, district by district."""
    if n < 0:
        raise ValueError("the number of consumers cannot be negative")
    rng = np.random.default_rng(seed)
    plans = [_DistrictPlan(i, d, rng) for i, d in enumerate(DISTRICTS)]
    counts = rng.multinomial(n, _weights(tuple(d.population_k for d in DISTRICTS)))
    for plan, count in zip(plans, counts.tolist(), strict=True):
        if plan.serial + count >= MAX_SERIAL:
            raise ValueError(f"at most about {MAX_SERIAL * 10:,} demo consumers can be generated")
        for start in range(0, count, CHUNK_ROWS):
            yield _chunk(plan, rng, min(CHUNK_ROWS, count - start), area)


def iter_demo_rows(n: int, seed: int = 1) -> Iterator[dict[str, Any]]:
    """The demo register row by row, as dicts keyed by the import's column names."""
    for chunk in iter_demo_chunks(n, seed):
        for row in chunk:
            yield dict(zip(COLUMNS, row, strict=True))


def write_demo_csv(path: Path, n: int, seed: int = 1, *, progress: bool = False) -> int:
    """Write the demo register as a UTF-8 CSV file that import-consumers reads; return the rows written."""
    load_text = {value: repr(value) for values, _ in LOADS for value in values}
    written = 0
    with (
        path.open("w", encoding="utf-8", newline="") as out,
        tqdm(total=n, unit="rows", unit_scale=True, disable=not progress, desc=path.name) as bar,
    ):
        out.write(",".join(COLUMNS) + "\n")
        for chunk in iter_demo_chunks(n, seed):
            # Formatted by hand, twice as fast as csv.writer: no generated value holds a quote or a
            # newline, and only addresses hold commas, so quoting the address is all CSV needs.
            out.write(
                "".join(
                    [
                        f'{ivrs},{name},"{address}",{district},{category},{load_text[load]},{lat!r},{lon!r}\n'
                        for ivrs, name, address, district, category, load, lat, lon in chunk
                    ]
                )
            )
            written += len(chunk)
            bar.update(len(chunk))
    return written


async def load_demo_register(
    db: Database, n: int, seed: int = 1, service_area: BoundingBox = DEMO_AREA, *, progress: bool = False
) -> ImportReport:
    """Generate the demo register and upsert it into the database, as importing its CSV file would."""
    name = f"demo register (n={n}, seed={seed})"

    def batches() -> Iterator[ParsedBatch]:
        line = 1  # the header: row i lands on line i + 2 of the file write_demo_csv writes
        for chunk in iter_demo_chunks(n, seed, service_area):
            for start in range(0, len(chunk), BATCH_ROWS):
                part = chunk[start : start + BATCH_ROWS]
                lines = list(range(line + 1, line + 1 + len(part)))
                line += len(part)
                inside = [service_area.contains(row[6], row[7]) for row in part]
                skipped = [
                    SkippedRow(number, "outside the service area", row[0], name)
                    for number, row, ok in zip(lines, part, inside, strict=True)
                    if not ok
                ]
                if skipped:
                    lines = [number for number, ok in zip(lines, inside, strict=True) if ok]
                    part = [row for row, ok in zip(part, inside, strict=True) if ok]
                yield ParsedBatch(name, lines, columns_of(part), skipped, len(inside), len(inside), "rows", n)

    report = ImportReport(files=[name])
    return await import_records(db, batches(), report, expected_rows=n, progress=progress)
