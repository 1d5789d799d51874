"""The `alerts` flow: record and send the alerts that are due without polling: those the quiet
hours held, and those a destination refused at the last poll. `hccwatch serve` runs it every
day when the watchlist's quiet hours end, so a held alert goes out then, not at the next poll."""

from __future__ import annotations

from prefect import flow
from prefect.states import Completed, Failed, State

from flows.poll import run_logger
from hccwatch.app import App


@flow(name="alerts", log_prints=True)
def alerts() -> State:
    """Send every alert due to each destination of HCCWATCH_ALERT_URLS; Failed if one refused."""
    done = App().alert()
    line = done.line()  # masked: no URL or token in it
    run_logger().info("%s", line)
    return Completed(message=line) if not done.failed else Failed(message=line)
