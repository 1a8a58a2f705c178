"""core/xlsx.py writes tables that read back as openpyxl's own write-only workbooks do."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import WriteOnlyCell

from core.xlsx import TableWorkbook

COLUMNS = ("text", "number", "when")
ROWS = [
    ("a & b < c > d", 1, datetime(2026, 12, 6, 20, 41, 7)),
    ("  spaces kept  ", -2.5, None),
    ("line\nbreak", 0, datetime(1900, 3, 1)),
    ("=SUM(1,2)", 10**15, datetime(2026, 1, 1, 0, 0, 0, 500_000)),
    ("咖啡☕ 𠀀 \"quoted\" 'single'", None, None),
    ("", 3, None),
    ("x" * 32_767, 7, None),
]


def openpyxl_file(path: Path) -> Path:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("table")
    sheet.append(COLUMNS)
    for text, *rest in ROWS:
        if text.startswith("="):  # as the brief's sheets did: a formula-like string stays text
            text = WriteOnlyCell(sheet, text)
            text.data_type = "s"
        sheet.append([text, *rest])
    workbook.save(path)
    return path


def table_file(path: Path) -> Path:
    workbook = TableWorkbook()
    workbook.add_sheet("table", COLUMNS, [20, 10, 20], ROWS)
    workbook.save(path)
    return path


def cells(path: Path) -> list[list[tuple]]:
    sheet = load_workbook(path)["table"]
    return [[(cell.value, cell.data_type) for cell in row] for row in sheet.iter_rows()]


def test_a_table_reads_back_as_openpyxl_writes_it(tmp_path: Path) -> None:
    assert cells(table_file(tmp_path / "t.xlsx")) == cells(openpyxl_file(tmp_path / "o.xlsx"))


def test_a_table_has_its_widths_a_frozen_header_and_filters(tmp_path: Path) -> None:
    sheet = load_workbook(table_file(tmp_path / "t.xlsx"))["table"]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:C1048576"
    assert [sheet.column_dimensions[c].width for c in "ABC"] == [20, 10, 20]
    assert sheet["C2"].number_format == "yyyy-mm-dd h:mm:ss"
