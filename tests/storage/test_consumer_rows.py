"""Reading register files: header variants, title lines, refusals, Excel, encodings, unreadable rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from storage.consumer_rows import ImportFileError
from storage.db import Database
from tests.storage.register_files import HEADER, count, run, stored, write


@pytest.mark.parametrize(
    "header",
    [
        "IVRS No,Consumer Name,Address,District,Tariff Category,Sanctioned Load (kW),lat,lon",
        "ivrs_number,CONSUMER NAME,consumer_address,District Name,tariff,load_kw,Latitude,lng",
        "IVRS,Name,Address,District,Category,Sanctioned Load,LAT,LONG",
        "Consumer No.,name,address,dist,category,Load (kW),gps_lat,gps_lon",
        "आईवीआरएस,नाम,पता,जिला,श्रेणी,स्वीकृत भार,अक्षांश,देशांतर",
    ],
)
async def test_header_variants_are_recognised(sqlite_db: Database, tmp_path: Path, header: str) -> None:
    csv_file = write(tmp_path / "register.csv", header, "N3330008565,Ramesh,Garha,Jabalpur,LV-1,2,23.18,79.95")
    report = await run(sqlite_db, csv_file)
    assert (report.imported, report.skipped) == (1, [])
    consumer = await stored(sqlite_db, "N3330008565")
    assert consumer is not None
    assert (consumer.name, consumer.address, consumer.district) == ("Ramesh", "Garha", "Jabalpur")
    assert (consumer.category, consumer.sanctioned_load_kw) == ("LV-1", 2.0)
    assert (consumer.latitude, consumer.longitude) == (23.18, 79.95)


async def test_semicolons_title_lines_and_unknown_columns(sqlite_db: Database, tmp_path: Path) -> None:
    csv_file = write(
        tmp_path / "register.csv",
        "MP Poorv Kshetra Vidyut Vitaran Co. Ltd.",
        "Consumer list; Jabalpur City Circle",
        "S.No;IVRS No;Consumer Name;Feeder;Latitude;Longitude",
        "1;N3330008565;Ramesh;Garha 11 kV;23.18;79.95",
    )
    report = await run(sqlite_db, csv_file)
    assert report.imported == 1
    assert report.skipped == []
    assert "register.csv: ignored column 'Feeder'" in report.notes
    assert (await stored(sqlite_db, "N3330008565")).name == "Ramesh"  # type: ignore[union-attr]


async def test_a_file_without_an_ivrs_column_is_refused_naming_its_headers(sqlite_db: Database, tmp_path: Path) -> None:
    csv_file = write(tmp_path / "register.csv", "Account,Name,Load", "123,Ramesh,1")
    with pytest.raises(ImportFileError, match=r"no IVRS column; the header row has: 'Account', 'Name', 'Load'"):
        await run(sqlite_db, csv_file)
    assert await count(sqlite_db) == 0


async def test_missing_empty_and_unsupported_files_are_refused(sqlite_db: Database, tmp_path: Path) -> None:
    good = write(tmp_path / "good.csv", HEADER, "N3330008565,Ramesh,,Jabalpur,LV-1,1,23.18,79.95")
    with pytest.raises(ImportFileError, match="file not found"):
        await run(sqlite_db, good, tmp_path / "missing.csv")
    assert await count(sqlite_db) == 0  # every file is checked before anything is written
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(ImportFileError, match="empty"):
        await run(sqlite_db, tmp_path / "empty.csv")
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(ImportFileError, match=r"save it as \.xlsx or CSV"):
        await run(sqlite_db, tmp_path / "old.xls")
    (tmp_path / "broken.xlsx").write_bytes(b"not a zip")
    with pytest.raises(ImportFileError, match=r"not a readable \.xlsx"):
        await run(sqlite_db, tmp_path / "broken.xlsx")


async def test_excel_workbook_rows_are_numbered_as_in_excel(sqlite_db: Database, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["Consumer list, Sagar"])  # row 1: a title
    sheet.append(["IVRS No", "Consumer Name", "Sanctioned Load (kW)", "Latitude", "Longitude"])  # row 2
    sheet.append([3330008565, "रमेश शर्मा", 1.5, 23.84, 78.74])  # row 3: an IVRS typed as a number
    sheet.append([])  # row 4: empty
    sheet.append(["S1234567890", "Bad load", "lots", 23.84, 78.74])  # row 5
    book.save(tmp_path / "register.xlsx")

    report = await run(sqlite_db, tmp_path / "register.xlsx")
    assert report.imported == 1
    assert [(row.line, row.kind) for row in report.skipped] == [(5, "bad load")]
    consumer = await stored(sqlite_db, "3330008565")
    assert consumer is not None and (consumer.name, consumer.sanctioned_load_kw) == ("रमेश शर्मा", 1.5)


async def test_utf8_with_bom_keeps_hindi_text(sqlite_db: Database, tmp_path: Path) -> None:
    csv_file = write(
        tmp_path / "register.csv",
        "IVRS,नाम,Address,District,Latitude,Longitude",
        'N3330008565,रमेश कुमार पटेल,"वार्ड 5, गोरखपुर, जबलपुर",Jabalpur,23.18,79.95',
        encoding="utf-8-sig",
    )
    assert csv_file.read_bytes().startswith(b"\xef\xbb\xbf")
    report = await run(sqlite_db, csv_file)
    assert report.imported == 1 and report.notes == []
    consumer = await stored(sqlite_db, "N3330008565")
    assert consumer is not None
    assert (consumer.name, consumer.address) == ("रमेश कुमार पटेल", "वार्ड 5, गोरखपुर, जबलपुर")


async def test_excel_unicode_text_utf16_with_tabs(sqlite_db: Database, tmp_path: Path) -> None:
    lines = ("IVRS\tName\tLat\tLon", "N3330008565\tरमेश\t23.18\t79.95")
    csv_file = write(tmp_path / "register.txt", *lines, encoding="utf-16")
    report = await run(sqlite_db, csv_file)
    assert (report.imported, report.skipped) == (1, [])
    assert (await stored(sqlite_db, "N3330008565")).name == "रमेश"  # type: ignore[union-attr]


async def test_bytes_that_are_not_utf8_are_read_as_windows_1252(sqlite_db: Database, tmp_path: Path) -> None:
    csv_file = write(tmp_path / "register.csv", HEADER, "N3330008565,Café Rao – Shop,,Jabalpur,LV-2,1,23.18,79.95",
                     encoding="cp1252")  # fmt: skip
    report = await run(sqlite_db, csv_file)
    assert report.imported == 1
    assert (await stored(sqlite_db, "N3330008565")).name == "Café Rao – Shop"  # type: ignore[union-attr]
    assert report.notes == ["register.csv: 2 bytes were not UTF-8, read them as cp1252"]


async def test_unreadable_rows_are_skipped_and_the_rest_imported(sqlite_db: Database, tmp_path: Path) -> None:
    lines = [HEADER, "N0000000001,A\x00B,,Jabalpur,LV-1,1,23.1,79.9", 'N0000000002,"a quote left open,,,,,,']
    # With no other quote in the file, the open one swallows the following lines up to the
    # csv module's field limit (128 KiB); reading resumes after that.
    lines += [f"N{i:010d},Consumer {i},,Jabalpur,LV-1,1,23.1,79.9" for i in range(10, 3010)]
    report = await run(sqlite_db, write(tmp_path / "register.csv", *lines))
    assert [(row.line, row.reason) for row in report.skipped] == [
        (2, "unreadable row: it holds a NUL character"),
        (3, "unreadable row: field larger than field limit (131072)"),
    ]
    assert 0 < report.imported < 3000
    assert await stored(sqlite_db, "N0000003009") is not None  # the last row
