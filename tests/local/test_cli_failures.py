"""No tracebacks, ever (issue #10, item 2): every subcommand, walked through what a first user hit —
no AWS credentials, no region, no network, a folder where a file goes, a file where a folder goes, a
missing work folder, a closed pipe. Each ends in one clear line (or one JSON error) and exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from forgeflow_tools.cli.main import main
from forgeflow_tools.examples import write_examples

S3 = "s3://forgeflow-nowhere/incoming/data.jsonl"
AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
)


@pytest.fixture
def data(tmp_path: Path) -> dict[str, Path]:
    files = write_examples(tmp_path / "examples")
    small = tmp_path / "small.jsonl"
    small.write_bytes(b"".join(files["support"].read_bytes().splitlines(keepends=True)[:20]))
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "sources:\n"
        f"  - {{name: customer, role: customer, uri: {small}, weight: 0.7}}\n"
        f"  - {{name: general, uri: {files['general']}, weight: 0.3}}\n"
    )
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_folder").mkdir()
    return {"small": small, "plan": plan, "file": tmp_path / "a_file", "folder": tmp_path / "a_folder"}


def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, credentials: bool, region: bool) -> None:
    """An AWS environment with nothing configured (or only what is asked for): never any network."""
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "empty-aws-config"
    empty.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata lookups
    if credentials:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    if region:
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def aws_commands(data: dict[str, Path], out: Path) -> list[list[str]]:
    return [
        ["validate", S3],
        ["convert", S3, str(out / "converted.jsonl")],
        ["convert", str(data["small"]), "s3://forgeflow-nowhere/out/converted.jsonl"],
        ["split", S3, str(out / "split"), "--validation-fraction", "0.1"],
        ["mix", "--plan", "s3://forgeflow-nowhere/plan.yaml", "--out", str(out / "mix")],
        ["mix", "--plan", str(data["plan"]), "--out", "s3://forgeflow-nowhere/mix/"],
        ["runs", "list", "--stack", "forgeflow"],
        ["runs", "show", "some-run", "--stack", "forgeflow"],
    ]


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_clear_line(code: int, err: str, *words: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize(
    ("credentials", "region", "endpoint", "says"),
    [
        (False, False, None, ("credentials", "region")),
        (False, True, None, ("credentials",)),
        (True, True, "http://127.0.0.1:9", ("cannot reach AWS",)),
    ],
    ids=["nothing", "no-credentials", "no-network"],
)
def test_aws_commands_without_credentials_region_or_network(
    credentials: bool,
    region: bool,
    endpoint: str | None,
    says: tuple[str, ...],
    data: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    environment(monkeypatch, tmp_path, credentials=credentials, region=region)
    if endpoint:  # loopback port 9 (discard): refused at once, never leaves the machine
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    for argv in aws_commands(data, tmp_path / "out"):
        code, _, err = run(capsys, argv)
        assert code == 2, (argv, err)
        assert "Traceback" not in err
        assert len(err.strip().splitlines()) == 1, (argv, err)
        assert any(word in err for word in says), (argv, err)


def test_paths_of_the_wrong_kind(
    data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small, file, folder = str(data["small"]), str(data["file"]), str(data["folder"])
    cases = [
        (["validate", small, "--report", folder], folder),
        (["convert", small, str(tmp_path / "c.jsonl"), "--report", folder], folder),
        (["convert", small, folder], folder),
        (["split", small, file, "--validation-fraction", "0.1"], file),
        (["mix", "--plan", str(data["plan"]), "--out", file], file),
        (
            ["mix", "--plan", str(data["plan"]), "--out", str(tmp_path / "m"), "--workdir", "/nonexistent"],
            "/nonexistent",
        ),
        (["recipe", "render", "--config", folder], folder),
        (["runs", "list", "--local", "--runs-dir", file], file),
        (["local", "run", folder], folder),
        (["local", "run", small, "--config", folder], folder),
    ]
    for argv, named in cases:
        code, _, err = run(capsys, argv)
        assert_one_clear_line(code, err, named)


def test_json_errors_are_one_object_on_stdout(
    data: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, ["runs", "show", "nope", "--local", "--runs-dir", str(data["folder"]), "--output", "json"]
    )
    assert code == 2
    document = json.loads(out)
    assert set(document) == {"error"}
    assert set(document["error"]) == {"code", "message"}


def test_a_closed_pipe_ends_quietly(data: dict[str, Path], tmp_path: Path) -> None:
    """`forgeflow … | head -1`: the reader leaves early; no BrokenPipeError traceback."""
    big = tmp_path / "big.jsonl"
    big.write_bytes(data["small"].read_bytes() * 200)
    command = [sys.executable, "-m", "forgeflow_tools.cli.main", "validate", str(big), "--report", "-"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
    assert process.stdout is not None
    process.stdout.readline()
    process.stdout.close()
    _, err = process.communicate(timeout=60)
    assert b"Traceback" not in err, err.decode()
    assert process.returncode in (0, 2)


def test_recipe_render_warns_on_stderr_and_refuses_a_negative_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("model: lite\n")
    code, _, err = run(capsys, ["recipe", "render", "--config", str(config)])
    assert code == 0
    assert "warning [NO_STATS]" in err
    code, _, err = run(capsys, ["recipe", "render", "--config", str(config), "--budget", "-5"])
    assert_one_clear_line(code, err, "--budget")


def test_runs_list_refuses_a_negative_limit(
    data: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, ["runs", "list", "--local", "--runs-dir", str(data["folder"]), "--limit", "-1"]
    )
    assert_one_clear_line(code, err, "--limit")
