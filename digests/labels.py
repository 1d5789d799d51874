"""What a digest calls things, in English and Chinese: sections, change badges and their
order, evidence labels; how a source is named and a text shortened
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
    "may_fit": ("May fit (pre-screen)", "可能符合（初筛）", 0),
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
NEW_TRIAL = ("New trial", "新试验")
NEWLY_FOUND = ("Newly found", "新发现")
ALREADY_KNOWN = ("already known when watching began", "开始关注时已有")
MAX_SITES, MAX_MENTIONS = 3, 5  # per card; the rest are one click away

def source_name(source: str) -> str:
    return source.removeprefix("feed:")


def one_line(text: str | None, limit: int) -> str:
    """Whitespace collapsed; the first sentence if it fits, else clipped with an ellipsis."""
    flat = " ".join((text or "").split())
    if len(flat) <= limit:
        return flat
    sentence = re.match(r"(.{40,}?[.!?。！？])(\s|$)", flat[:limit])
    return sentence.group(1) if sentence else flat[: limit - 1].rstrip() + "…"
