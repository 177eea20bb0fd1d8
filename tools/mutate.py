"""Mutation testing of the modules whose rules users rely on (issue #17): `make mutate`.

One mutmut run per module, one module at a time, smallest first, each against only the fast unit tests of
its own folder (TARGETS). mutmut 3 finds the code to mutate only at the root, `src/` or `source/`
(mutmut/utils/file_utils.py, setup_source_paths) and derives module names from the path, so each run
works in a staging copy of the tracked files with the layer's `forgeflow/` package at the root; the
working tree is never mutated. Writes .forgeflow/mutate/report.json and survivors.txt; prints the kill
rate per module. Exit 0 when every module ran, 1 when the time budget left some unrun, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYER = Path("layers/forgeflow")
OUT = ROOT / ".forgeflow/mutate"

# The record rules' tests: golden reports, corpora and tables (code, JSON pointer, message of every
# finding), about 2 s in all. The whole of tests/unit/dataset (adding the fast path's and the fuzz's
# hypothesis properties, the parallel and S3 runs: 13 s) made walk.py's run 4x slower (174 s against 41 s,
# 2026-12-01, one run each) for six more kills, all in holds_reserved, now pinned by test_dataset_walk.py.
_RECORD_RULES = tuple(
    f"tests/unit/dataset/test_dataset_{name}.py"
    for name in (
        "findings_golden",
        "golden",
        "corpus",
        "roles",
        "media",
        "media_mix",
        "validation_report",
        "walk",
        "blocks",
        "record_outcome",
        "record_walk_edges",
    )
)

# module (under the layer's forgeflow/) -> the unit tests that hold its rules. Never e2e or local runs.
# Modules of constants only (dataset/rules.py, dataset/options.py) have no mutants for mutmut 3.
TARGETS: dict[str, tuple[str, ...]] = {
    "dataset/record.py": _RECORD_RULES,
    "dataset/blocks.py": _RECORD_RULES,
    "dataset/walk.py": _RECORD_RULES,
    "dataset/validation.py": ("tests/unit/dataset",),
    "mixing/apportion.py": ("tests/unit/mixing",),
    "mixing/selection.py": ("tests/unit/mixing",),
    "mixing/allocate.py": ("tests/unit/mixing",),
    "recipes/bounds.py": ("tests/unit/recipes",),
    "recipes/limits.py": ("tests/unit/recipes",),
    "jobs/requests.py": ("tests/unit/jobs",),
    # The steps on fakes only: the handler tests on moto reach them too, at seconds per mutant.
    "pipeline/steps/register.py": ("tests/unit/pipeline/test_pipeline_register.py",),
    "pipeline/steps/outcome.py": (
        "tests/unit/pipeline/test_pipeline_outcome.py",
        "tests/unit/pipeline/test_pipeline_outcome_ends.py",
        "tests/unit/pipeline/test_pipeline_steps.py",
    ),
    # Its own folder holds the classification and report tests (about 2 s); the gen_qa metrics' tests are
    # in tests/unit/pipeline.
    "evaluation/metrics.py": ("tests/unit/evaluation", "tests/unit/pipeline", "tests/unit/jobs"),
}

# mutmut exit codes (mutmut/stats.py, status_by_exit_code): 1 and 3 are kills; a timeout counts as killed
# too (the mutant made the tests hang), as mutmut's own score does.
KILLED = {1, 3}
TIMEOUT = {36, -24, 24, 152, 255}
SURVIVED = {0}


@dataclass
class ModuleResult:
    module: str
    status: str  # "ran", "not run (budget)", "failed"
    seconds: float = 0.0
    total: int = 0
    killed: int = 0
    timeout: int = 0
    survived: int = 0
    other: int = 0  # no tests, skipped, suspicious, segfault, not checked
    survivors: list[dict[str, str]] = field(default_factory=list)

    @property
    def kill_rate(self) -> float | None:
        return (self.killed + self.timeout) / self.total if self.total else None


def _tracked_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [Path(p) for p in listed.split("\0") if p and (ROOT / p).is_file()]


def _toml_list(items: list[str]) -> str:
    return json.dumps(items)  # a JSON array of strings is a TOML array of basic strings


def _stage(module: str, tests: tuple[str, ...], stage: Path) -> None:
    """Copy the tree (tests read docs/, the template, the layer's data by path); forgeflow/ also at root."""
    shutil.rmtree(stage, ignore_errors=True)
    for rel in _tracked_files():
        targets = [stage / rel]
        if rel.is_relative_to(LAYER / "forgeflow"):
            targets.append(stage / rel.relative_to(LAYER))
        for target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, target)
    tops = sorted(p.name for p in stage.iterdir() if p.name not in {"forgeflow", "pyproject.toml"})
    (stage / "pyproject.toml").write_text(
        "[tool.pytest.ini_options]\n"
        'pythonpath = ["tests"]\n'
        'addopts = "-ra --strict-markers --import-mode=importlib -p no:cacheprovider"\n'
        'markers = ["slow: end-to-end runs on the embedded local runtime"]\n'
        'filterwarnings = ["ignore::DeprecationWarning:botocore.*",'
        ' "ignore:No application metrics to publish:UserWarning"]\n\n'
        "[tool.mutmut]\n"
        'source_paths = ["forgeflow"]\n'
        f"only_mutate = {_toml_list(['forgeflow/' + module])}\n"
        f"also_copy = {_toml_list(tops)}\n"
        f"pytest_add_cli_args_test_selection = {_toml_list(list(tests))}\n"
        'pytest_add_cli_args = ["-p", "no:xdist", "--hypothesis-profile", "mutate"]\n',
        encoding="utf-8",
    )


def _env(stage: Path) -> dict[str, str]:
    # Hypothesis keeps its example database out of the staged tree; the editable install's finder comes
    # after sys.path, so the staged mutants/ (put first by mutmut) is what the tests import.
    return {**os.environ, "HYPOTHESIS_STORAGE_DIRECTORY": str(stage / ".hypothesis")}


def _mutmut_run(stage: Path, max_children: int, timeout: float) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).with_name("mutmut"))
    return subprocess.run(
        [exe, "run", "--max-children", str(max_children)],
        cwd=stage,
        env=_env(stage),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# One process for every survivor's diff (`mutmut show` starts one per mutant).
_DIFFS = """
import json, sys
from pathlib import Path
from mutmut.mutation.diff_apply import get_diff_for_mutant
path, names = Path(sys.argv[1]), json.load(sys.stdin)
print(json.dumps({name: get_diff_for_mutant(name, path=path) for name in names}))
"""


def _diffs(stage: Path, module: str, names: list[str]) -> dict[str, str]:
    if not names:
        return {}
    proc = subprocess.run(
        [sys.executable, "-c", _DIFFS, f"forgeflow/{module}"],
        cwd=stage,
        env=_env(stage),
        input=json.dumps(names),
        capture_output=True,
        text=True,
        check=True,
    )
    diffs: dict[str, str] = json.loads(proc.stdout)
    return diffs


def _collect(result: ModuleResult, stage: Path) -> None:
    meta = stage / "mutants/forgeflow" / (result.module + ".meta")
    codes: dict[str, int | None] = json.loads(meta.read_text("utf-8"))["exit_code_by_key"]
    unkilled: dict[str, str] = {}
    for name, code in sorted(codes.items(), key=lambda kv: _natural(kv[0])):
        result.total += 1
        if code in KILLED:
            result.killed += 1
        elif code in TIMEOUT:
            result.timeout += 1
        elif code in SURVIVED:
            result.survived += 1
            unkilled[name] = "survived"
        else:
            result.other += 1
            unkilled[name] = f"mutmut exit code {code}"
    diffs = _diffs(stage, result.module, list(unkilled))
    result.survivors = [{"name": n, "status": s, "diff": diffs[n]} for n, s in unkilled.items()]


def _natural(name: str) -> tuple[str, int]:
    base, _, number = name.rpartition("__mutmut_")
    return base, int(number) if number.isdigit() else 0


def run_module(module: str, budget: float, max_children: int) -> ModuleResult:
    stage = OUT / "stage" / module.replace("/", "_").removesuffix(".py")
    _stage(module, TARGETS[module], stage)
    started = time.monotonic()
    try:
        proc = _mutmut_run(stage, max_children, budget)
    except subprocess.TimeoutExpired:
        return ModuleResult(module, "not run (budget)", time.monotonic() - started)
    result = ModuleResult(module, "ran", round(time.monotonic() - started, 1))
    if proc.returncode != 0:
        result.status = "failed"
        print(proc.stdout[-2000:], proc.stderr[-2000:], sep="\n", file=sys.stderr)
        return result
    _collect(result, stage)
    return result


def _by_size(modules: list[str]) -> list[str]:
    layer = ROOT / LAYER / "forgeflow"
    return sorted(modules, key=lambda m: (layer / m).stat().st_size)


def _write_report(results: list[ModuleResult]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rows = [{**asdict(r), "kill_rate": r.kill_rate} for r in results]
    (OUT / "report.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    lines = [f"## {s['name']} ({s['status']})\n{s['diff']}\n" for r in results for s in r.survivors]
    (OUT / "survivors.txt").write_text("\n".join(lines), encoding="utf-8")


def _print_table(results: list[ModuleResult]) -> None:
    print(f"{'module':32} {'mutants':>7} {'killed':>6} {'timeout':>7} {'survived':>8} {'other':>5} "
          f"{'kill rate':>9} {'seconds':>7}")  # fmt: skip
    for r in results:
        rate = f"{r.kill_rate:.1%}" if r.kill_rate is not None else r.status
        print(f"{r.module:32} {r.total:7} {r.killed:6} {r.timeout:7} {r.survived:8} {r.other:5} "
              f"{rate:>9} {r.seconds:7.0f}")  # fmt: skip
    ran = [r for r in results if r.total]
    total = sum(r.total for r in ran)
    if total:
        dead = sum(r.killed + r.timeout for r in ran)
        print(f"{'all modules run':32} {total:7} {'':6} {'':7} {'':8} {'':5} {dead / total:>9.1%}")
    print(f"report: {OUT / 'report.json'}; survivors with their diffs: {OUT / 'survivors.txt'}")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tools/mutate.py", description=__doc__.split("\n")[0])
    parser.add_argument(
        "modules",
        nargs="*",
        help=f"modules to mutate, in this order (default: all, smallest first): {', '.join(TARGETS)}",
    )
    parser.add_argument("--budget", type=float, default=3600.0, help="total seconds for all modules")
    parser.add_argument("--max-children", type=int, default=2, help="mutants tested at once")
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in TARGETS]
    if unknown:
        parser.error(f"unknown module(s) {unknown}: choose from {', '.join(TARGETS)}")
    if args.budget <= 0 or args.max_children < 1:
        parser.error("--budget must be > 0 seconds and --max-children >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if shutil.which("mutmut", path=str(Path(sys.executable).parent)) is None:
        print("mutmut is not installed: run `make mutate` (installs the `mutate` extra)", file=sys.stderr)
        return 2
    deadline = time.monotonic() + args.budget
    results: list[ModuleResult] = []
    for module in args.modules or _by_size(list(TARGETS)):  # given modules run in the given order
        left = deadline - time.monotonic()
        if left <= 0:
            results.append(ModuleResult(module, "not run (budget)"))
            continue
        print(f"mutating {module} against {' '.join(TARGETS[module])} ({left:.0f} s of budget left)")
        results.append(run_module(module, left, args.max_children))
        _write_report(results)
    _write_report(results)
    _print_table(results)
    return 0 if all(r.status == "ran" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
