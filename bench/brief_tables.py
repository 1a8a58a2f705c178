"""Compare the workbooks of two brief zips (e.g. the same sandbox brief from two versions of the code).

Every sheet of ``keyword.xlsx`` and ``keyword_analysis.xlsx`` is compared cell by cell, except the
"articles" sheet, compared as a set of rows: articles of the same keyword, platform and post time
keep the order they were stored in, which concurrent collection does not fix. The PNGs are compared
byte for byte. Exits 1 when anything differs.

    python -m bench.brief_tables A.zip B.zip
"""

from __future__ import annotations

import argparse
import io
import zipfile
from collections import Counter
from typing import Any

from openpyxl import load_workbook

UNORDERED = {"articles"}


def sheets(archive: zipfile.ZipFile, name: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every sheet of the workbook ``name`` in the zip, as rows of values."""
    (member,) = [m for m in archive.namelist() if m.endswith(f"/{name}")]
    workbook = load_workbook(io.BytesIO(archive.read(member)), read_only=True)
    return {sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in workbook.worksheets}


def compare(first: str, second: str) -> list[str]:
    """What differs between the two zips' files (empty: the same)."""
    differences = []
    with zipfile.ZipFile(first) as a, zipfile.ZipFile(second) as b:
        for workbook in ("keyword.xlsx", "keyword_analysis.xlsx"):
            left, right = sheets(a, workbook), sheets(b, workbook)
            if left.keys() != right.keys():
                differences.append(f"{workbook}: sheets {list(left)} vs {list(right)}")
            for title in left.keys() & right.keys():
                rows_a, rows_b = left[title], right[title]
                same = Counter(rows_a) == Counter(rows_b) if title in UNORDERED else rows_a == rows_b
                verdict = "same" if same else "DIFFER"
                print(f"{workbook} / {title}: {len(rows_a)} and {len(rows_b)} rows, {verdict}")
                if not same:
                    differences.append(f"{workbook} / {title}")
        for cloud in ("content_wc.png", "topic_wc.png"):
            (ma,), (mb,) = ([m for m in z.namelist() if m.endswith(cloud)] for z in (a, b))
            same = a.read(ma) == b.read(mb)
            print(f"{cloud}: {'same' if same else 'DIFFER'}")
            if not same:
                differences.append(cloud)
    return differences


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("first")
    parser.add_argument("second")
    args = parser.parse_args()
    differences = compare(args.first, args.second)
    print("the same" if not differences else f"different: {', '.join(differences)}")
    raise SystemExit(1 if differences else 0)


if __name__ == "__main__":
    main()
