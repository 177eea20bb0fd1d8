"""Where the data-mixing figures come from (issue #12, row 7): the 75/25 blend and MMLU 0.75 → 0.47 / 0.74
are the public "Nova Forge data mixing in action" write-up's, with Nova-curated Forge data as its 25 %;
seed 000_b1782acd67d6d0d4 reports only +12 F1 with near-baseline MMLU."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_readme_attributes_the_mixing_figures_and_names_the_curated_data() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    why = readme[readme.index("Why mixing") :].split("\n\n", 1)[0]
    assert "Nova Forge data mixing in action" in why
    assert "000_b1782acd67d6d0d4" in why
    assert "Nova-curated Forge data" in why
    assert "your own curated" in why


def test_the_default_share_comment_does_not_credit_the_seed_with_75_25() -> None:
    mix = (ROOT / "layers/forgeflow/forgeflow/pipeline/steps/mix.py").read_text(encoding="utf-8")
    assert "the share the seed" not in mix
    assert "Nova Forge data mixing in action" in mix
