"""Render a WeeklyDigest into a subject line, phone-friendly HTML (Jinja2 with autoescape on,
CSS inlined for mail clients) and a plain-text alternative with the same content."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import css_inline
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from digests.build import WeeklyDigest

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
}
_ENV = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined,
                   autoescape=select_autoescape(enabled_extensions=("html",)),
                   trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str


def render_digest(digest: WeeklyDigest) -> Rendered:
    subject = subject_line(digest)
    context = {"d": digest, "subject": subject, "labels": LABELS}
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


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")
