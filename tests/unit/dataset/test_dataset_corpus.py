"""The malformed corpus: every file is rejected with its rule's code at the right line and JSON pointer."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from forgeflow.dataset.codes import RULES
from forgeflow.dataset.converse import DPORecord, SFTRecord
from forgeflow.dataset.validation import ValidationOptions, validate_stream, validate_uri
from forgeflow.nova import NovaModel
from forgeflow.storage import Storage

CORPUS = Path(__file__).parent / "corpus"
VALID = Path(__file__).parent / "valid"
EXPECTED: dict[str, dict[str, Any]] = json.loads((CORPUS / "expected.json").read_text())
VALID_OPTIONS: dict[str, dict[str, Any]] = json.loads((VALID / "options.json").read_text())
# Rules about the file, the method of the whole file or the record count: no single-record model can judge.
NOT_RECORD_RULES = {
    "EMPTY_FILE", "BOM", "INVALID_UTF8", "JSON_PARSE", "TRUNCATED_LINE", "LINE_TOO_LONG", "JSON_ARRAY_FILE",
    "NOT_AN_OBJECT", "NESTING_TOO_DEEP", "BLANK_LINE", "CRLF_LINE_ENDING", "UNKNOWN_KEY", "METHOD_MISMATCH",
    "TOO_FEW_RECORDS", "TOO_MANY_RECORDS", "IMAGES_AND_VIDEOS_IN_DATASET",
    "TOOLS_NOT_SUPPORTED",  # a warning the models cannot know --strict of
}  # fmt: skip


def _validate(name: str, options: dict[str, Any]) -> dict[str, Any]:
    path = CORPUS / f"{name}.jsonl"
    return validate_uri(Storage(), str(path), ValidationOptions(**options)).to_dict()


def test_the_corpus_has_at_least_40_distinct_cases() -> None:
    files = {path.stem for path in CORPUS.glob("*.jsonl")}
    assert files == set(EXPECTED)
    assert len(files) >= 40


def test_every_rule_has_a_corpus_case_or_a_dedicated_test() -> None:
    covered = {case["code"] for case in EXPECTED.values()}
    covered |= {"TOO_MANY_RECORDS", "MEDIA_NOT_FOUND", "MEDIA_TOO_LARGE"}  # dedicated tests
    assert covered == set(RULES)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_case_is_reported_with_its_code_line_and_path(name: str) -> None:
    case = EXPECTED[name]
    report = _validate(name, case["options"])
    found = [(i["code"], i["line"], i["path"]) for i in report[case["in"]]]
    assert (case["code"], case["line"], case["path"]) in found, found
    if case["in"] == "errors":
        assert report["valid"] is False
    else:
        assert report["valid"] is True
    for issue in report["errors"] + report["warnings"]:
        assert issue["message"].count("; fix: ") == 1  # what is wrong, then how to fix it


@pytest.mark.parametrize("name", sorted(VALID_OPTIONS))
def test_valid_files_have_no_finding(name: str) -> None:
    report = validate_uri(Storage(), str(VALID / f"{name}.jsonl"), ValidationOptions(**VALID_OPTIONS[name]))
    assert report.to_dict()["errors"] == []
    assert report.warning_count == 0
    assert report.valid_records == report.records > 0


def _model_for(path: Path) -> type[SFTRecord] | type[DPORecord]:
    first = orjson.loads(path.read_bytes().splitlines()[0])
    return DPORecord if "candidates" in first["messages"][-1] else SFTRecord


@pytest.mark.parametrize("name", sorted(VALID_OPTIONS))
def test_models_accept_every_valid_record(name: str) -> None:
    path = VALID / f"{name}.jsonl"
    model = _model_for(path)
    context = {"model": NovaModel(VALID_OPTIONS[name].get("model", "lite"))}
    for line in path.read_bytes().splitlines():
        record = orjson.loads(line)
        assert model.model_validate(record, context=context).to_record() == record


RECORD_CASES = sorted(
    name for name, case in EXPECTED.items() if case["in"] == "errors" and case["code"] not in NOT_RECORD_RULES
)


@pytest.mark.parametrize("name", RECORD_CASES)
def test_models_reject_what_the_validator_rejects(name: str) -> None:
    case = EXPECTED[name]
    path = CORPUS / f"{name}.jsonl"
    lines = path.read_bytes().splitlines()
    record = orjson.loads(lines[case["line"] - 1])
    model = DPORecord if case["code"] == "MISSING_CANDIDATES" else _model_for(path)
    with pytest.raises(ValidationError):
        model.model_validate(record, context={"model": NovaModel(case["options"].get("model", "lite"))})


def test_too_many_records_for_bedrock(sft_record: dict[str, Any]) -> None:
    data = (orjson.dumps(sft_record) + b"\n") * 20_001
    report = validate_stream(io.BytesIO(data), ValidationOptions(platform="bedrock"))
    assert report.error_codes == {"TOO_MANY_RECORDS": 1}
    assert report.stats.duplicates == 20_000


def test_sagemaker_platform_has_no_record_count_bounds(sft_record: dict[str, Any]) -> None:
    data = (orjson.dumps(sft_record) + b"\n") * 3
    assert validate_stream(io.BytesIO(data), ValidationOptions()).valid


def test_a_50_mb_single_line_gets_a_precise_error(sft_record: dict[str, Any]) -> None:
    huge = b'{"messages": [{"role": "user", "content": [{"text": "' + b"a" * (50 * 1024 * 1024) + b'"}]}]}'
    data = huge + b"\n" + orjson.dumps(sft_record) + b"\n"
    report = validate_stream(io.BytesIO(data), ValidationOptions())
    assert [(issue.line, issue.code) for issue in report.errors] == [(1, "LINE_TOO_LONG")]
    assert f"{len(huge):,} bytes" in report.errors[0].message
    assert report.records == 2
    assert report.valid_records == 1
