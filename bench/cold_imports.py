"""Cold import time of every handler from the built artifact, and the artifact's sizes (issue #11).

    make sam-build && .venv/bin/python bench/cold_imports.py [--build-dir .aws-sam/build] [--repeat 3]

Each handler is imported in a fresh interpreter whose sys.path is its built folder, the layer's python/
and the standard library (`forgeflow_tools.artifact.cold_import`). The built layer's wheels are for Lambda
(CPython 3.12, manylinux aarch64), so the imports run on its HOST TWIN: the same files, with only the
compiled distributions swapped for this interpreter's build of the same versions (docs/deploy.md).
Two figures per handler, the median of --repeat runs:
- "as shipped": no bytecode (-B), as on Lambda, whose /opt and /var/task are read-only and hold no .pyc
  (the layer is built --no-compile: bytecode of this host's Python would be useless on 3.12);
- "with bytecode": the same import once .pyc files exist, the floor a bytecode-shipping build would reach.
Goal: <= 400 ms as shipped. Timings on a shared machine are noisy: compare handlers within one run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from forgeflow_tools.artifact import (
    BUILD_DIR,
    LIMIT_BYTES,
    built_functions,
    cold_import,
    folder_bytes,
    host_twin,
)

GOAL_MS = 400.0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--build-dir", type=Path, default=BUILD_DIR)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    functions = built_functions(args.build_dir)
    layer = functions[0].layers[0]
    layer_mb = folder_bytes(layer.parent) / 1e6
    print(f"artifact {args.build_dir}: layer {layer.parent.name} {layer_mb:.1f} MB unzipped")
    with tempfile.TemporaryDirectory(prefix="forgeflow-twin-") as scratch:
        twin = host_twin(layer, Path(scratch) / "python")  # never gets a .pyc: the "as shipped" runs
        warm_twin = shutil.copytree(twin, Path(scratch) / "warm" / "python")
        print("imports run on the host twin of the layer (compiled wheels re-installed for this interpreter)")
        print(f"{'function':<28} {'size MB':>8} {'as shipped ms':>14} {'with bytecode ms':>17}")
        worst = 0.0
        for function in functions:
            shipped = [cold_import(function.code, twin).seconds for _ in range(args.repeat)]
            code = shutil.copytree(function.code, Path(scratch) / function.logical_id)  # .pyc go to a copy
            cached = [cold_import(code, warm_twin, bytecode=True).seconds for _ in range(args.repeat + 1)]
            median_ms = statistics.median(shipped) * 1000
            worst = max(worst, median_ms)
            print(
                f"{function.logical_id:<28} {function.size_bytes() / 1e6:8.1f} {median_ms:14.0f} "
                f"{statistics.median(cached[1:]) * 1000:17.0f}"
            )
    verdict = "met" if worst <= GOAL_MS else "NOT met"
    print(f"slowest handler as shipped: {worst:.0f} ms (goal <= {GOAL_MS:.0f} ms: {verdict})")
    print(f"size cap per function with its layers: {LIMIT_BYTES / 1e6:.0f} MB (Lambda's limit: 250 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
