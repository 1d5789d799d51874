"""Hand one alert to one destination through Apprise, within bounded timeouts, and say why it
was not accepted in words scrubbed of the destination's secrets."""

from __future__ import annotations

from alerts.apprise_log import captured
from alerts.destinations import Destination, plugin_for

# Apprise's own defaults (4 s to connect, 4 s to read) are kept unless the settings' HTTP
# timeout is shorter; one hand-over then takes at most a few seconds.
MAX_TIMEOUT = 4.0


def hand_over(destination: Destination, title: str, body: str, *, timeout: float) -> str | None:
    """Send; None when the destination accepted it, else why not (safe to store and show)."""
    if destination.problem:
        return destination.problem
    import apprise

    plugin = plugin_for(destination.url.get_secret_value())
    if plugin is None:
        return "Apprise cannot read this URL"
    seconds = min(timeout, MAX_TIMEOUT)
    plugin.socket_connect_timeout = plugin.socket_read_timeout = seconds
    with captured() as lines:
        try:
            sent = plugin.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT)
        except Exception as error:  # noqa: BLE001  a plugin's bug is this destination's failure
            lines.append(f"{type(error).__name__}: {error}")
            sent = False
    if sent:
        return None
    return destination.scrub(" ".join(lines[-3:]) or "the destination did not accept the alert")
