"""`forgeflow runs report RUN --stack NAME` and `runs show --stack` against a deployed stack (issue #13).

The stack is the local runtime's served over HTTP by moto (tests/e2e/test_e2e_deployed_cli.py's `deployed`
fixture); the CLI downloads the report from the stack's data bucket with boto3, as on a real account.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from forgeflow_tools.cli.main import main
from forgeflow_tools.local.runtime import LocalRuntime

from .test_e2e_deployed_cli import FAST, STACK, deployed  # noqa: F401 (the fixture)

pytestmark = pytest.mark.slow


def test_runs_report_downloads_the_report_from_the_stacks_bucket(
    deployed: LocalRuntime,  # noqa: F811
    example_data: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["run", str(example_data["support"]), "--stack", STACK, "--output", "json", *FAST])
    run = orjson.loads(capsys.readouterr().out.splitlines()[-1])
    assert code == 0, run
    run_id = run["ledger"]["run_id"]
    out = tmp_path / "report"
    code = main(["runs", "report", run_id, "--stack", STACK, "--out", str(out), "--output", "json"])
    document = orjson.loads(capsys.readouterr().out)
    assert code == 0, document
    for name in ("report.json", "report.html"):
        assert (out / name).read_bytes() == deployed.read(f"runs/{run_id}/report/{name}")
    assert document["verdict"] == orjson.loads((out / "report.json").read_bytes())["verdict"]["verdict"]
    code = main(["runs", "show", run_id, "--stack", STACK])
    assert code == 0
    assert f"verdict     {document['verdict']}" in capsys.readouterr().out
    code = main(["runs", "report", "no-such-run", "--stack", STACK])
    assert code == 2
    assert "no-such-run" in capsys.readouterr().err
