"""Reading JSON answers whose shape cannot be trusted: a body that is not a JSON object (or is
nested too deep to decode) is the source's ParseError, and each value is taken only when it
has the type a Record needs (a title that is a number, a cursor that is a list: not taken)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sources.http import ParseError


def load_object(body: bytes, source: str) -> dict[str, Any]:
    """The answer as a JSON object, or ParseError naming `source` and saying what is wrong."""
    try:
        data = json.loads(body)
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
        raise ParseError(f"{source} sent malformed JSON ({error}); body starts "
                         f"{body[:60].decode('utf-8', 'replace')!r}") from None
    except RecursionError:
        raise ParseError(f"{source} sent JSON nested too deep to read") from None
    if not isinstance(data, dict):
        raise ParseError(f"{source} sent JSON that is not an object")
    return data


def text(parent: Any, key: str) -> str | None:
    """`parent[key]` if it is a non-empty string, else None."""
    value = parent.get(key) if isinstance(parent, Mapping) else None
    return value if isinstance(value, str) and value else None


def whole(parent: Any, key: str) -> int | None:
    """`parent[key]` as a count (an int >= 0, or ASCII digits in a string), else None."""
    value = parent.get(key) if isinstance(parent, Mapping) else None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value) if len(value.strip()) <= 18 else None
    counts = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return value if counts else None


def texts(parent: Any, key: str) -> list[str]:
    """The strings of the list `parent[key]` (anything else in it, or a non-list: left out)."""
    value = parent.get(key) if isinstance(parent, Mapping) else None
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def cursor(parent: Mapping[str, Any], key: str, source: str) -> str | None:
    """A paging token: a string, or None on the last page; any other type is a ParseError
    (following it could only loop or fail later)."""
    value = parent.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ParseError(f"{source} sent a {key} that is not a string: {json.dumps(value)[:60]}")
    return value
