#!/usr/bin/env python3
"""Set up from nothing and run hccwatch's main jobs:
`python3 tasks.py demo|run|web|check|test|bench|lint|mutate [--recheck] [TARGET...]`.

demo, run, web, check and the other hccwatch commands (status, findings, show, search, poll,
digest, serve, install-service, alerts) run `.venv/bin/hccwatch COMMAND ARGS`; test runs pytest,
bench the benchmarks, lint ruff.

Needs only Python 3.11 and pip. The first call creates .venv and installs the project with
every dependency pinned by constraints.txt; later calls reuse it (reinstalling when
pyproject.toml or constraints.txt changed).

`mutate` runs mutmut, offline, over the modules where a silent change hurts the family most
(TARGETS below: the HTTP client, ingest, the digest, web security, settings, eligibility with
its rules modules scales, disease and history each a target of its own, relevance), one
target at a time and niced, each against only the test files that exercise it, and prints
per target the mutants killed, survived and with no covering test, the score and the
duration. The survivors' diffs go to .mutate/TARGET/survivors.txt. `mutate --recheck
TARGET` runs only the last run's survivors again against the current tests.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".hccwatch-installed"


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "constraints.txt"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def ensure_venv() -> None:
    """Create .venv and install the pinned project into it unless already current."""
    if STAMP.exists() and STAMP.read_text() == _fingerprint():
        return
    if not (BIN / "python").exists():
        print("tasks: creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("tasks: installing hccwatch and pinned dependencies (constraints.txt)", flush=True)
    subprocess.run(
        [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-c", str(ROOT / "constraints.txt"), "-e", f"{ROOT}[test]"],
        check=True,
    )
    STAMP.write_text(_fingerprint())


INGEST_TESTS = ("tests/test_ingest.py", "tests/test_ingest_changes.py", "tests/test_ingest_sources.py")
ELIGIBILITY_TESTS = ("tests/test_eligibility_rules.py", "tests/test_eligibility_verdict.py",
                     "tests/test_criteria_split.py", "tests/test_profile.py")
# target -> (modules mutated, test files that exercise them)
TARGETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # test_hostile.py left out: its servers run the client in subprocesses, which mutmut cannot
    # trace, and its in-process tests doubled the run (the measured score is test_http.py's)
    "http": (("sources/http.py",), ("tests/test_http.py",)),
    # ingest one module at a time, against the tests that call the store directly (the polls
    # through the replay server reach the same code far more slowly)
    "ingest-changes": (("store/changes.py",), INGEST_TESTS),
    "ingest-upsert": (("store/upsert.py",), INGEST_TESTS),
    "ingest-identity": (("store/identity.py",), INGEST_TESTS),
    "ingest-batch": (("store/ingest.py",), (*INGEST_TESTS, "tests/test_judge_records.py")),
    "digest": (("digests/deliver.py", "digests/send.py", "digests/render.py", "digests/period.py"),
               ("tests/test_digest_build.py", "tests/test_digest_render.py",
                "tests/test_digest_send.py", "tests/test_digest_ledger.py",
                "tests/test_digest_volume.py")),
    "web": (("web/security.py",), ("tests/test_web_security.py",)),
    "settings": (("hccwatch/settings.py",), ("tests/test_settings.py",)),
    # eligibility: the verdict, profile and reading machinery together, and each rules module
    # alone (each is 800+ mutants), so one can be run and rechecked without the others
    "eligibility": (("assess/eligibility.py", "assess/criteria.py", "assess/profile.py",
                     "assess/reading.py"), ELIGIBILITY_TESTS),
    "eligibility-scales": (("assess/scales.py",), ELIGIBILITY_TESTS),
    "eligibility-disease": (("assess/disease.py",), ELIGIBILITY_TESTS),
    "eligibility-history": (("assess/history.py",), ELIGIBILITY_TESTS),
    # pipeline/judge.py is left out: its tests (tests/test_judge.py) poll and render through
    # the command, 5-26 s each, which would make the run take hours here
    "relevance": (("assess/relevance.py",), ("tests/test_relevance.py",)),
}
# Functions that run when their module is imported (the Settings class body calls _alias,
# relevance builds its wording patterns with _words and _split, and the watchlist the tests
# load at import reads its disease MeSH with mesh_in_query):
# mutmut's forks inherit the modules imported unmutated, so these survivors are checked again
# in a fresh interpreter that imports the mutant (one pytest run over the target's tests each).
AT_IMPORT: dict[str, tuple[str, ...]] = {"settings": ("_alias",), "relevance": ("_words", "_split", "mesh_in_query")}
MUTATE_DIR = ROOT / ".mutate"
TASKS = {"test", "bench", "lint", "mutate"}
HCCWATCH_COMMANDS = {"demo", "run", "web", "check", "status", "findings", "show", "search", "poll",
                     "digest", "serve", "install-service", "alerts"}
DETECTED = {"killed", "timeout", "caught by type check"}


def _packages() -> list[str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]


def _top_files() -> list[str]:
    """The project's top-level files (README.md and the like, which some tests read)."""
    return sorted(p.name for p in ROOT.iterdir() if p.is_file() and not p.name.startswith("."))


def _mutmut_config(packages: list[str], modules: tuple[str, ...], tests: tuple[str, ...]) -> str:
    return "\n".join([
        "", "[tool.mutmut]",
        f"source_paths = {json.dumps(packages)}",
        f"also_copy = {json.dumps([*(f for f in _top_files() if f != 'pyproject.toml'), 'bench'])}",
        f"only_mutate = {json.dumps(list(modules))}",
        f"pytest_add_cli_args_test_selection = {json.dumps(list(tests))}",
        'pytest_add_cli_args = ["-p", "no:randomly", "-p", "no:cacheprovider", "-m", "not browser"]',
        "",
    ])


def _prepare(target: str) -> Path:
    """A scratch copy of the project with a [tool.mutmut] section for this target only."""
    modules, tests = TARGETS[target]
    scratch = MUTATE_DIR / target
    shutil.rmtree(scratch, ignore_errors=True)
    packages = _packages()
    for name in [*packages, "tests", "bench"]:  # some tests import bench's generators
        shutil.copytree(ROOT / name, scratch / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in _top_files():
        shutil.copy2(ROOT / name, scratch / name)
    config = _mutmut_config(packages, modules, tests)
    (scratch / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text() + config)
    # exists before mutmut starts, or Python caches its PYTHONPATH entry as missing and
    # the tests import the installed, unmutated package instead
    (scratch / "mutants").mkdir()
    return scratch


def _statuses(scratch: Path, modules: tuple[str, ...]) -> dict[str, str]:
    from_code = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests",
                 34: "skipped", 36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout",
                 255: "timeout", 37: "caught by type check"}
    statuses = {}
    for module in modules:
        meta = json.loads((scratch / "mutants" / f"{module}.meta").read_text())
        for name, code in meta["exit_code_by_key"].items():
            statuses[name] = from_code.get(code, "suspicious" if code is not None else "not checked")
    return statuses


def _recheck(target: str) -> tuple[Path, list[str]]:
    """The last run's scratch copy with today's tests, and its mutants not yet detected."""
    scratch = MUTATE_DIR / target
    shutil.copytree(ROOT / "tests", scratch / "tests", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    statuses = _statuses(scratch, TARGETS[target][0])
    return scratch, sorted(name for name, status in statuses.items() if status not in DETECTED)


def mutate(args: list[str]) -> int:
    """Run mutmut over each target, niced, and print its score; non-zero if a run failed.
    With --recheck, run only the last run's undetected mutants again, against the current
    tests (the modules must not have changed since that run)."""
    recheck = "--recheck" in args
    targets = [a for a in args if a != "--recheck"]
    unknown = sorted(set(targets) - set(TARGETS))
    if unknown:
        print(f"tasks: unknown mutate target(s) {', '.join(unknown)}; known: {', '.join(TARGETS)}")
        return 2
    failed = 0
    for target in targets or list(TARGETS):
        modules, _ = TARGETS[target]
        scratch, names = _recheck(target) if recheck else (_prepare(target), [])
        started = time.monotonic()
        env = dict(os.environ, PYTHONPATH=str(scratch / "mutants"), PREFECT_SERVER_ANALYTICS_ENABLED="false")
        log = (scratch / "mutmut.log").open("a" if recheck else "w")
        code = subprocess.call(["nice", "-n", "15", str(BIN / "mutmut"), "run", "--max-children", "1", *names],
                               cwd=scratch, env=env, stdout=log, stderr=subprocess.STDOUT)
        seconds = time.monotonic() - started
        if code != 0:
            print(f"{target}: mutmut failed (exit {code}); see {scratch / 'mutmut.log'}")
            failed += 1
            continue
        _report(target, scratch, modules, seconds, env)
    return 1 if failed else 0


SHOW_DIFFS = """
import sys
from mutmut.__main__ import find_mutant, get_diff_for_mutant
for name in sys.argv[1:]:
    print(f"# {name}")
    print(get_diff_for_mutant(name, path=find_mutant(name).path))
"""


def _at_import(target: str, mutant: str) -> bool:
    return any(mutant.rpartition(".")[2].startswith(f"x_{function}__mutmut_")
               for function in AT_IMPORT.get(target, ()))


def _fresh_check(target: str, scratch: Path, mutant: str, env: dict[str, str]) -> str:
    """Killed if the target's tests fail in a new interpreter that imports `mutant`."""
    code = subprocess.call(["nice", "-n", "15", str(BIN / "python"), "-m", "pytest", "-x", "-q",
                            "-p", "no:randomly", "-p", "no:cacheprovider", "-m", "not browser",
                            *TARGETS[target][1]],
                           cwd=scratch / "mutants", env=dict(env, MUTANT_UNDER_TEST=mutant),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return "survived" if code == 0 else "killed"


def _report(target: str, scratch: Path, modules: tuple[str, ...], seconds: float,
            env: dict[str, str]) -> None:
    """Print the score (over the mutants checked) and write the survivors' diffs."""
    started = time.monotonic()
    statuses = _statuses(scratch, modules)
    for name, status in statuses.items():
        if status == "survived" and _at_import(target, name):
            statuses[name] = _fresh_check(target, scratch, name, env)
    seconds += time.monotonic() - started
    counts = {s: list(statuses.values()).count(s) for s in sorted(set(statuses.values()))}
    checked = len(statuses) - counts.get("not checked", 0)
    detected = sum(n for s, n in counts.items() if s in DETECTED)
    score = 100.0 * detected / checked if checked else 0.0
    survivors = sorted(n for n, s in statuses.items() if s not in DETECTED | {"not checked"})
    with (scratch / "survivors.txt").open("w") as out:
        subprocess.run([str(BIN / "python"), "-c", SHOW_DIFFS, *survivors], cwd=scratch, env=env,
                       stdout=out, stderr=subprocess.DEVNULL)
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    print(f"{target}: {score:.1f}% of {checked} mutants checked detected ({summary}) "
          f"in {seconds:.0f} s; diffs in {scratch / 'survivors.txt'}")
    for name in survivors:
        print(f"    {statuses[name]}: {name}")


def run(*argv: str) -> int:
    env = dict(os.environ, PREFECT_SERVER_ANALYTICS_ENABLED="false")
    return subprocess.call(list(argv), cwd=ROOT, env=env)


def main(argv: list[str]) -> int:
    task, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if task not in TASKS | HCCWATCH_COMMANDS:
        if task not in ("help", "-h", "--help"):
            print(f"tasks: unknown task {task!r}; choose one of: "
                  f"{', '.join(sorted(TASKS | HCCWATCH_COMMANDS))}", file=sys.stderr)
            return 2
        print(__doc__)
        return 0
    ensure_venv()
    if task == "test":
        return run(str(BIN / "python"), "-m", "pytest", *rest)
    if task == "bench":
        return run(str(BIN / "python"), "-m", "bench", *rest)
    if task == "mutate":
        return mutate(rest)
    if task == "lint":
        return run(str(BIN / "ruff"), "check", ".")
    return run(str(BIN / "hccwatch"), task, *rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
