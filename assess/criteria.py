"""Split a trial's free-text eligibility criteria into inclusion and exclusion items.

Reads ClinicalTrials.gov's Markdown (headings, "*", "-", "1.", "i)" bullets, nested items),
older records' DISEASE CHARACTERISTICS / PATIENT CHARACTERISTICS / PRIOR CONCURRENT THERAPY
blocks (their sub-headings such as "Age:" prefix the items under them), run-on text where a
mirror flattened the list onto one line, and Chinese headings (入选标准 / 纳入标准 / 排除标准).
Nested items stay with their parent item, one item per top-level criterion."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

MAX_ITEM = 4000   # one pathological item (no line breaks at all) is cut, not carried whole
_ESCAPED = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>~|=])")
_HEADING_BODY = (
    r"(?P<exc>(?:key\s+|main\s+|major\s+)?exclusions?(?:\s+criteria)?|排除标准|排除条件|剔除标准"
    r"|不符合条件)"
    r"|(?P<inc>(?:key\s+|main\s+|major\s+)?inclusions?(?:\s+criteria)?|eligibility\s+criteria"
    r"|disease\s+characteristics|patient\s+characteristics|prior\s+concurrent\s+therapy"
    r"|入选标准|纳入标准|入组标准|入选条件|纳入条件)"
)
_HEADING_LINE = re.compile(rf"^[#*\s]*(?:{_HEADING_BODY})[*\s]*(?P<colon>[:：-])?[*\s]*(?P<rest>.*)$",
                           re.IGNORECASE)
# Where a flattened text starts a heading mid-line ("... Exclusion Criteria: 1. ...").
_HEADING_MIDLINE = re.compile(
    r"(?<=\S)\s+(?=(?:key\s+)?(?:inclusion|exclusion)\s+criteria\s*[:：]"
    r"|(?:入选标准|纳入标准|排除标准)[:：]?)", re.IGNORECASE)
_BULLET = re.compile(
    r"^(?P<indent>\s*)(?P<mark>[*\-•·▪○●◦+]|\d{1,3}(?:[.)．）](?!\d)|、)|[（(]\d{1,3}[)）]|[①-⑳]"
    r"|(?:[ivx]{1,4}|[a-h])[.)](?=\s))\s*(?P<text>\S.*)$")
# Item starts inside a flattened line: " - Age", " 2. Child", "；3、年龄".
_MIDLINE_ITEM = re.compile(
    r"(?:(?<=\s)|(?<=[；;。]))(?=(?:[*\-•]|\d{1,2}[.)、．）]|[（(]\d{1,2}[)）]|(?:[ivx]{1,4}|[a-h])\))\s*[A-Za-z\u4e00-\u9fff])"
    r"|(?<=\s)(?=(?:group|cohort|arm|part)\s+\w{1,3}\s*:)", re.IGNORECASE)
_SUBHEADING = re.compile(r"^[^.;。；]{2,60}[:：]$")
# A short label line before a list, old-record style ("Age", "Performance status").
_LABEL = re.compile(r"^[A-Z][A-Za-z /,()-]{1,38}$")
# An item number where a list continues: at a line start or after a space / punctuation.
_NUMBER = re.compile(r"(?P<lead>^|\n|[\s;；。.,:：])[ \t]*(?P<item>[（(](?P<n>\d{1,2})[)）]"
                     r"|(?P<m>\d{1,2})(?:[.)．）](?!\d)(?=[ \t]*[A-Za-z\u4e00-\u9fff(（])|、))")
_RUNON_LENGTH = 400


@dataclass(frozen=True)
class Criteria:
    inclusion: tuple[str, ...] = ()
    exclusion: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.inclusion or self.exclusion)


@dataclass
class _Builder:
    sections: dict[str, list[str]] = field(default_factory=lambda: {"inclusion": [], "exclusion": []})
    section: str = "inclusion"
    context: str = ""
    indent: int | None = None   # indentation of the current top-level bullet
    open: bool = False          # the last line belongs to an item that may continue

    def start(self, text: str, indent: int | None) -> None:
        prefix = f"{self.context} " if self.context else ""
        self.sections[self.section].append((prefix + text)[:MAX_ITEM])
        self.indent, self.open = indent, True

    def extend(self, text: str, separator: str) -> None:
        items = self.sections[self.section]
        items[-1] = (items[-1] + separator + text)[:MAX_ITEM]


def clean(text: str) -> str:
    """HTML entities decoded (twice: mirrors double-escape), Markdown escapes (`\\<`) dropped,
    line ends unified."""
    text = html.unescape(html.unescape(text))
    text = _ESCAPED.sub(r"\1", text)
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")


def split_criteria(text: str | None) -> Criteria:
    """Inclusion and exclusion items of an eligibility text (items before any heading count
    as inclusion, as on ClinicalTrials.gov)."""
    if not text or not text.strip():
        return Criteria()
    builder = _Builder()
    lines = _lines(clean(text))
    for index, line in enumerate(lines):
        if not line.strip():
            builder.open = False
            continue
        previous_blank = index == 0 or not lines[index - 1].strip()
        next_bullet = index + 1 < len(lines) and bool(_BULLET.match(lines[index + 1]))
        _take(builder, line, previous_blank, next_bullet)
    return Criteria(*(tuple(i.strip() for i in builder.sections[s] if i.strip())
                      for s in ("inclusion", "exclusion")))


def _lines(text: str) -> list[str]:
    """Lines, with headings and continued numbering moved to their own lines; when the text was
    flattened (one long line holds most of it), bullets inside a line split it too."""
    longest = max(len(line) for line in text.split("\n"))
    flattened = longest > _RUNON_LENGTH and longest > len(text) / 2
    lines = _numbered(_HEADING_MIDLINE.sub("\n", text), flattened).split("\n")
    return [part for line in lines for part in (_unflatten(line) if flattened else [line])]


def _numbered(text: str, flattened: bool) -> str:
    """A line break before each mid-line "2." / "4、" that continues the numbering ("... study
    2. Patients with ..."), and in flattened texts also before "(3)" / "3)": hard-wrapped and
    flattened lists keep their items, while "(1) ..., (2) ..." inside a Markdown item stays."""
    expected = 1
    out, last = [], 0
    for match in _NUMBER.finditer(text):
        number = int(match.group("n") or match.group("m"))
        if number == 1:
            expected = 2
        elif number == expected and (flattened or match.group("m") and match.group(0)[-1] != ")"):
            out.append(text[last:match.start("item")].rstrip(" ") + "\n")
            last = match.start("item")
            expected += 1
        elif match.group("lead") == "\n":
            expected = number + 1
    return "".join(out) + text[last:]


def _unflatten(line: str) -> list[str]:
    """A part of a long line with several item markers inside becomes one line per item."""
    if len(_MIDLINE_ITEM.findall(line)) < 2:
        return [line]
    return [part for part in _MIDLINE_ITEM.split(line) if part.strip()]


def _take(builder: _Builder, line: str, previous_blank: bool, next_bullet: bool) -> None:
    heading = _HEADING_LINE.match(line)
    if heading and (len(line) < 200 or heading.group("colon")):
        builder.section = "exclusion" if heading.group("exc") else "inclusion"
        builder.context, builder.open, builder.indent = "", False, None
        rest = heading.group("rest").strip()
        if rest:
            _take(builder, rest, True, next_bullet)
        return
    bullet = _BULLET.match(line)
    stripped = line.strip()
    if bullet:
        _bullet(builder, bullet)
    elif (_SUBHEADING.match(stripped) and (previous_blank or next_bullet)) or \
            (next_bullet and _LABEL.match(stripped)):
        builder.context, builder.open = stripped, False
    elif builder.open and not previous_blank:
        builder.extend(stripped, " ")
    else:
        builder.start(stripped, None)


def _bullet(builder: _Builder, bullet: re.Match[str]) -> None:
    indent = len(bullet.group("indent").expandtabs(4))
    nested = builder.indent is not None and indent > builder.indent and builder.sections[builder.section]
    if nested:
        builder.extend(f"- {bullet.group('text').strip()}", "\n")
        builder.open = True
    else:
        builder.start(bullet.group("text").strip(), indent)
