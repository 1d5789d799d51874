"""The words of an alert: short, in English and Chinese, plain text (Apprise escapes it for
destinations that render HTML). What changed, the trial or paper, the hospital and city of its
sites in watched places with their contacts, the link. Everything that came from upstream is
made plain first: tags and control characters dropped, markup characters replaced, so a title
cannot become a link, a mention or formatting in a chat app."""

from __future__ import annotations

import html
import re
from typing import Any

from alerts.choose import Draft
from store.models import Change, Finding
from store.vocab import ALERT_KINDS, VERDICTS, code_text, field_label, safe_url, site_contacts

TITLE_CHARS, LINE_CHARS, MAX_SITES = 160, 240, 3
_TAG = re.compile(r"<[^>]*>")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
# Characters chat apps read as markup (tags, Markdown links and images, code), as look-alikes.
_MARKUP = str.maketrans({"<": "‹", ">": "›", "[": "(", "]": ")", "`": "'", "\\": "/"})
TEST_TITLE = "hccwatch: test alert · 测试提醒"
TEST_BODY = ("This is a test alert from hccwatch: alerts reach this destination.\n"
             "这是 hccwatch 的测试提醒：提醒可以送达这里。")


def plain(text: Any, limit: int = LINE_CHARS) -> str:
    """Upstream text as one plain line of at most `limit` characters."""
    flat = _TAG.sub(" ", html.unescape(str(text or "")))
    flat = " ".join(_CONTROL.sub(" ", flat).translate(_MARKUP).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def compose(draft: Draft) -> tuple[str, str]:
    """(title, body) of the alert for one Draft."""
    finding = draft.finding
    kinds = [ALERT_KINDS[kind] for kind in draft.kinds]
    title = (f"hccwatch · {plain(finding.key, 60)}: " + "; ".join(en for en, _ in kinds)
             + " · " + "；".join(zh for _, zh in kinds))
    lines = [plain(finding.title, TITLE_CHARS)]
    if finding.title_alt:
        lines.append(plain(finding.title_alt, TITLE_CHARS))
    if draft.new:
        lines.append(f"• New trial · 新试验: {code_text(finding.status)}")
    lines += [f"• {change_text(change)}" for change, _ in draft.changes]
    lines += site_lines(finding)
    link = safe_url(finding.url)
    if link:
        lines.append(link)
    return title, "\n".join(lines)


def change_text(change: Change) -> str:
    """`Trial status · 试验状态: Not yet recruiting · 尚未招募 → Recruiting · 招募中`."""
    old, new = (_value(change.field, value) for value in (change.old, change.new))
    return f"{field_label(change.field)}: " + (f"{old} → {new}" if change.old else new)


def _value(field: str, value: str | None) -> str:
    if field == "eligibility" and value in VERDICTS:
        return " · ".join(VERDICTS[value])
    return code_text(plain(value))


def site_lines(finding: Finding) -> list[str]:
    """The trial's sites in watched places, recruiting ones first: hospital, city, place,
    status, and the site's contacts where known."""
    sites = sorted(finding.watched_sites or [], key=lambda s: s.get("status") != "RECRUITING")
    lines = []
    for site in sites[:MAX_SITES]:
        place = " · ".join(filter(None, (site.get("place"), site.get("place_zh"))))
        where = ", ".join(plain(site.get(k), 80) for k in ("facility", "city") if site.get(k))
        line = f"{place}: {where} ({code_text(site.get('status'))})"
        contacts = "; ".join(plain(c, 120) for c in site_contacts(site))
        lines.append(line + (f" — contact · 联系人: {contacts}" if contacts else ""))
    if len(sites) > MAX_SITES:
        lines.append(f"+{len(sites) - MAX_SITES} more site(s) in watched places · 另有关注地点中心")
    return lines
