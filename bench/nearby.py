"""Nearby search benchmark: latency of "consumers within 750 m, nearest first" against full scans and PostGIS.

    python bench/nearby.py                                   # 100k, 1M and 5M consumers, SQLite and PostgreSQL
    python bench/nearby.py --sizes 100000,1000000 --backends sqlite --queries 200

For each register size the demo register (storage/demo_register.py: towns and villages of the 24
districts) is written as CSV once, then for each backend imported into a fresh database by
import_consumers in a child process (rows/s, and the peak memory of that process and its reader
worker), and queried at random consumer locations, the way the bot asks: page 1 (the 10 nearest)
and the total, through ConsumerRepository.nearby in an open session, twice: the first pass reads
what the queries need into memory (reported as "cold"), the second is the one timed. The same queries are answered
by full scans (numpy over all points in memory, and the same SQL without the cell index), whose
answers every indexed result is checked against, and, on PostgreSQL with PostGIS installed, by
ST_DWithin on a geography column with a GiST index. PostgreSQL gets VACUUM ANALYZE after the load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import psutil  # noqa: E402
from sqlalchemy import text  # noqa: E402

from storage import geo  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.repositories.consumers import ConsumerRepository  # noqa: E402

POSTGRES_URL = os.environ.get("VMITRA_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
PAGE = 10
SCAN_SQL = """
WITH page AS (
    SELECT c.id AS id, {d} AS d FROM consumers AS c WHERE c.cell IS NOT NULL AND {d} <= :c2
    ORDER BY d, id LIMIT :limit)
SELECT (SELECT COUNT(*) FROM consumers AS c WHERE c.cell IS NOT NULL AND {d} <= :c2) AS total, page.d, consumers.*
FROM (SELECT 1 AS one) AS one LEFT JOIN page ON 1 = 1 LEFT JOIN consumers ON consumers.id = page.id
ORDER BY page.d, page.id
""".format(d="((c.ux - :x) * (c.ux - :x) + (c.uy - :y) * (c.uy - :y) + (c.uz - :z) * (c.uz - :z))")
POSTGIS_SQL = """
WITH q AS (SELECT CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography) AS g),
page AS (
    SELECT p.id AS id, ST_Distance(p.geog, q.g, false) AS d FROM postgis_points AS p, q
    WHERE ST_DWithin(p.geog, q.g, :radius, false) ORDER BY d, id LIMIT :limit)
SELECT (SELECT COUNT(*) FROM postgis_points AS p, q WHERE ST_DWithin(p.geog, q.g, :radius, false)) AS total,
    page.d, consumers.*
FROM (SELECT 1 AS one) AS one LEFT JOIN page ON 1 = 1 LEFT JOIN consumers ON consumers.id = page.id
ORDER BY page.d, page.id
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else math.nan


# --- the import, in a child process so that its memory is its own ---------------------------------------------


def open_db(url: str, schema: str | None) -> Database:
    """The database the way the app opens it, on a private schema for PostgreSQL (PostGIS lives in public)."""
    if schema is None:
        return Database(url)
    return Database(url, connect_args={"server_settings": {"search_path": f"{schema},public"}})


async def import_child(url: str, schema: str | None, csv_path: Path) -> None:
    from bot.config import ServiceAreaSettings
    from storage.consumer_import import import_consumers

    db = open_db(url, schema)
    try:
        await db.upgrade()
        report = await import_consumers(db, [csv_path], service_area=ServiceAreaSettings().bounding_box)
    finally:
        await db.dispose()
    print(json.dumps({"rows": report.rows_read, "imported": report.imported, "seconds": report.seconds}))


def run_import(url: str, schema: str | None, csv_path: Path) -> dict[str, Any]:
    """Import csv_path in a child process; its report plus the peak RSS (MB) of it and its children."""
    args = [sys.executable, __file__, "--import-child", url, schema or "-", str(csv_path)]
    child = subprocess.Popen(args, stdout=subprocess.PIPE, cwd=ROOT)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        process = psutil.Process(child.pid)
        while not done.is_set():
            try:
                rss = sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])
            except psutil.Error:
                rss = 0
            peak = max(peak, rss)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = child.communicate()
    done.set()
    sampler.join()
    if child.returncode:
        raise RuntimeError(f"the import failed (exit code {child.returncode})")
    return {**json.loads(out.decode().strip().splitlines()[-1]), "peak_mb": peak / 2**20}


# --- one register on one backend ------------------------------------------------------------------------------


async def load_points(db: Database) -> tuple[np.ndarray, np.ndarray]:
    """Every consumer with a location: ids and unit vectors (n x 3), read in chunks."""
    ids, vectors, last = [], [], 0
    async with db.reader() as s:
        while True:
            rows = (
                await s.execute(
                    text(
                        "SELECT id, ux, uy, uz FROM consumers WHERE id > :last AND cell IS NOT NULL "
                        "ORDER BY id LIMIT 200000"
                    ),
                    {"last": last},
                )
            ).all()
            if not rows:
                break
            chunk = np.array(rows, dtype=np.float64)
            ids.append(chunk[:, 0].astype(np.int64))
            vectors.append(chunk[:, 1:])
            last = int(chunk[-1, 0])
    return np.concatenate(ids), np.concatenate(vectors)


def numpy_scan(ids: np.ndarray, vectors: np.ndarray, point: tuple[float, float, float], c2: float) -> tuple:
    d2 = ((vectors - np.asarray(point)) ** 2).sum(axis=1)
    hits = np.flatnonzero(d2 <= c2)
    order = np.lexsort((ids[hits], d2[hits]))[:PAGE]
    return len(hits), ids[hits][order], d2[hits][order]


async def timed(db: Database, queries: list[tuple[float, float]], run: Any) -> tuple[list[float], list[Any]]:
    """Latency (ms) of run(session, lat, lon) per query, in one read session (begun before the clock starts)."""
    times, results = [], []
    async with db.reader() as s:
        await s.execute(text("SELECT 1"))
        for lat, lon in queries:
            started = time.perf_counter()
            results.append(await run(s, lat, lon))
            times.append((time.perf_counter() - started) * 1000)
    return times, results


async def run_sql(s: Any, sql: str, params: dict[str, Any]) -> tuple[int, list[int]]:
    rows = (await s.execute(text(sql), params)).all()
    return int(rows[0][0]), [row.id for row in rows if row.id is not None]


class Points:
    """The scan's data, for checking a result: the distance of a consumer and the points near the edge."""

    def __init__(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.ids, self.vectors = ids, vectors

    def check(self, query: tuple[float, float], c2: float, expected: tuple, total: int, page_ids: list[int]) -> bool:
        """True when a result matches the scan, allowing points within a micrometre of the edge, and ties."""
        want_total, _, want_d2 = expected
        point = np.asarray(geo.unit_vector(*query))
        slack = geo.chord2_for_distance(geo.distance_for_chord2(c2) + 1e-6) - c2
        if total != want_total:
            near_edge = int((np.abs(((self.vectors - point) ** 2).sum(axis=1) - c2) <= slack).sum())
            if abs(total - want_total) > near_edge:
                return False
        if len(page_ids) != len(want_d2):
            return False
        rows = np.searchsorted(self.ids, np.asarray(page_ids, dtype=np.int64))
        got_d2 = ((self.vectors[rows] - point) ** 2).sum(axis=1)
        return bool(np.all(np.abs(got_d2 - want_d2) <= slack))


def remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def bench_backend(backend: str, n: int, csv_path: Path, args: argparse.Namespace) -> dict[str, Any]:
    path = Path(args.workdir) / f"nearby-{n}.db"
    if backend == "sqlite":
        remove_sqlite(path)
        url, schema = f"sqlite+aiosqlite:///{path}", None
    else:
        url, schema = POSTGRES_URL, f"bench_nearby_{uuid.uuid4().hex[:10]}"
        admin = Database(POSTGRES_URL)
        async with admin.engine.begin() as conn:
            await conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        await admin.dispose()
    result: dict[str, Any] = {"backend": backend, "n": n}
    try:
        log(f"[{backend} {n:,}] importing ...")
        result["import"] = await asyncio.to_thread(run_import, url, schema, csv_path)
        db = open_db(url, schema)
        try:
            await measure(db, backend, n, args, result)
        finally:
            await db.dispose()
    finally:
        if schema is not None:
            admin = Database(POSTGRES_URL)
            async with admin.engine.begin() as conn:
                await conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            await admin.dispose()
        elif not args.keep:
            remove_sqlite(path)
    return result


async def measure(db: Database, backend: str, n: int, args: argparse.Namespace, result: dict[str, Any]) -> None:
    radius, tag = args.radius, f"[{backend} {n:,}]"
    if backend == "postgresql":
        log(f"{tag} VACUUM ANALYZE ...")
        async with db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("VACUUM ANALYZE consumers")
            await conn.exec_driver_sql("VACUUM ANALYZE consumer_cells")
    log(f"{tag} loading points for the numpy scan ...")
    ids, vectors = await load_points(db)
    points = Points(ids, vectors)
    rng = np.random.default_rng(args.seed)
    picks = ids[rng.integers(0, len(ids), args.queries + args.warmup)].tolist()
    async with db.reader() as s:
        where = {}
        for start in range(0, len(picks), 500):
            chunk = picks[start : start + 500]
            rows = await s.execute(
                text(f"SELECT id, latitude, longitude FROM consumers WHERE id IN ({','.join(map(str, chunk))})")
            )
            where.update({row[0]: (row[1], row[2]) for row in rows})
    queries = [where[i] for i in picks]
    warm, queries = queries[: args.warmup], queries[args.warmup :]
    c2 = geo.chord2_for_distance(radius)

    async def indexed(s: Any, lat: float, lon: float) -> tuple[int, list[int]]:
        page = await ConsumerRepository(s).nearby(lat, lon, radius, 0, PAGE)
        return page.total, [item.consumer.id for item in page.items]

    log(f"{tag} {len(queries)} indexed queries ...")
    await timed(db, warm, indexed)
    # The first pass reads what the queries need from disk into memory; the second is timed with it
    # there, as a running bot has its busy neighbourhoods (see the README: this machine pages out
    # file data left unread for about a minute). Both are reported.
    result["cold"], _ = await timed(db, queries, indexed)
    result["indexed"], answers = await timed(db, queries, indexed)
    result["load"] = os.getloadavg()[0]  # other work on the machine inflates the tail
    result["hits_p50"] = percentile([total for total, _ in answers], 50)
    result["hits_p95"] = percentile([total for total, _ in answers], 95)

    async def select_1(s: Any, lat: float, lon: float) -> None:
        (await s.execute(text("SELECT 1"))).all()

    result["floor"], _ = await timed(db, queries[:200], select_1)
    checked = queries[: args.numpy_queries]
    log(f"{tag} {len(checked)} numpy scans ...")
    result["numpy"], expected = [], []
    for lat, lon in checked:
        started = time.perf_counter()
        expected.append(numpy_scan(ids, vectors, geo.unit_vector(lat, lon), c2))
        result["numpy"].append((time.perf_counter() - started) * 1000)
    result["checked"] = len(checked)
    result["wrong"] = sum(
        not points.check(query, c2, want, *answer)
        for query, want, answer in zip(checked, expected, answers[: len(checked)], strict=True)
    )
    scans = queries[: args.scan_queries]
    log(f"{tag} {len(scans)} SQL full scans ...")

    async def scan(s: Any, lat: float, lon: float) -> tuple[int, list[int]]:
        x, y, z = geo.unit_vector(lat, lon)
        return await run_sql(s, SCAN_SQL, {"x": x, "y": y, "z": z, "c2": c2, "limit": PAGE})

    result["scan"], _ = await timed(db, scans, scan)
    if backend == "postgresql" and not args.no_postgis:
        await bench_postgis(db, queries, (checked, expected), points, args, result, tag)


async def bench_postgis(
    db: Database, queries: list, scanned: tuple[list, list], points: Points, args: Any, result: dict, tag: str
) -> None:
    try:
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS postgis SCHEMA public")
    except Exception as exc:  # not installed: the README says how
        log(f"{tag} PostGIS not available ({type(exc).__name__}); skipped")
        return
    log(f"{tag} building the PostGIS geography column and GiST index ...")
    started = time.perf_counter()
    async with db.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql(
            "CREATE TABLE postgis_points AS SELECT id, "
            "CAST(ST_SetSRID(ST_MakePoint(longitude, latitude), 4326) AS geography) AS geog "
            "FROM consumers WHERE cell IS NOT NULL"
        )
        await conn.exec_driver_sql("ALTER TABLE postgis_points ADD PRIMARY KEY (id)")
        await conn.exec_driver_sql("SET maintenance_work_mem = '256MB'")
        await conn.exec_driver_sql("CREATE INDEX ix_postgis_points_geog ON postgis_points USING GIST (geog)")
        await conn.exec_driver_sql("VACUUM ANALYZE postgis_points")
    result["postgis_build_s"] = time.perf_counter() - started

    async def postgis(s: Any, lat: float, lon: float) -> tuple[int, list[int]]:
        return await run_sql(s, POSTGIS_SQL, {"lat": lat, "lon": lon, "radius": args.radius, "limit": PAGE})

    await timed(db, queries[: args.warmup], postgis)
    result["postgis_cold"], _ = await timed(db, queries, postgis)  # as for ours: a first pass, then the timed one
    result["postgis"], answers = await timed(db, queries, postgis)
    c2 = geo.chord2_for_distance(args.radius)
    checked, expected = scanned
    result["postgis_wrong"] = sum(
        not points.check(query, c2, want, *answer)
        for query, want, answer in zip(checked, expected, answers[: len(checked)], strict=True)
    )


# --- the table ------------------------------------------------------------------------------------------------


def table(results: list[dict[str, Any]]) -> str:
    """One line per register and backend; latencies in ms (p50 / p95), ratios of p50s."""
    head = (
        f"{'consumers':>10} {'backend':<10} {'import/s':>9} {'peak MB':>7} {'hits p50/p95':>13} "
        f"{'nearby':>13} {'cold':>11} {'SELECT 1':>11} {'numpy scan':>10} {'SQL scan':>9} {'x numpy':>7} {'x SQL':>7} "
        f"{'PostGIS':>13} {'x PostGIS':>9} {'wrong':>7} {'load':>4}"
    )
    lines = [head, "-" * len(head)]
    for r in results:

        def both(values: list[float]) -> str:
            return f"{percentile(values, 50):.2f}/{percentile(values, 95):.2f}"

        p50 = percentile(r["indexed"], 50)
        numpy50, scan50 = percentile(r["numpy"], 50), percentile(r["scan"], 50)
        postgis = both(r["postgis"]) if "postgis" in r else "-"
        postgis_x = f"{percentile(r['postgis'], 50) / p50:.1f}" if "postgis" in r else "-"
        wrong = f"{r['wrong']}/{r['checked']}" + (f"+{r['postgis_wrong']}" if "postgis_wrong" in r else "")
        lines.append(
            f"{r['n']:>10,} {r['backend']:<10} {r['import']['rows'] / r['import']['seconds']:>9,.0f} "
            f"{r['import']['peak_mb']:>7.0f} {r['hits_p50']:>6.0f}/{r['hits_p95']:<6.0f} "
            f"{both(r['indexed']):>13} {both(r['cold']):>11} {both(r['floor']):>11} {numpy50:>10.2f} {scan50:>9.1f} "
            f"{numpy50 / p50:>7.0f} {scan50 / p50:>7.0f} {postgis:>13} {postgis_x:>9} {wrong:>7} {r['load']:>4.1f}"
        )
    return "\n".join(lines)


def targets(results: list[dict[str, Any]]) -> str:
    """The issue's targets, checked on the largest and smallest registers measured."""
    lines = []
    for backend in sorted({r["backend"] for r in results}):
        mine = sorted((r for r in results if r["backend"] == backend), key=lambda r: r["n"])
        small, big = mine[0], mine[-1]
        p95 = percentile(big["indexed"], 95)
        growth = p95 / percentile(small["indexed"], 95)
        scan_x = percentile(big["scan"], 50) / percentile(big["indexed"], 50)
        rate = big["import"]["rows"] / big["import"]["seconds"]
        at = f"{big['n']:,}"
        lines.append(f"{backend}: p95 at {at} = {p95:.2f} ms (target <= 2) {'ok' if p95 <= 2 else 'MISSED'}")
        cold = percentile(big["cold"], 95)
        lines.append(f"{backend}: p95 at {at} in the first (cold) pass = {cold:.2f} ms")
        lines.append(
            f"{backend}: p95 {at} / {small['n']:,} = {growth:.2f} (target <= 2) {'ok' if growth <= 2 else 'MISSED'}"
        )
        lines.append(f"{backend}: SQL full scan / indexed (p50) at {at} = {scan_x:.0f}x (target >= 50)")
        if "postgis" in big:
            ratio = percentile(big["postgis"], 95) / p95
            lines.append(f"{backend}: PostGIS p95 / ours at {at} = {ratio:.1f}x (target > 1)")
        lines.append(
            f"{backend}: import at {at}: {rate:,.0f} rows/s (target >= 150,000), "
            f"peak {big['import']['peak_mb']:.0f} MB (target < 300)"
        )
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> None:
    from storage.demo_register import write_demo_csv

    workdir = Path(args.workdir)
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    results = []
    started = time.perf_counter()
    for n in args.sizes:
        csv_path = workdir / f"demo-{n}-seed{args.seed}.csv"
        if not await asyncio.to_thread(csv_path.exists):
            log(f"writing {csv_path} ...")
            await asyncio.to_thread(write_demo_csv, csv_path, n, args.seed)
        for backend in args.backends:
            results.append(await bench_backend(backend, n, csv_path, args))
            log(table(results[-1:]))
    print(
        f"\nNearby search, radius {args.radius:.0f} m, page {PAGE}, {args.queries} queries per register "
        f"({args.scan_queries} for the SQL scan), each run once before it is timed (the first pass: cold); ms "
        f"per query as p50/p95 or p50; load: the 1-minute load average after the timed queries, "
        f"on {os.cpu_count()} cores"
    )
    print(table(results))
    print()
    print(targets(results))
    print(f"\n(total {time.perf_counter() - started:.0f} s)")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000,5000000", type=lambda v: [int(x) for x in v.split(",")])
    parser.add_argument("--backends", default="sqlite,postgresql", type=lambda v: v.split(","))
    parser.add_argument("--queries", type=int, default=300, help="timed queries per register and backend")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--scan-queries", type=int, default=10, help="queries answered by the SQL full scan")
    parser.add_argument("--numpy-queries", type=int, default=100, help="queries answered (and checked) by numpy")
    parser.add_argument("--radius", type=float, default=750.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-postgis", action="store_true")
    parser.add_argument("--workdir", default=os.environ.get("VMITRA_BENCH_DIR", "/tmp/vmitra-bench"))
    parser.add_argument("--keep", action="store_true", help="keep the SQLite files")
    return parser.parse_args()


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--import-child":
        url, schema, csv = sys.argv[2:]
        asyncio.run(import_child(url, None if schema == "-" else schema, Path(csv)))
    else:
        asyncio.run(main(parse_args()))
