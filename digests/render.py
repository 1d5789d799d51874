"""Render a WeeklyDigest into a subject line, phone-friendly HTML (Jinja2 with autoescape on,
CSS inlined for mail clients), a plain-text alternative with the same content, and digest.json
(the DESIGN.md contract: exactly what the e-mail shows)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import css_inline
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from digests.model import Entry, Section, WeeklyDigest

TEMPLATES = Path(__file__).with_name("templates")
LABELS = {
    "site": "Site in",
    "contact": "Contact · 联系人",
    "reported_by": "Reported by · 报道来源",
    "trial_named_by": "Named in · 相关文献",
    "names_trials": "Trials named · 提及的试验",
    "topics": "Topics · 主题",
    "sources": "Sources · 来源",
    "checked": "Sources checked · 已检查的来源",
    "no_sources": "No source has been polled yet. · 尚未检查任何来源。",
    "why": "Why", "why_zh": "原因",
    "prescreen": "Eligibility pre-screen (ask the trial team) · 资格初筛（请向研究团队确认）",
    "more_sites": "and {n} more sites · 另有 {n} 个研究中心",
    "starting_point": "This first digest is a starting point: trials open in your watched places "
                      "first, then the best evidence of the last 90 days for each topic.",
    "starting_point_zh": "这是第一期摘要，作为起点：先列出在关注地区招募的试验，再列出每个主题近 90 天最重要的证据。",
    "everything": "Everything, searchable and filterable: run `hccwatch web` (the findings list and "
                  "the digest archive). · 全部内容（可搜索、可筛选）：运行 hccwatch web（发现列表与摘要存档）。",
}
# Per section: (noun in English, singular and plural; measure word and noun in Chinese).
NOUNS = {"trials": ("trial update", "trial updates", "项试验更新"),
         "papers": ("paper", "papers", "篇论文"),
         "news": ("news story", "news stories", "条新闻")}
KNOWN_NOUNS = {**NOUNS, "trials": ("trial", "trials", "项试验")}
_ENV = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined,
                   autoescape=select_autoescape(enabled_extensions=("html",)),
                   trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
MAX_BYTES = 100_000  # per part, UTF-8
_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str


def render_digest(digest: WeeklyDigest) -> Rendered:
    """The digest rendered; if the HTML or the text would pass MAX_BYTES (Gmail clips a message
    past 102 KB), the least relevant cards become counts until both fit."""
    rendered = _render(digest)
    while _too_big(rendered) and _drop_least_relevant(digest):
        rendered = _render(digest)
    return rendered


def _too_big(rendered: Rendered) -> bool:
    return max(len(rendered.html.encode()), len(rendered.text.encode())) > MAX_BYTES


def _drop_least_relevant(digest: WeeklyDigest) -> bool:
    """Move the last card of the longest section (else of the top box) to its counts."""
    section = max(digest.sections, key=lambda s: len(s.entries))
    cards = section.entries if section.entries else digest.top
    if not cards:
        return False
    entry = cards.pop()
    target = next(s for s in digest.sections if s.id == entry.section)
    target.more += 1
    counts = dict(target.more_by_topic)
    counts[entry.topic] = counts.get(entry.topic, 0) + 1
    target.more_by_topic = sorted(counts.items(), key=lambda pair: -pair[1])
    return True


def _render(digest: WeeklyDigest) -> Rendered:
    subject = subject_line(digest)
    context = {"d": digest, "subject": subject, "labels": LABELS, "top_heading": top_heading(digest),
               "more": {s.id: more_line(s) for s in digest.sections if s.more},
               "known": known_line(digest.known)}
    html = _INLINER.inline(_ENV.get_template("digest.html").render(context))
    text = _ENV.get_template("digest.txt").render(context)
    return Rendered(subject=subject, html=html, text=text)


def subject_line(digest: WeeklyDigest) -> str:
    """`hccwatch 2026-W47: 2 trial updates, 5 papers, 3 news`, then the same in Chinese."""
    counts = digest.counts
    trials, papers, news = counts["trials"], counts["papers"], counts["news"]
    english = (f"hccwatch {digest.period.label}: {_plural(trials, 'trial update')}, "
               f"{_plural(papers, 'paper')}, {news} news")
    chinese = "本周无新内容" if digest.is_empty else f"试验更新 {trials} · 论文 {papers} · 新闻 {news}"
    return f"{english} · {chinese}"


def top_heading(digest: WeeklyDigest) -> str:
    if digest.patient_label is None:
        return "This week · 本周重点"
    label, label_zh = digest.patient_label
    return f"This week for {label} · 本周给{label_zh}的重点"


def more_line(section: Section) -> dict[str, str]:
    """`And 214 more papers: QL1706 2, TACE 31, ...` with where to find them, in both languages."""
    _, plural, zh = NOUNS[section.id]
    en_topics = ", ".join(f"{topic.label} {n}" for topic, n in section.more_by_topic)
    zh_topics = "，".join(f"{topic.label_zh or topic.label} {n}" for topic, n in section.more_by_topic)
    return {"en": f"And {section.more} more {plural}: {en_topics}. All of them: `hccwatch web` "
                  "and the digest archive.",
            "zh": f"另有 {section.more} {zh}未列出：{zh_topics}。全部内容见 hccwatch web 与摘要存档。"}


def known_line(known: dict[str, int]) -> dict[str, str] | None:
    """A starting point's count of what was already known when watching began."""
    counts = [(section, n) for section, n in known.items() if n]
    if not counts:
        return None
    en = ", ".join(f"{n} {KNOWN_NOUNS[section][0 if n == 1 else 1]}" for section, n in counts)
    zh = "，".join(f"{n} {KNOWN_NOUNS[section][2]}" for section, n in counts)
    return {"en": f"Already known when watching began (stored and searchable, not announced as "
                  f"new): {en}.",
            "zh": f"开始关注时已有（已存储、可搜索，不作为新内容）：{zh}。"}


def digest_json(digest: WeeklyDigest, subject: str) -> dict[str, Any]:
    """digest.json (DESIGN.md): the top box and every section, each item as the e-mail shows it."""
    return {"period": digest.period.label, "recipient": digest.recipient, "subject": subject,
            "top": [_item(e) for e in digest.top],
            "sections": [{"id": s.id, "shown": [_item(e) for e in s.entries], "more": s.more,
                          "more_by_topic": {topic.id: n for topic, n in s.more_by_topic}}
                         for s in digest.sections]}


def _item(entry: Entry) -> dict[str, Any]:
    return {"key": entry.key, "kind": entry.kind, "title": entry.title, "topic": entry.topic.id,
            "badges": [b.text for b in entry.badges], "why": [w.text for w in entry.why],
            "relevance": entry.relevance, "eligibility": entry.eligibility}


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")
