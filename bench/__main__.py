"""`python -m bench [--quick] [NAME ...]`: run every bench/*.py module that has
`run(quick: bool = False) -> list[dict]`, print one table, and write it into bench/README.md
between the results markers. A module that fails shows as a failed row; the others still run."""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import subprocess
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).parent
README = HERE / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"
COLUMNS = ("benchmark", "result", "target", "ok")
INTRO = """# Benchmarks

Each module here exposes `run(quick: bool = False) -> list[dict]` returning rows with
`benchmark`, `result`, `target` and `ok`. Run them all with `python -m bench` (or
`python3 tasks.py bench`; `--quick` for a smaller, faster pass).
"""


def modules(names: list[str]) -> list[str]:
    found = sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if not m.name.startswith("_"))
    return [name for name in found if not names or name in names]


def run_module(name: str, quick: bool) -> list[dict]:
    """The module's rows, measured in a fresh interpreter (so one benchmark's leftovers,
    such as a large live heap that slows the garbage collector, never weigh on the next), or
    one failed row saying why."""
    command = [sys.executable, "-m", "bench", "--child", name] + (["--quick"] if quick else [])
    result = subprocess.run(command, stdout=subprocess.PIPE, text=True, cwd=HERE.parent)
    try:
        return json.loads(result.stdout.splitlines()[-1])
    except (IndexError, ValueError):
        return [{"module": name, "benchmark": f"{name} (failed to run)",
                 "result": f"exit code {result.returncode}; see its output above",
                 "target": "runs", "ok": False}]


def child(name: str, quick: bool) -> int:
    """Run one module here and print its rows as one JSON line (what run_module reads)."""
    try:
        module = importlib.import_module(f"bench.{name}")
        rows = module.run(quick=quick) if callable(getattr(module, "run", None)) else []
    except Exception as error:  # one broken benchmark must not hide the others' results
        traceback.print_exc()
        rows = [{"benchmark": f"{name} (failed to run)",
                 "result": f"{type(error).__name__}: {error}", "target": "runs", "ok": False}]
    print(json.dumps([{"module": name, **row} for row in rows], default=str))
    return 0


def cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(rows: list[dict]) -> str:
    lines = ["| module | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    lines += ["| " + " | ".join(cell(row.get(c, "")) for c in ("module", *COLUMNS)) + " |"
              for row in rows]
    return "\n".join(lines)


def write_readme(text: str, quick: bool) -> None:
    """Replace what is between the markers (adding the section, or the file, if missing)."""
    note = "quick pass (`--quick`)" if quick else "full run"
    block = f"{START}\n_Last `python -m bench`: {note}._\n\n{text}\n{END}"
    current = README.read_text(encoding="utf-8") if README.exists() else INTRO
    if START in current and END in current:
        before, rest = current.split(START, 1)
        updated = before + block + rest.split(END, 1)[1]
    else:
        updated = current.rstrip("\n") + "\n\n## Results (all benchmarks)\n\n" + block + "\n"
    README.write_text(updated, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller data, fewer repeats")
    parser.add_argument("names", nargs="*", metavar="NAME", help="only these modules (e.g. ctgov)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.names[0], args.quick)
    rows: list[dict] = []
    for name in modules(args.names):
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        rows += run_module(name, args.quick)
    text = table(rows)
    print(text)
    if not args.names:
        write_readme(text, args.quick)
    return 0 if all(row.get("ok") for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
