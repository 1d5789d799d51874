"""What a digest calls things, in English and Chinese: sections, change badges and their
order, evidence labels, the provisional scores; how a source is named and a text shortened
to one line."""

from __future__ import annotations

import re

SUMMARY_CHARS = 200
SECTIONS = {"trials": ("Clinical trials", "临床试验"), "papers": ("Papers", "论文"),
            "news": ("News", "新闻")}
# Significance -> (badge, badge in Chinese, rank: lower is more important). "minor" changes
# (title edits, sites dropped) are not worth a family's attention and stay out of the digest.
SIGNIFICANCE = {
    "watched_site": ("Site in a watched place", "关注地区的研究中心", 0),
    "recruiting": ("Now recruiting", "现已开始招募", 1),
    "results": ("Results posted", "已公布结果", 2),
    "retraction": ("Retracted", "已撤稿", 0),
    "concern": ("Expression of concern", "关注声明", 1),
    "correction": ("Correction published", "已发布更正", 4),
    "stopped": ("Stopped", "已停止", 3),
    "completed": ("Completed", "已完成", 5),
    "status": ("Status changed", "状态变更", 6),
    "phase": ("Phase changed", "分期变更", 7),
    "site": ("Sites changed", "研究中心变更", 8),
}
EVIDENCE_ZH = {"retracted": "已撤稿", "phase 3 rct": "III期随机对照试验", "rct": "随机对照试验",
               "meta-analysis": "荟萃分析", "systematic review": "系统综述", "review": "综述",
               "press release": "新闻稿", "case report": "病例报告", "preprint": "预印本",
               "guideline": "指南"}
FIELD_LABELS = {"phases": "Phases", "sites": "Sites", "sites_removed": "Sites no longer listed",
                "title": "Title"}
NEW_TRIAL = ("New trial", "新试验")
NEWLY_FOUND = ("Newly found", "新发现")
MAX_SITES, MAX_MENTIONS = 3, 5  # per card; the rest are one click away

# Stands in for Finding.relevance (issue 13, section 1) until that column is in the store:
# the most significant change, else what kind of new thing it is, a little more for a finding
# filed under one of the patient's options than under the disease alone.
CHANGE_SCORE = {"retraction": 1.0, "watched_site": 0.95, "recruiting": 0.9, "results": 0.85,
                "stopped": 0.7, "completed": 0.5, "status": 0.45, "phase": 0.4, "site": 0.35}
EVIDENCE_SCORE = {"retracted": 0.9, "guideline": 0.85, "phase 3 rct": 0.8, "rct": 0.7,
                  "meta-analysis": 0.7, "systematic review": 0.6, "review": 0.4,
                  "press release": 0.4, "preprint": 0.3, "case report": 0.2}


def source_name(source: str) -> str:
    return source.removeprefix("feed:")


def one_line(text: str | None, limit: int) -> str:
    """Whitespace collapsed; the first sentence if it fits, else clipped with an ellipsis."""
    flat = " ".join((text or "").split())
    if len(flat) <= limit:
        return flat
    sentence = re.match(r"(.{40,}?[.!?。！？])(\s|$)", flat[:limit])
    return sentence.group(1) if sentence else flat[: limit - 1].rstrip() + "…"
