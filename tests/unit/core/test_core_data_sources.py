"""Every numeric fact in recipes/data/* and jobs/data/* carries its source in the data file (issue #12).

A number is sourced when one of these cites a source (a seed file name, a repository path, an AWS doc page,
or the word "assumption" for a figure that is one):
- a `source`, `quote` or `sources` key of the mapping holding it or of any mapping above it;
- a `# source: …` comment on its line or on the line of a key above it;
- the file's header comment, when it has a `# Source…:` line (one source for the whole file).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

LAYER = Path(__file__).resolve().parents[3] / "layers" / "forgeflow" / "forgeflow"
DATA_FILES = sorted((LAYER / "recipes" / "data").rglob("*.yaml")) + sorted(
    (LAYER / "jobs" / "data").rglob("*.yaml")
)
SOURCE_KEYS = ("source", "quote", "sources")
# seed 004_07c38bb1ee949475 / "seed 004"; owner/repository (+ path); the AWS DG and user-guide pages; the
# abbreviations bounds.yaml defines in its header (DG-SFT, HPR-TPL, …); an explicit assumption.
CITATION = re.compile(
    r"\d{3}_[0-9a-f]{16}|seed \d{3}|\baws/[\w.-]+|AWS SageMaker DG|\bAWS\b.*\bpage\b|"
    r"\b(DG|HPR)(-[A-Z]+)?\b|\bFORGE\b|[Aa]ssum(ption|ed)|limits\.yaml"
)


def _header(text: str) -> list[str]:
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return lines


def _cites(text: object) -> bool:
    return isinstance(text, str) and bool(CITATION.search(text))


def _inline_source(lines: list[str], line_no: int) -> bool:
    _, _, comment = lines[line_no].partition(" # ")
    return comment.lower().startswith("source:") and _cites(comment)


def _numbers(
    node: yaml.Node, lines: list[str], covered: bool, keys: list[int]
) -> Iterator[tuple[int, str, bool]]:
    """(line, value, sourced) of every numeric scalar under `node`."""
    if isinstance(node, yaml.MappingNode):
        here = covered or any(
            key.value in SOURCE_KEYS and _cites(yaml.safe_load(yaml.serialize(value)) if value else None)
            for key, value in node.value
        )
        for key, value in node.value:
            if key.value not in SOURCE_KEYS:
                yield from _numbers(value, lines, here, [*keys, key.start_mark.line])
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _numbers(item, lines, covered, keys)
    elif node.tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
        line = node.start_mark.line
        sourced = covered or any(_inline_source(lines, n) for n in [*keys, line])
        yield line + 1, node.value, sourced


def unsourced(text: str) -> list[tuple[int, str]]:
    """(line, value) of the numbers in a YAML data file that carry no source."""
    header = _header(text)
    file_wide = any(re.match(r"#\s*Sources?\b[^:]*:", line) for line in header) and _cites("\n".join(header))
    root = yaml.compose(text)
    if root is None:
        return []
    lines = text.splitlines()
    return [(line, value) for line, value, ok in _numbers(root, lines, file_wide, []) if not ok]


@pytest.mark.parametrize("path", DATA_FILES, ids=lambda p: str(p.relative_to(LAYER)))
def test_every_number_in_a_data_file_carries_its_source(path: Path) -> None:
    missing = unsourced(path.read_text(encoding="utf-8"))
    assert not missing, f"{path.name}: numbers without a source at lines {missing}"


def test_the_checker_finds_an_unsourced_number() -> None:
    text = "rules:\n  - {key: a, max: 3, source: 'HPR-TPL nova_sft'}\n  - {key: b, max: 4}\nfactor: 0.4\n"
    assert unsourced(text) == [(3, "4"), (4, "0.4")]


def test_the_checker_accepts_a_file_wide_source_and_inline_sources() -> None:
    assert unsourced("# Source: aws/sagemaker-hyperpod-recipes x.yaml\na: 1\n") == []
    assert unsourced("# A header that cites nothing\na: 1\n") == [(2, "1")]
    assert unsourced("a: 1  # source: assumption (not measured)\nb:  # source: seed 004\n  c: 2\nd: 3\n") == [
        (4, "3")
    ]
    assert DATA_FILES, "no data files found"
