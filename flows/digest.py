"""The `digest` flow: for each recipient, build -> render -> send this period's digest. The
work is the digest feature's plain functions (digests/*, hccwatch.digest_cli); the ledger
keeps sending exactly-once, so a retried send can never mail a period twice."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun
from prefect.states import Completed, Failed

from digests.build import Period, WeeklyDigest, build_digest
from digests.render import Rendered, render_digest
from digests.send import ledger_row, record_pending
from hccwatch.cli import App
from hccwatch.digest_cli import Outcome, recipients, resolve_period, transmit
from store.db import session_scope, utcnow

SEND_RETRIES = 2


class SendFailed(Exception):
    """The mail server (or the outbox) refused; nothing was marked sent."""


@task(name="build-digest", task_run_name="build {period.label} for {recipient}",
      cache_policy=NO_CACHE)
def build(app: App, period: Period, recipient: str) -> WeeklyDigest | None:
    """The period's digest for one recipient, or None when it was already sent to them."""
    with session_scope(app.engine, write=False) as session:
        row = ledger_row(session, period=period.label, recipient=recipient)
        if row is not None and row.status == "sent":
            return None
        return build_digest(session, watchlist=app.watchlist, period=period, recipient=recipient)


@task(name="render-digest", cache_policy=NO_CACHE)
def render(digest: WeeklyDigest) -> Rendered:
    """HTML (CSS inlined) and plain text."""
    return render_digest(digest)


def send_failed(_task: Any, _run: TaskRun, state: State) -> bool:
    return isinstance(state.result(raise_on_failure=False), SendFailed)


@task(name="send-digest", cache_policy=NO_CACHE, retries=SEND_RETRIES, retry_delay_seconds=60,
      retry_condition_fn=send_failed)
def send(app: App, period: Period, digest: WeeklyDigest, rendered: Rendered) -> Outcome:
    """Archive as pending, send, then mark sent; a refusal raises SendFailed (retried)."""
    with session_scope(app.engine) as session:
        letter = record_pending(session, digest, rendered, sender=app.settings.mail_from)
    outcome = transmit(app, period, letter)
    if outcome.status == "failed":
        raise SendFailed(outcome.message)
    return outcome


def deliver_to(app: App, period: Period, recipient: str) -> Outcome:
    """build -> render -> send for one recipient, as an Outcome (never raised)."""
    built = build(app, period, recipient)
    if built is None:
        return Outcome(recipient, "already_sent", f"{period.label} was already sent to {recipient}")
    state = send(app, period, built, render(built), return_state=True)
    if state.is_completed():
        return state.result()
    return Outcome(recipient, "failed", str(state.result(raise_on_failure=False)))


@flow(name="digest", log_prints=True)
def digest(period: str | None = None) -> State:
    """This period's digest (`period` like 2026-W47; default: the last complete week) to every
    recipient; Failed if sending to anyone failed (run again: nothing is sent twice)."""
    app = App()
    chosen = resolve_period(app, period, utcnow())
    outcomes = [deliver_to(app, chosen, recipient) for recipient in recipients(app.settings)]
    for outcome in outcomes:
        print(outcome.message)
    failed = [o.message for o in outcomes if o.status == "failed"]
    summary = {o.recipient: o.status for o in outcomes}
    return Failed(message="; ".join(failed), data=summary) if failed else \
        Completed(message=f"{chosen.label}: {summary}", data=summary)
