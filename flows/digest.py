"""The `digest` flow: this period's digest to every recipient through digests.deliver (ledger
check, build, render, archive, send, mark), one Prefect task per recipient, retried when the
mail server refused; the ledger keeps sending exactly-once, so a retry never mails twice."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun
from prefect.states import Completed, Failed

from digests.deliver import Outcome, Post, recipients, resolve_period, send_to
from digests.period import Period
from hccwatch.app import App
from store.db import utcnow

SEND_RETRIES = 2


class SendFailed(Exception):
    """The mail server (or the outbox) refused; nothing was marked sent."""


def send_failed(_task: Any, _run: TaskRun, state: State) -> bool:
    return isinstance(state.result(raise_on_failure=False), SendFailed)


@task(name="deliver-digest", task_run_name="deliver {period.label} to {recipient}",
      cache_policy=NO_CACHE, retries=SEND_RETRIES, retry_delay_seconds=60,
      retry_condition_fn=send_failed)
def deliver(post: Post, period: Period, recipient: str) -> Outcome:
    """Send once (a period already sent is skipped); a refusal raises SendFailed (retried)."""
    outcome = send_to(post, period, recipient)
    if outcome.status == "failed":
        raise SendFailed(outcome.message)
    return outcome


def deliver_to(post: Post, period: Period, recipient: str) -> Outcome:
    """The recipient's outcome, a failure after the last retry included (never raised)."""
    state = deliver(post, period, recipient, return_state=True)
    if state.is_completed():
        return state.result()
    return Outcome(recipient, "failed", str(state.result(raise_on_failure=False)))


@flow(name="digest", log_prints=True)
def digest(period: str | None = None) -> State:
    """This period's digest (`period` like 2026-W47; default: the last complete week) to every
    recipient; Failed if sending to anyone failed (run again: nothing is sent twice)."""
    post = App().post()
    chosen = resolve_period(post, period, utcnow())
    outcomes = [deliver_to(post, chosen, recipient) for recipient in recipients(post.mail)]
    for outcome in outcomes:
        print(outcome.message)
    failed = [o.message for o in outcomes if o.status == "failed"]
    summary = {o.recipient: o.status for o in outcomes}
    return Failed(message="; ".join(failed), data=summary) if failed else \
        Completed(message=f"{chosen.label}: {summary}", data=summary)
