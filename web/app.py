"""The browse UI (`hccwatch web`): server-rendered pages over the store that work without
JavaScript — findings with full-text search and filters, one finding with its change timeline,
topics, the digest archive, source health, Atom feeds — and ad-hoc live searches."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Protocol
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, pass_context
from sqlmodel import Session, select
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from sources.records import ID_PAGES, KINDS
from store.db import open_engine, session_scope
from store.errors import ConfigError
from store.health import health
from store.models import TopicMatch
from store.queries import (
    changes_of,
    describe,
    digest_archive,
    digest_by_id,
    get_finding,
    links_of,
    list_findings,
)
from store.search import (
    Filters,
    Hit,
    distinct_values,
    highlight,
    search,
    search_terms,
    snippet,
    status_counts,
    synonyms_of,
    topic_counts,
)
from store.vocab import (
    ADHOC_SOURCES,
    FILTER_SOURCES,
    SORTS,
    code_text,
    field_label,
    is_adhoc,
    is_http_url,
    kind_count,
    local_minute,
    mailto_href,
    status_rank,
    status_word,
    status_zh,
    tel_href,
)
from web.atom import atom_feed, finding_href
from web.eligibility import EligibilityView, Screener, default_screener, eligibility_view
from web.jobs import Job, Jobs, Progress
from web.security import HEADERS, Csrf

log = logging.getLogger("hccwatch.web")
HERE = Path(__file__).parent
FACET_TTL = 60.0
FEED_SIZE = 100


class Backend(Protocol):
    """What the composition root (`hccwatch web`) hands the web app, which may not import it:
    the store's path, the watchlist and the ad-hoc search. Configuration problems surface as
    store.errors.ConfigError."""

    db: str

    def watchlist(self) -> Any:
        """The current watchlist (read again when its file changed): topics, tz."""

    def clean_term(self, term: str) -> str:
        """The term as it will be searched; ValueError if it cannot be."""

    def adhoc_topic_id(self, term: str) -> str:
        """The topic an ad-hoc search for `term` stores its findings under."""

    def suggest_topic_id(self, term: str) -> str:
        """A topic id to suggest when the term is added to the watchlist."""

    def run_adhoc(self, engine: Any, term: str, sources: list[str],
                  progress: Progress) -> tuple[str, dict[str, str]]:
        """Search the sources now; (topic id, {source: why it could not run})."""

    def add_topic(self, term: str, *, topic_id: str, label: str | None) -> Any:
        """Add the term to the watchlist file as a new topic (with .id); ConfigError/ValueError."""


# ---------------------------------------------------------------- template helpers

def id_link(scheme: str, value: str) -> str | None:
    """The public page of an identifier (None when there is none to link)."""
    if scheme == "url":
        return value if is_http_url(value) else None
    pattern = ID_PAGES.get(scheme)
    return pattern.format(quote(value, safe="/:")) if pattern else None


@pass_context
def when(context: Any, value: Any) -> str:
    """A stored UTC time shown in the watchlist's time zone."""
    watchlist = context.get("watchlist")
    return local_minute(value, watchlist.timezone if watchlist else None)


def detail_text(value: Any) -> str:
    """A `details` value as one readable line."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "; ".join(detail_text(v) for v in value if v not in (None, "", [], {}))
    if isinstance(value, dict):
        return ", ".join(detail_text(v) for v in value.values() if v not in (None, "", [], {}))
    return "" if value is None else code_text(value)


def make_env() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)
    env.tests["http_url"] = is_http_url
    env.filters.update(finding_href=finding_href, when=when, status_word=status_word,
                       status_zh=status_zh, detail_text=detail_text, code_text=code_text,
                       field_label=field_label, kind_count=kind_count)
    env.globals.update(id_link=id_link, tel_href=tel_href, mailto_href=mailto_href)
    return env


# ---------------------------------------------------------------- the site object

class Site:
    """What every page needs: the backend, the database, templates, CSRF protection and the
    ad-hoc searches of this process."""

    def __init__(self, backend: Backend, screener: Screener | None = None):
        self.backend = backend
        self.screener = screener
        self.engine = open_engine(backend.db)
        self.csrf = Csrf()
        self.env = make_env()
        self.jobs = Jobs(self.run_adhoc)
        self._facets: tuple[float, dict[str, list[str]]] = (0.0, {})

    def watchlist(self) -> Any:
        return self.backend.watchlist()

    def eligibility(self, finding: Any, data: Mapping[str, Any]) -> EligibilityView | None:
        """A trial's pre-screen for the watchlist's patient: stored, else computed here."""
        try:
            patient = getattr(self.watchlist(), "patient", None)
        except ConfigError:
            patient = None
        return eligibility_view(finding.kind, getattr(finding, "eligibility", None),
                                data.get("details") or {}, patient, self.screener)

    def facets(self, session: Session) -> dict[str, list[str]]:
        """Filter choices read from the data, recomputed at most once a minute."""
        stamp, values = self._facets
        if time.monotonic() - stamp > FACET_TTL or not values:
            values = {"status": distinct_values(session, "status"),
                      "evidence": distinct_values(session, "evidence")}
            self._facets = (time.monotonic(), values)
        return values

    def run_adhoc(self, term: str, sources: list[str], progress: Progress) -> tuple[str, dict[str, str]]:
        return self.backend.run_adhoc(self.engine, term, sources, progress)

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        try:
            watchlist = self.watchlist()
        except ConfigError:
            watchlist = None
        context.update(request=request, csrf_token=getattr(request.state, "csrf_token", ""),
                       watchlist=watchlist, tz=watchlist.tz if watchlist else None,
                       topic_names={t.id: t for t in watchlist.topics} if watchlist else {})
        body = self.env.get_template(name).render(context)
        return HTMLResponse(body, status_code=status)


def site_of(request: Request) -> Site:
    return request.app.state.site


# ---------------------------------------------------------------- query parameters

def _date(params: Mapping[str, str], name: str, problems: list[str]) -> date | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        problems.append(f"“{raw}” is not a date like 2026-11-01; the {name} filter was ignored.")
        return None


def _choice(params: Mapping[str, str], name: str, allowed: Sequence[str] | None = None) -> str | None:
    value = (params.get(name) or "").strip()[:200]
    return value if value and (allowed is None or value in allowed) else None


def parse_filters(params: Mapping[str, str]) -> tuple[Filters, list[str]]:
    """Filters from the query string; unusable values are dropped and said so."""
    problems: list[str] = []
    source = _choice(params, "source", FILTER_SOURCES)
    filters = Filters(
        q=" ".join((params.get("q") or "").split())[:200], topic=_choice(params, "topic"),
        kind=_choice(params, "kind", KINDS), sources=(source,) if source else (),
        status=_choice(params, "status"), evidence=_choice(params, "evidence"),
        since=_date(params, "since", problems), until=_date(params, "until", problems),
        near=params.get("near") in ("1", "on", "true"))
    period = filters.since is not None or filters.until is not None
    sort = _choice(params, "sort", SORTS) or ("relevance" if period else "date")
    return replace(filters, sort=sort), problems


def _offset(params: Mapping[str, str]) -> int:
    return min(_number(params.get("offset") or "0") or 0, 100_000)


def _number(raw: str) -> int | None:
    """A small non-negative whole number written in ASCII digits, else None (never raises)."""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 15 else None


def page_link(params: Mapping[str, str], **changes: Any) -> str:
    merged = {k: v for k, v in params.items() if v}
    merged.update({k: str(v) for k, v in changes.items()})
    merged = {k: v for k, v in merged.items() if v and v != "0"}
    return "/?" + urlencode(merged) if merged else "/"


# ---------------------------------------------------------------- pages

def with_synonyms(site: Site, filters: Filters, *, literal: bool) -> Filters:
    """A query that is a watchlist topic's term searches all its terms, unless `literal`."""
    if literal or not filters.q:
        return filters
    try:
        topics = site.watchlist().topics
    except ConfigError:
        return filters
    return replace(filters, synonyms=synonyms_of(filters.q, ((t.id, t.all_terms) for t in topics)))


def findings_page(request: Request) -> HTMLResponse:
    site = site_of(request)
    params = request.query_params
    filters, problems = parse_filters(params)
    filters = with_synonyms(site, filters, literal=params.get("literal") == "1")
    offset = _offset(params)
    with session_scope(site.engine, write=False) as session:
        page = search(session, filters, offset=offset)
        rows = list(zip(page.hits, describe(session, [h.finding for h in page.hits]), strict=True))
        facets = site.facets(session)
    links = {"next": page_link(params, offset=offset + page.limit) if page.has_next else None,
             "prev": page_link(params, offset=max(0, offset - page.limit)) if offset else None,
             "literal": page_link(params, literal=1, offset=0)}
    return site.render(request, "findings.html", page=page, rows=rows, filters=filters,
                       problems=problems, facets=facets, kinds=KINDS, sources=FILTER_SOURCES,
                       links=links, params=params)


def finding_page(request: Request, key: str) -> HTMLResponse:
    site = site_of(request)
    with session_scope(site.engine, write=False) as session:
        try:
            finding = get_finding(session, key)
        except ValueError:
            finding = None
        if finding is None:
            raise HTTPException(404, f"No finding “{key}” is stored.")
        data = describe(session, [finding])[0]
        matches = list(session.exec(select(TopicMatch).where(TopicMatch.finding_id == finding.id)))
        changes = list(reversed(changes_of(session, finding.id)))
        links = links_of(session, finding)
    return site.render(request, "finding.html", f=data, finding=finding, matches=matches,
                       changes=changes, links=links, eligibility=site.eligibility(finding, data))


@dataclass(frozen=True)
class AdhocTopic:
    """A stand-in for an ad-hoc search's topic (it is in no watchlist)."""

    id: str
    label: str
    label_zh: str | None = None
    kind: str = "adhoc"


def topic_of(site: Site, session: Session, topic_id: str) -> Any:
    """The watchlist topic, or a stand-in for an ad-hoc search's topic; 404 otherwise."""
    for topic in site.watchlist().topics:
        if topic.id == topic_id:
            return topic
    if is_adhoc(topic_id) and session.exec(
            select(TopicMatch.id).where(TopicMatch.topic == topic_id)).first() is not None:
        return AdhocTopic(topic_id, f"Ad-hoc search {topic_id.removeprefix('adhoc-')}")
    raise HTTPException(404, f"There is no topic “{topic_id}”.")


def topic_page(request: Request, topic_id: str) -> HTMLResponse:
    site = site_of(request)
    with session_scope(site.engine, write=False) as session:
        topic = topic_of(site, session, topic_id)
        counts = status_counts(session, topic=topic_id)
        trials = [(status, counts[status],
                   search(session, Filters(topic=topic_id, kind="trial", status=status), limit=25).hits
                   if status else [])
                  for status in sorted(counts, key=status_rank)]
        papers = sorted(list_findings(session, topic=topic_id, kind="article", limit=20)
                        + list_findings(session, topic=topic_id, kind="preprint", limit=20),
                        key=lambda f: (f.first_seen_at, f.id), reverse=True)[:20]
        news = list_findings(session, topic=topic_id, kind="news", limit=20)
    return site.render(request, "topic.html", topic=topic, trials=trials, papers=papers,
                       news=news, added=request.query_params.get("added") == "1")


def topics_page(request: Request) -> HTMLResponse:
    site = site_of(request)
    with session_scope(site.engine, write=False) as session:
        counts = topic_counts(session)
    adhoc = sorted(t for t, (_, via) in counts.items() if via == "adhoc")
    return site.render(request, "topics.html", counts=counts, adhoc=adhoc)


def status_page(request: Request) -> HTMLResponse:
    site = site_of(request)
    with session_scope(site.engine, write=False) as session:
        data = health(session)
    return site.render(request, "status.html", health=data,
                       schedule=site.watchlist().next_runs(datetime.now(UTC)))


# ---------------------------------------------------------------- digests (the ledger may not exist yet)

def digests_page(request: Request) -> HTMLResponse:
    site = site_of(request)
    with session_scope(site.engine, write=False) as session:
        rows = digest_archive(session)
    return site.render(request, "digests.html", digests=rows)


def digest_page(request: Request, digest_id: str) -> HTMLResponse:
    site = site_of(request)
    number = _number(digest_id)
    with session_scope(site.engine, write=False) as session:
        row = digest_by_id(session, number) if number is not None else None
    if row is None:
        raise HTTPException(404, f"There is no digest number {digest_id}.")
    return site.render(request, "digest.html", digest=row)


# ---------------------------------------------------------------- Atom feeds

def _feed(request: Request, topic_id: str | None) -> Response:
    site = site_of(request)
    with session_scope(site.engine, write=False) as session:
        title = "hccwatch: all findings"
        if topic_id:
            topic = topic_of(site, session, topic_id)
            title = f"hccwatch: {topic.label}" + (f" · {topic.label_zh}" if topic.label_zh else "")
        items = describe(session, list_findings(session, topic=topic_id, limit=FEED_SIZE))
    body = atom_feed(items, title=title, feed_id=f"urn:hccwatch:{'topic:' + topic_id if topic_id else 'all'}",
                     self_url=str(request.url), base_url=str(request.base_url))
    return Response(body, media_type="application/atom+xml; charset=utf-8")


def feed_all(request: Request) -> Response:
    return _feed(request, None)


def feed_topic(request: Request, topic_id: str) -> Response:
    return _feed(request, topic_id)


# ---------------------------------------------------------------- ad-hoc search

def adhoc_form(request: Request) -> HTMLResponse:
    site = site_of(request)
    return site.render(request, "adhoc.html", term=request.query_params.get("term", "")[:200],
                       sources=ADHOC_SOURCES, jobs=site.jobs.recent()[:10], error=None)


def adhoc_start(request: Request, term: Annotated[str, Form()] = "",
                sources: Annotated[list[str] | None, Form()] = None,
                csrf_token: Annotated[str, Form()] = "") -> Response:
    site = site_of(request)
    site.csrf.check(request, csrf_token)
    chosen = [s for s in ADHOC_SOURCES if s in (sources or ())] or list(ADHOC_SOURCES)
    try:
        term = site.backend.clean_term(term)
    except ValueError as error:
        return site.render(request, "adhoc.html", 400, term=term[:200], sources=ADHOC_SOURCES,
                           jobs=site.jobs.recent()[:10], error=str(error))
    job = site.jobs.start(term, site.backend.adhoc_topic_id(term), chosen)
    return RedirectResponse(f"/search/{job.id}", status_code=303)


def _watched_already(watchlist: Any, term: str) -> Any:
    folded = term.casefold()
    return next((t for t in watchlist.topics if folded in (x.casefold() for x in t.all_terms)), None)


def adhoc_job(request: Request, job_id: str) -> HTMLResponse:
    site = site_of(request)
    job: Job | None = site.jobs.get(job_id)
    if job is None:
        raise HTTPException(404, "This search is no longer known (the server was restarted?). "
                                 "Start it again.")
    with session_scope(site.engine, write=False) as session:
        hits = search(session, Filters(topic=job.topic_id), limit=100)
    terms = search_terms(job.term)
    hits.hits = [Hit(h.finding, highlight(h.finding.title, terms), snippet(h.finding, terms))
                 for h in hits.hits]
    return site.render(request, "adhoc_job.html", job=job, page=hits,
                       watched=_watched_already(site.watchlist(), job.term),
                       suggested_id=site.backend.suggest_topic_id(job.term))


def watchlist_add(request: Request, term: Annotated[str, Form()] = "",
                  topic_id: Annotated[str, Form()] = "", label: Annotated[str, Form()] = "",
                  csrf_token: Annotated[str, Form()] = "") -> Response:
    site = site_of(request)
    site.csrf.check(request, csrf_token)
    try:
        topic = site.backend.add_topic(term, topic_id=topic_id.strip(), label=label.strip() or None)
    except (ConfigError, ValueError) as error:
        return site.render(request, "error.html", 400, title="The topic was not added",
                           message=str(error))
    return RedirectResponse(f"/topics/{quote(topic.id)}?added=1", status_code=303)


# ---------------------------------------------------------------- errors

def error_handlers(site: Site) -> dict[Any, Any]:
    """Friendly pages for every failure; a traceback only ever goes to the server log."""
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "That did not work."
        return site.render(request, "error.html", exc.status_code, title=f"Error {exc.status_code}",
                           message=message)

    async def bad_request(request: Request, _exc: RequestValidationError) -> Response:
        return site.render(request, "error.html", 400, title="Bad request",
                           message="Some value in the address or the form was not understood.")

    async def config_error(request: Request, exc: ConfigError) -> Response:
        return site.render(request, "error.html", 503, title="Configuration problem", message=str(exc))

    async def crash(request: Request, exc: Exception) -> Response:
        log.error("error serving %s", request.url.path, exc_info=exc)
        response = site.render(request, "error.html", 500, title="Something went wrong",
                               message="The page could not be shown; the server log says why.")
        response.headers.update(HEADERS)
        return response

    return {StarletteHTTPException: http_error, RequestValidationError: bad_request,
            ConfigError: config_error, Exception: crash}


# ---------------------------------------------------------------- the application

ROUTES = (
    ("/", findings_page, ["GET"]),
    ("/findings/{key:path}", finding_page, ["GET"]),
    ("/topics", topics_page, ["GET"]),
    ("/topics/{topic_id}", topic_page, ["GET"]),
    ("/digests", digests_page, ["GET"]),
    ("/digests/{digest_id}", digest_page, ["GET"]),
    ("/status", status_page, ["GET"]),
    ("/feeds/all.atom", feed_all, ["GET"]),
    ("/feeds/{topic_id}.atom", feed_topic, ["GET"]),
    ("/search", adhoc_form, ["GET"]),
    ("/search", adhoc_start, ["POST"]),
    ("/search/{job_id}", adhoc_job, ["GET"]),
    ("/watchlist/topics", watchlist_add, ["POST"]),
)


def create_app(backend: Backend, *, trusted_hosts: Sequence[str] | None = None,
               screener: Screener | None = default_screener) -> FastAPI:
    """The web application over the store and watchlist `backend` names.

    `trusted_hosts` limits the Host header (the `web` command passes the loopback names, which
    stops DNS-rebinding pages from reading the local server). `screener` pre-screens a trial whose
    eligibility is not stored yet, for the watchlist's patient (None: such trials show none)."""
    site = Site(backend, screener)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        site.engine.dispose()

    app = FastAPI(title="hccwatch", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan, exception_handlers=error_handlers(site))
    app.state.site = site
    for path, endpoint, methods in ROUTES:
        app.add_api_route(path, endpoint, methods=methods, response_class=HTMLResponse,
                          include_in_schema=False)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.middleware("http")(site.csrf.middleware)
    if trusted_hosts:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(trusted_hosts))
    return app
