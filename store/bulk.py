"""Multi-row inserts through the driver, for the bulk path of ingest: rows stored exactly as
the ORM stores them, without its per-row statement work."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any, TypeVar

from sqlalchemy import JSON
from sqlmodel import Session, SQLModel

T = TypeVar("T")


def bulk_insert(session: Session, model: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    """Insert rows (dicts with the same keys) with one executemany through the driver. Values
    go through each column's own bind processor, so they are stored exactly as the ORM stores
    them (JSON text, datetimes); skipped is SQLAlchemy's per-row statement work, which cost
    more than SQLite's own in a bulk ingest. Columns left out get no Python-side default."""
    if not rows:
        return
    connection = session.connection()
    table = model.__table__
    names = list(rows[0])
    processors = [(name, _processor(table.c[name].type, connection.dialect)) for name in names]
    values = [tuple(row[name] if process is None else process(row[name]) for name, process in processors)
              for row in rows]
    columns = ", ".join(f'"{name}"' for name in names)
    connection.exec_driver_sql(f'INSERT INTO "{table.name}" ({columns}) '
                               f"VALUES ({', '.join('?' * len(names))})", values)


def _processor(type_: Any, dialect: Any) -> Callable[[Any], Any] | None:
    """The column type's bind processor; for JSON, empty lists and dicts (most of them) skip
    the serializer: their JSON text is always the same."""
    process = type_.dialect_impl(dialect).bind_processor(dialect)  # as the ORM compiles it
    if process is None or not isinstance(type_, JSON):
        return process

    def process_json(value: Any) -> Any:
        if isinstance(value, list | dict) and not value:
            return "[]" if isinstance(value, list) else "{}"
        return process(value)
    return process_json


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """`items` in lists of at most `size`."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
