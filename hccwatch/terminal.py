"""Text from upstreams made safe to print: control characters (ESC, OSC, C1, bidi overrides)
shown as visible escapes, so a hostile title can never retitle, clear or rewrite the user's
terminal; JSON keeps them as \\u escapes; CSV cells are neutralised against formula injection
as OWASP recommends."""

from __future__ import annotations

import json
import re
from typing import Any

# C0 controls except tab and newline, DEL, C1 controls, and the bidi embeddings, overrides and
# isolates that can make text read differently from what it is ("Trojan source").
_CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# json.dumps escapes C0 but leaves C1 and bidi controls raw.
_JSON_RAW_RE = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# OWASP "CSV Injection": a cell starting with these is a formula to a spreadsheet.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def printable(text: Any) -> str:
    """`text` with every control character shown as an escape such as \\x1b or \\u202e."""
    return _CONTROL_RE.sub(_escape, str(text))


def json_text(data: Any) -> str:
    """Indented JSON (Chinese kept readable) with no raw control character anywhere."""
    text = json.dumps(data, ensure_ascii=False, indent=2)
    return _JSON_RAW_RE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def csv_cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text: formula starts get a leading apostrophe
    (OWASP), and control characters are shown escaped."""
    text = printable(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
