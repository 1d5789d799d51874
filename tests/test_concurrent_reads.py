"""Readers while a poll writes: threads listing and describing findings, the web app serving
its pages, and the real `hccwatch findings` command, all while `hccwatch poll` commits batch after batch in another
process. No "database is locked", and no torn read (a finding without its identifiers,
sources or topics, which are written in the same transaction)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy.exc import OperationalError

from replay.server import CtgovHandler, Request, Response, cloned_studies
from store.db import open_engine, session_scope
from store.queries import describe, list_findings

HCCWATCH = [sys.executable, "-m", "hccwatch.cli"]


class SlowCtgov(CtgovHandler):
    def __call__(self, request: Request) -> Response:
        time.sleep(0.05)
        return super().__call__(request)


def whole(item: dict) -> bool:
    return bool(item["sources"] and item["topics"] and item["identifiers"].get("nct"))


def web_reader(settings, writing: threading.Event, pages: list[int], errors: list[str]) -> None:
    """The web app (the same code `hccwatch web` serves) answering page after page."""
    from fastapi.testclient import TestClient

    from hccwatch.web_cli import web_app

    with TestClient(web_app(settings)) as client:
        while writing.is_set():
            for path in ("/", "/?q=pembrolizumab", "/status"):
                response = client.get(path)
                if response.status_code != 200 or "locked" in response.text:
                    errors.append(f"GET {path}: {response.status_code}")
                pages.append(response.status_code)
            time.sleep(0.01)  # let the replay server's thread answer the poll (one GIL)


def reader(db: str, writing: threading.Event, seen: list[int], errors: list[str]) -> None:
    engine = open_engine(db)
    try:
        while writing.is_set():
            with session_scope(engine, write=False) as session:
                items = describe(session, list_findings(session))
            if not all(whole(item) for item in items):
                errors.append(f"torn read: {[i['key'] for i in items if not whole(i)]}")
            seen.append(len(items))
            time.sleep(0.01)  # let the replay server's thread answer the poll (one GIL)
    except OperationalError as error:
        errors.append(str(error))
    finally:
        engine.dispose()


@pytest.mark.slow
def test_reading_while_a_poll_writes_never_fails_or_tears(env, settings, replay, recorded_studies,
                                                          engine):
    replay.route("/ctgov", SlowCtgov(cloned_studies(recorded_studies, 600), max_page_size=10))
    writing, errors = threading.Event(), []
    writing.set()
    counts: list[list[int]] = [[] for _ in range(3)]
    threads = [threading.Thread(target=reader, args=(settings.db, writing, seen, errors))
               for seen in counts]
    pages: list[int] = []
    threads.append(threading.Thread(target=web_reader, args=(settings, writing, pages, errors)))
    poll = subprocess.Popen([*HCCWATCH, "poll", "--source", "ctgov"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for thread in threads:
        thread.start()
    commands = []
    while poll.poll() is None:
        commands.append(subprocess.run([*HCCWATCH, "findings", "--format", "json"], env=env,
                                       capture_output=True, text=True, timeout=60))
    writing.clear()
    for thread in threads:
        thread.join(60)

    assert poll.returncode == 0, poll.stderr.read()
    assert errors == []
    assert all(seen == sorted(seen) for seen in counts)  # never a step back
    assert sum(len(seen) for seen in counts) > 10 and commands and len(pages) > 10
    for command in commands:
        assert command.returncode == 0 and "locked" not in command.stderr
        assert all(whole(item) for item in json.loads(command.stdout or "[]"))
