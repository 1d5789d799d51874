"""Moves this Python process's clock when TESTS_CLOCK_SHIFT is set (seconds, may be negative).

The test suite puts this folder on PYTHONPATH and sets the variable (tests/conftest.py,
`travel` and `--clock`), so the `hccwatch` and Prefect subprocesses it starts read the same
moved, ticking clock as the test itself. The product never imports it.
"""

import os

_SHIFT = os.environ.get("TESTS_CLOCK_SHIFT")
if _SHIFT:
    import time
    from datetime import UTC, datetime

    import time_machine

    time_machine.travel(datetime.fromtimestamp(time.time() + float(_SHIFT), UTC), tick=True).start()
