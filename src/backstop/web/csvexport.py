"""CSV downloads, streamed: a page's export writes row by row, never the whole file in memory.

Every cell goes through `cell`, so a value that came from a source or a user (an item name, a
description) is never run as a formula by the spreadsheet that opens the file."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, cast

from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """A file that hands back what is written: csv.writer rows become strings to stream."""

    def write(self, value: str) -> str:
        return value


def cell(value: Any) -> str:
    """Text a spreadsheet will not run as a formula."""
    if isinstance(value, datetime):
        return stamp(value)
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def stamp(value: datetime | None) -> str:
    return timezone.localtime(value).isoformat(timespec="seconds") if value else ""


def lines(rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """CSV text, one row at a time, every cell neutralised."""
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow([cell(value) for value in row])


def text(rows: Iterable[Iterable[Any]]) -> str:
    """A whole (small) CSV file as text, for an e-mail attachment."""
    return "".join(lines(rows))


def response(filename: str, rows: Iterable[Iterable[Any]]) -> HttpResponse:
    """A streamed CSV download; `rows` is consumed lazily, the header row first."""
    streamed = StreamingHttpResponse(lines(rows), content_type="text/csv; charset=utf-8")
    streamed["Content-Disposition"] = f'attachment; filename="{filename}"'
    return cast(HttpResponse, streamed)  # views are typed with HttpResponse; any response will do
