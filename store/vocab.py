"""The shared vocabulary of what the store holds, read by the CLI, the digest and the web pages
alike: finding kinds, source names, trial statuses (English and Chinese labels, display
order), the contact line of a trial site, how times are written, which links are safe."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from store.models import ADHOC_TOPIC_PREFIX

# What `hccwatch poll --source` can poll, and what findings can be filtered by (an ad-hoc
# search's findings are a source of their own for filtering).
POLL_SOURCES = ("ctgov", "pubmed", "europepmc", "feeds")
FILTER_SOURCES = (*POLL_SOURCES, "adhoc")
ADHOC_SOURCES = ("ctgov", "pubmed", "europepmc")
SOURCE_NAMES = {"ctgov": "ClinicalTrials.gov", "pubmed": "PubMed", "europepmc": "Europe PMC"}
# How findings lists can be ordered: newest first, or most relevant to the patient first.
SORTS = ("date", "relevance")

# ClinicalTrials.gov overall statuses, in the order a reader looks for them, with labels.
STATUSES: dict[str, tuple[str, str]] = {
    "RECRUITING": ("Recruiting", "招募中"),
    "NOT_YET_RECRUITING": ("Not yet recruiting", "尚未招募"),
    "ENROLLING_BY_INVITATION": ("Enrolling by invitation", "受邀入组"),
    "ACTIVE_NOT_RECRUITING": ("Active, not recruiting", "进行中，不再招募"),
    "SUSPENDED": ("Suspended", "已暂停"),
    "COMPLETED": ("Completed", "已完成"),
    "TERMINATED": ("Terminated", "已终止"),
    "WITHDRAWN": ("Withdrawn", "已撤回"),
    "UNKNOWN": ("Unknown status", "状态未知"),
}
STATUS_ORDER = tuple(s for s in STATUSES if s != "UNKNOWN")
# Other ClinicalTrials.gov codes a reader meets (study type, phase, contact role, sex).
CODES: dict[str, tuple[str, str]] = {
    **STATUSES,
    "INTERVENTIONAL": ("Interventional", "干预性研究"),
    "OBSERVATIONAL": ("Observational", "观察性研究"),
    "EXPANDED_ACCESS": ("Expanded access", "扩大使用"),
    "EARLY_PHASE1": ("Early phase 1", "早期I期"),
    "PHASE1": ("Phase 1", "I期"), "PHASE2": ("Phase 2", "II期"),
    "PHASE3": ("Phase 3", "III期"), "PHASE4": ("Phase 4", "IV期"),
    "NA": ("Not applicable", "不适用"),
    "CONTACT": ("Contact", "联系人"), "BACKUP": ("Backup contact", "备用联系人"),
    "PRINCIPAL_INVESTIGATOR": ("Principal investigator", "主要研究者"),
    "SUB_INVESTIGATOR": ("Sub-investigator", "助理研究者"),
    "STUDY_CHAIR": ("Study chair", "研究主席"), "STUDY_DIRECTOR": ("Study director", "研究主任"),
    "ALL": ("All", "不限"), "MALE": ("Male", "男"), "FEMALE": ("Female", "女"),
}
# Codes safe to translate inside a sentence ("Zhongshan Hospital: RECRUITING"): the statuses
# and phases; short words such as NA or ALL only when they are the whole value.
_CODE_IN_TEXT = re.compile(r"\b(" + "|".join(sorted(
    (c for c in CODES if c in STATUSES or "PHASE" in c), key=len, reverse=True)) + r")\b")
# What a recorded change is about, in both languages.
CHANGE_FIELDS: dict[str, tuple[str, str]] = {
    "status": ("Trial status", "试验状态"), "phases": ("Phases", "分期"),
    "results_first_posted": ("Results posted", "结果发布"), "evidence": ("Evidence", "证据"),
    "title": ("Title", "标题"), "site": ("New site in a watched place", "关注地点新增中心"),
    "site_status": ("Site status", "中心状态"), "sites": ("Sites", "研究中心"),
    "sites_removed": ("Sites no longer listed", "不再列出的中心"),
    "eligibility": ("Eligibility", "入组资格"),
}

# What an immediate alert is about (the watchlist's `[alerts] kinds`), in both languages.
ALERT_KINDS: dict[str, tuple[str, str]] = {
    "recruiting_nearby": ("Recruiting in a watched place", "关注地点开始招募"),
    "may_fit": ("May fit the patient", "可能符合入组条件"),
    "stopped": ("Followed trial stopped", "关注的试验已停止"),
    "results": ("Followed trial posted results", "关注的试验发布了结果"),
    "retraction": ("Retracted", "已撤稿"),
}

# Eligibility pre-screen verdicts (assess.eligibility), in both languages.
VERDICTS: dict[str, tuple[str, str]] = {
    "may_fit": ("may fit", "可能符合"), "unclear": ("unclear", "不确定"),
    "likely_excluded": ("likely excluded", "可能不符合"),
}


def status_word(status: str | None) -> str:
    """`RECRUITING` -> `Recruiting`; an unknown code is made readable, no status is `—`."""
    if not status:
        return "—"
    return STATUSES[status][0] if status in STATUSES else status.replace("_", " ").capitalize()


def code_text(value: Any) -> str:
    """A stored value as a reader sees it, in both languages: a whole code becomes
    `Recruiting · 招募中`, statuses and phases inside text `Recruiting (招募中)`; the rest is
    left as it is."""
    if value is None or value == "":
        return "—"
    text = str(value)
    if text in CODES:
        return " · ".join(CODES[text])
    return _CODE_IN_TEXT.sub(lambda m: "{} ({})".format(*CODES[m.group(1)]), text)


KIND_NOUNS = {"trial": ("trial", "trials"), "article": ("article", "articles"),
              "preprint": ("preprint", "preprints"), "news": ("news item", "news items")}


def kind_count(kind: str, count: int) -> str:
    """`6 news items`, `1 trial` (an unknown kind as it is)."""
    one, many = KIND_NOUNS.get(kind, (kind, kind))
    return f"{count} {one if count == 1 else many}"


def field_label(name: str) -> str:
    """`status` -> `Trial status · 试验状态` (an unknown field made readable)."""
    words = CHANGE_FIELDS.get(name)
    return " · ".join(words) if words else name.replace("_", " ").capitalize()


def local_minute(value: Any, timezone: str | None) -> str:
    """A stored UTC time in the watchlist's timezone, `2026-11-23 16:00` (UTC, said, when no
    timezone is known); `—` when there is none."""
    moment = parse_time(value)
    if moment is None:
        return str(value or "—")
    if not timezone:
        return minute_text(moment) + " UTC"
    return minute_text(moment.astimezone(ZoneInfo(timezone)))


def status_zh(status: str | None) -> str | None:
    """The Chinese label of a status (None when there is none)."""
    return STATUSES[status][1] if status in STATUSES else None


def status_rank(status: str | None) -> tuple[int, str]:
    """Sort key: the display order, unknown statuses after the known ones."""
    known = STATUS_ORDER.index(status) if status in STATUS_ORDER else len(STATUS_ORDER)
    return known, status or ""


def contact_line(contact: Mapping[str, Any]) -> str:
    """`Name, phone, e-mail` of one trial contact (the parts that are given)."""
    return ", ".join(filter(None, (contact.get("name"), contact.get("phone"), contact.get("email"))))


def site_contacts(site: Mapping[str, Any]) -> list[str]:
    """The contact lines of one trial site (empty ones left out)."""
    return [line for line in (contact_line(c) for c in site.get("contacts") or []) if line]


def minute_text(moment: datetime) -> str:
    """`2026-11-23 08:00`: a time as people read it (in whatever zone `moment` is)."""
    return moment.strftime("%Y-%m-%d %H:%M")


def aware(moment: datetime) -> datetime:
    """Stored times are UTC; SQLite gives them back naive."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_time(value: Any) -> datetime | None:
    """A stored time (a datetime, or ISO text such as `2026-11-23T08:00:00Z`) as aware UTC;
    None when it is not one."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return aware(value) if isinstance(value, datetime) else None


def safe_url(url: str | None) -> str | None:
    """Only absolute http(s) links become links; anything else (javascript:, data:) is dropped."""
    if not isinstance(url, str) or not url.strip():
        return None
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def is_http_url(value: Any) -> bool:
    """A link that may go into a page, a mail or a feed as it is (http or https)."""
    return safe_url(value) is not None


def is_adhoc(topic_id: str) -> bool:
    """Whether a topic is an ad-hoc search's (`adhoc-<slug>`) rather than the watchlist's."""
    return topic_id.startswith(ADHOC_TOPIC_PREFIX)


def tel_href(phone: str | None) -> str | None:
    """A tap-to-call link for a phone number as trials print it ("+86 571 8723-6114 ext. 2"):
    digits and a leading +, up to any extension; None when too few digits remain."""
    number = re.split(r"(?i)\s*(?:ext|x|#|,|;)", (phone or "").strip(), maxsplit=1)[0]
    digits = re.sub(r"[^0-9]", "", number)
    if len(digits) < 5:
        return None
    return "tel:" + ("+" if number.startswith("+") else "") + digits


def mailto_href(address: str | None) -> str | None:
    """A tap-to-mail link for something that looks like one e-mail address, else None."""
    address = (address or "").strip()
    if not re.fullmatch(r"[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+", address):
        return None
    return "mailto:" + quote(address, safe="@.+-_")
