"""Importing clients from CSV: validated in Python, written in bulk. Never commits."""

from __future__ import annotations

import csv
import difflib
import io
from dataclasses import dataclass

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from db.mailing.models import Client
from rules.mailing import check_operator_code, check_tag, check_timezone, normalise_phone, operator_code_of

IMPORT_COLUMNS = ("phone", "tag", "timezone", "operator_code")
_LOOKUP_CHUNK = 5000  # phones per SELECT … IN (…), well under every database's parameter limit


@dataclass(frozen=True)
class ImportReport:
    """What a CSV import did; ``errors`` are (line number, message) of the rows skipped.

    ``updated`` counts known phones whose row changed something, ``unchanged`` those it did not.
    """

    added: int
    updated: int
    errors: list[tuple[int, str]]
    unchanged: int = 0


def import_clients_csv(session: Session, *, text: str) -> ImportReport:
    """Add or update the clients of a CSV file; bad rows are reported by line number and skipped.

    The header names the columns (any case): ``phone`` is required; ``tag``, ``timezone`` and
    ``operator_code`` are optional, other columns are ignored unless they look like a misspelt known
    one, which is refused. Commas, semicolons or tabs separate.
    A known phone updates that client (a re-import is idempotent): the optional columns the file has
    are set, an empty cell meaning no tag, UTC, or the code derived from the phone; the columns it
    lacks are left as they were. Validation runs in Python, then one bulk INSERT of the new clients
    and one executemany UPDATE of the changed ones. Raises ValueError, importing nothing, for an
    empty file, a header without ``phone``, or unreadable CSV.
    """
    rows, errors = _parse_clients_csv(text)
    existing = _clients_by_phone(session, list(rows))
    added: list[dict[str, str]] = []
    changed: list[dict[str, str | int]] = []
    for phone, fields in rows.items():
        known = existing.get(phone)
        if known is None:
            added.append({"tag": "", "timezone": "UTC", "operator_code": operator_code_of(phone)} | fields)
        elif any(known[name] != value for name, value in fields.items()):
            changed.append(fields | {"client_id": known["id"]})
    # The times as SQL, not as parameters: adapting 200,000 datetimes costs psycopg2 over a second.
    table, now = Client.__table__, func.current_timestamp()
    if added:
        session.execute(table.insert().values(created_at=now, updated_at=now), added)
    if changed:
        session.execute(
            update(table).where(table.c.id == bindparam("client_id")).values(updated_at=now), changed
        )
    return ImportReport(
        added=len(added), updated=len(changed), errors=errors, unchanged=len(rows) - len(added) - len(changed)
    )


def _parse_clients_csv(text: str) -> tuple[dict[str, dict[str, str]], list[tuple[int, str]]]:
    """The valid rows by phone, and (line, message) for every row refused."""
    text = text.removeprefix("\ufeff")
    first_line = text.lstrip().partition("\n")[0]
    if not first_line.strip():
        raise ValueError("the CSV file is empty")
    reader = csv.reader(io.StringIO(text), delimiter=max(",;\t", key=first_line.count))
    try:
        header = next(row for row in reader if row)
        columns = _csv_columns(header)
        rows: dict[str, dict[str, str]] = {}
        lines: dict[str, int] = {}
        errors: list[tuple[int, str]] = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            try:
                fields = _client_fields(cells, columns, len(header))
                if fields["phone"] in lines:
                    raise ValueError(f"phone {fields['phone']} is on line {lines[fields['phone']]} already")
            except ValueError as exc:
                errors.append((reader.line_num, str(exc)))
                continue
            rows[fields["phone"]] = fields
            lines[fields["phone"]] = reader.line_num
    except csv.Error as exc:
        raise ValueError(f"line {reader.line_num}: unreadable CSV: {exc}") from None
    return rows, errors


def _csv_columns(header: list[str]) -> dict[str, int]:
    """Position of each known column in the header; the phone column must be there, and a column
    that looks like a misspelt known one ("timezon", "operator code") is refused, not ignored."""
    names = [name.strip().lower() for name in header]
    for name in names:
        if name in IMPORT_COLUMNS:
            continue
        meant = difflib.get_close_matches(
            name.replace(" ", "_").replace("-", "_"), IMPORT_COLUMNS, n=1, cutoff=0.75
        )
        if meant:
            raise ValueError(
                f"the CSV header has a column {name!r}: did you mean {meant[0]!r}? Rename it, or remove it"
            )
    if "phone" not in names:
        raise ValueError(f"the CSV header has no 'phone' column: {', '.join(header)}")
    return {name: names.index(name) for name in IMPORT_COLUMNS if name in names}


def _client_fields(cells: list[str], columns: dict[str, int], width: int) -> dict[str, str]:
    """The validated fields of one CSV row: the phone and every optional column the file has."""
    if len(cells) > width:
        raise ValueError(f"{len(cells)} fields; the header has {width}")
    given = {name: cells[index] if index < len(cells) else "" for name, index in columns.items()}
    phone = normalise_phone(given["phone"])
    fields = {"phone": phone}
    if "tag" in given:
        fields["tag"] = check_tag(given["tag"])
    if "timezone" in given:
        fields["timezone"] = check_timezone(given["timezone"] or "UTC")
    if "operator_code" in given:
        code = given["operator_code"]
        fields["operator_code"] = check_operator_code(code) if code.strip() else operator_code_of(phone)
    return fields


def _clients_by_phone(session: Session, phones: list[str]) -> dict[str, RowMapping]:
    """The stored clients among ``phones``: a few SELECT … IN (…) of a few thousand phones each."""
    found: dict[str, RowMapping] = {}
    columns = (Client.id, Client.phone, Client.tag, Client.timezone, Client.operator_code)
    for start in range(0, len(phones), _LOOKUP_CHUNK):
        chunk = phones[start : start + _LOOKUP_CHUNK]
        for row in session.execute(select(*columns).where(Client.phone.in_(chunk))).mappings():
            found[row["phone"]] = row
    return found
