"""A digest send killed at any point (SIGKILL while the SMTP conversation is under way) is
sent in the end exactly once: one Message-ID reaches the family however often the process
died, and the ledger holds one sent digest."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import select
from test_digest_build import FAMILY, seed
from test_digest_send import Inbox, free_port

from store.db import session_scope
from store.models import Digest

pytestmark = pytest.mark.usefixtures("clock")  # 2026-W47 has ended at FIXED_NOW

HCCWATCH = [sys.executable, "-m", "hccwatch.cli"]
KILLS = 8


class SlowInbox(Inbox):
    """Answers every SMTP step slowly, so a kill can land inside the conversation."""

    delay = 0.3
    conversations = 0

    async def handle_MAIL(self, server, session, envelope, address, mail_options) -> str:
        self.conversations += 1
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        await asyncio.sleep(self.delay)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


def test_killed_mid_send_the_period_reaches_the_family_once(engine, watchlist, env):
    seed(engine, watchlist)
    inbox = SlowInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    mail_env = {**env, "HCCWATCH_SMTP_HOST": "127.0.0.1", "HCCWATCH_SMTP_PORT": str(controller.port),
                "HCCWATCH_SMTP_STARTTLS": "false", "HCCWATCH_MAIL_TO": FAMILY}
    command = [*HCCWATCH, "digest", "--period", "2026-W47"]
    rng = random.Random(47)
    try:
        for attempt in range(KILLS):
            process = subprocess.Popen(command, env=mail_env, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, start_new_session=True)
            if attempt % 2:  # inside the SMTP conversation (RCPT and DATA take 0.3 s each)
                started = inbox.conversations
                deadline = time.monotonic() + 60
                while inbox.conversations == started and process.poll() is None \
                        and time.monotonic() < deadline:
                    time.sleep(0.01)
                time.sleep(rng.uniform(0.0, 0.6))
            else:  # anywhere before it: start-up, building, rendering, archiving as pending
                time.sleep(rng.uniform(0.2, 1.5))
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        final = subprocess.run(command, env=mail_env, capture_output=True, text=True, timeout=120)
        again = subprocess.run(command, env=mail_env, capture_output=True, text=True, timeout=120)
    finally:
        controller.stop()

    assert final.returncode == 0, final.stderr
    assert again.returncode == 0 and "already sent" in again.stdout + again.stderr
    message_ids = {m["Message-ID"] for m in inbox.messages}
    assert inbox.conversations > len(inbox.messages)  # some kills did land mid-conversation
    assert len(inbox.messages) >= 1 and len(message_ids) == 1  # duplicates, if any, share it
    with session_scope(engine, write=False) as session:
        rows = list(session.exec(select(Digest)))
    assert [(r.period, r.recipient, r.status) for r in rows] == [("2026-W47", FAMILY, "sent")]
    assert rows[0].message_id == message_ids.pop()
