"""The `adhoc` flow: a live search of the sources for a term the user types, stored like any
poll. The work is pipeline.adhoc.adhoc_search; the flow adds a run record and logs."""

from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from hccwatch.app import App
from pipeline.adhoc import AdhocResult, adhoc_search


@task(name="adhoc-search", task_run_name="search {term!r}", cache_policy=NO_CACHE)
def search(app: App, term: str, sources: list[str] | None) -> AdhocResult:
    return adhoc_search(app.engine, app.settings, app.watchlist, term, sources)


@flow(name="adhoc", log_prints=True)
def adhoc(term: str, sources: list[str] | None = None) -> AdhocResult:
    """Search the chosen sources (all by default) for `term` now, and store what is found."""
    return search(App(), term, sources)
