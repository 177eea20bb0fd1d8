"""The run config means one thing: the recipe a run uploads is the recipe `forgeflow recipe render` prints.

Issue #10: the docs' run.yaml rendered `max_length: 8192`, `max_epochs: 3` under `recipe render`, while the
pipeline trained the base recipe (a top-level, empty `overrides` replaced `training.overrides`), and a
config `recipe render` refuses (lr 1.5) ran to SUCCEEDED. Both paths now call `training_config_for_run`.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forgeflow.pipeline.errors import MixPlanInvalid, PreflightRefused, RecipeInvalid, RequestInvalid
from forgeflow_tools.cli.main import main as cli
from forgeflow_tools.examples import write_examples


def _docs_run_yaml() -> str:
    """The example `run.yaml` of docs/recipes.md, read from the docs (never a second copy)."""
    docs = (Path(__file__).resolve().parents[3] / "docs/recipes.md").read_text()
    section = docs[docs.index("## Run config (`run.yaml`) reference") :]
    return section.split("```yaml\n", 1)[1].split("```", 1)[0]


DOCS_RUN_YAML = _docs_run_yaml()


class Pipeline:
    """Register → validate → mix once; then each config is a new upload of the dataset with that sidecar,
    registered as its own run, whose RenderRecipe reuses the first run's validation and mix."""

    def __init__(self, stack: Any, invoke: Any, tmp_path: Path) -> None:
        from tests.unit.pipeline.test_pipeline_handlers import load_event, upload_examples

        self.stack, self.invoke, self.load_event = stack, invoke, load_event
        self.dataset = write_examples(tmp_path)["support"].read_bytes()
        upload_examples(stack, tmp_path)
        run_id = self._register()
        self.validation = invoke("validate_dataset", load_event("validate_dataset", run_id))
        self.mix = invoke("mix_data", {**load_event("mix_data", run_id), "validation": self.validation})

    def _register(self, sidecar: str | None = None) -> str:
        if sidecar is not None:
            self.stack.put("incoming/support_sft.forgeflow.yaml", sidecar.encode())
        uploaded = self.stack.put("incoming/support_sft.jsonl", self.dataset)
        trigger = self.load_event("register_run")
        trigger["event"]["detail"]["object"].update(
            {"version-id": uploaded["VersionId"], "etag": uploaded["ETag"].strip('"')}
        )
        return str(self.invoke("register_run", trigger)["run_id"])

    def uploaded_recipe(self, sidecar: str) -> tuple[str, bytes]:
        """The run id and the full recipe RenderRecipe uploads (RecipeInvalid propagates)."""
        run_id = self._register(sidecar)
        event = {**self.load_event("render_recipe", run_id), "validation": self.validation, "mix": self.mix}
        self.invoke("render_recipe", event)
        return run_id, self.stack.get(f"runs/{run_id}/recipe/train/recipe.yaml")

    def preflight(self, run_id: str) -> dict[str, Any]:
        return dict(orjson.loads(self.stack.get(f"runs/{run_id}/recipe/preflight.json")))


def rendered_by_cli(config: str, tmp_path: Path, *flags: str) -> tuple[int, bytes]:
    """`forgeflow recipe render --config`: exit code and the recipe document it prints (first document)."""
    path = tmp_path / "run.yaml"
    path.write_text(config)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli(["recipe", "render", "--config", str(path), *flags])
    printed = out.getvalue()
    recipe = printed.split("\n", 1)[1].split("---\n# pre-flight", 1)[0] if code != 2 and printed else ""
    return code, recipe.encode()


@pytest.fixture
def pipeline(stack: Any, invoke: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    # Every config is a run of its own that stays RUNNING (only RenderRecipe runs): room for all of them.
    monkeypatch.setenv("MAX_CONCURRENT_RUNS", "1000")
    return Pipeline(stack, invoke, tmp_path)


def test_the_docs_run_yaml_trains_what_recipe_render_prints(pipeline: Pipeline, tmp_path: Path) -> None:
    config = DOCS_RUN_YAML + "name: docs-example\n"
    code, printed = rendered_by_cli(config, tmp_path)
    assert code == 0
    _, uploaded = pipeline.uploaded_recipe(config)
    recipe = yaml.safe_load(uploaded)["training_config"]
    assert (recipe["max_length"], recipe["trainer"]["max_epochs"]) == (8192, 3)
    assert recipe["model"]["optim"]["lr"] == pytest.approx(2e-5)
    assert yaml.safe_load(uploaded)["run"]["replicas"] == 8
    assert uploaded == printed


def test_a_config_recipe_render_refuses_fails_the_recipe_stage(pipeline: Pipeline, tmp_path: Path) -> None:
    config = "training:\n  overrides:\n    training_config.model.optim.lr: 1.5\n"
    assert rendered_by_cli(config, tmp_path)[0] == 1
    with pytest.raises(RecipeInvalid, match=r"lr"):
        pipeline.uploaded_recipe(config)


def test_without_a_name_the_run_is_named_after_its_id(pipeline: Pipeline) -> None:
    run_id, uploaded = pipeline.uploaded_recipe("model: lite\n")
    assert yaml.safe_load(uploaded)["run"]["name"] == f"forgeflow-{run_id}"


def test_a_key_both_at_the_top_and_under_training_is_refused_by_both(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    config = "overrides: {}\ntraining:\n  overrides: {training_config: {max_length: 8192}}\n"
    assert rendered_by_cli(config, tmp_path)[0] == 1
    with pytest.raises(RequestInvalid, match="both at the top level and under `training:`"):
        pipeline.uploaded_recipe(config)


NOVA_1_OVERRIDES = {
    "training_config.max_length": st.sampled_from([1000, 4096, 8192, 32768, 65536]),
    "training_config.trainer.max_epochs": st.sampled_from([0, 1, 3, 200]),
    "training_config.model.optim.lr": st.sampled_from([1e-5, 2e-5, 1.5]),
}
NOVA_2_OVERRIDES = {
    "training_config.max_length": st.sampled_from([8192, 12000, 16384]),
    "training_config.max_steps": st.sampled_from([2, 20, 500]),
    "training_config.optim_config.lr": st.sampled_from([1e-5, 3.0]),
}


@st.composite
def run_configs(draw: st.DrawFn) -> dict[str, Any]:
    """A run config: model, technique and training keys, each at the top level or under `training:`."""
    model = draw(st.sampled_from(["lite", "micro", "pro", "lite-2"]))
    pool = NOVA_2_OVERRIDES if model == "lite-2" else NOVA_1_OVERRIDES
    keys = draw(st.lists(st.sampled_from(sorted(pool)), unique=True, max_size=3))
    nested = draw(st.booleans())
    overrides: dict[str, Any] = {}
    for key in keys:
        value = draw(pool[key])
        if nested:  # the nested spelling: {training_config: {trainer: {max_epochs: 3}}}
            *parents, leaf = key.split(".")
            node = overrides
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        else:
            overrides[key] = value
    fields: dict[str, Any] = {
        "name": "generated",
        "technique": draw(st.sampled_from(["sft-lora", "sft-full"])),
        "overrides": overrides,
    }
    if draw(st.booleans()):
        fields["replicas"] = draw(st.sampled_from([3, 4, 8, 16]))
    if draw(st.booleans()):
        fields["instance_type"] = draw(st.sampled_from(["ml.p5.48xlarge", "ml.p4d.24xlarge", "ml.g5.xlarge"]))
    config: dict[str, Any] = {"model": model}
    for key, value in fields.items():
        (config.setdefault("training", {}) if draw(st.booleans()) else config)[key] = value
    return config


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(config=run_configs())
def test_the_uploaded_recipe_is_what_recipe_render_prints(
    pipeline: Pipeline, tmp_path: Path, config: dict[str, Any]
) -> None:
    text = yaml.safe_dump(config, sort_keys=False)
    code, printed = rendered_by_cli(text, tmp_path)
    assert code in (0, 1), text
    if code == 1:  # refused by the recipe's bounds or by pre-flight (the stack's default run-cost cap)
        with pytest.raises((RecipeInvalid, PreflightRefused)):
            pipeline.uploaded_recipe(text)
        return
    _, uploaded = pipeline.uploaded_recipe(text)
    assert uploaded == printed, text


def test_no_curated_data_for_the_default_plan_names_the_prefix_and_the_fix_once(
    stack: Any, invoke: Any, tmp_path: Path
) -> None:
    from tests.unit.pipeline.test_pipeline_handlers import BUCKET, load_event

    files = write_examples(tmp_path)
    uploaded = stack.put("incoming/support_sft.jsonl", files["support"].read_bytes())
    trigger = load_event("register_run")
    trigger["event"]["detail"]["object"].update(
        {"version-id": uploaded["VersionId"], "etag": uploaded["ETag"].strip('"')}
    )
    run_id = invoke("register_run", trigger)["run_id"]
    validation = invoke("validate_dataset", load_event("validate_dataset", run_id))
    with pytest.raises(MixPlanInvalid) as raised:
        invoke("mix_data", {**load_event("mix_data", run_id), "validation": validation})
    message = str(raised.value)
    prefix = f"s3://{BUCKET}/curated/sft/"
    assert message.count(prefix) == 2  # where it is missing, and where to upload
    assert "set `mix`" in message
    assert message.count("docs/mixing.md") == 1


GROUP_ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/forgeflow"
BASE_ARN = (
    "arn:aws:sagemaker:us-east-1:aws:hub-content/SageMakerPublicHub/Model/nova-textgeneration-lite-v2/1.0.0"
)
# The stack parameters of a serverless run, as `recipe render` flags and as the functions' environment.
SERVERLESS_FLAGS = ("--model-package-group-arn", GROUP_ARN, "--base-model-arn", BASE_ARN, "--accept-eula")


@pytest.fixture
def serverless_pipeline(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    monkeypatch.setenv("MODEL_PACKAGE_GROUP_ARN", GROUP_ARN)
    monkeypatch.setenv("BASE_MODEL_ARN_LITE_2", BASE_ARN)
    monkeypatch.setenv("ACCEPT_BASE_MODEL_EULA", "true")
    return pipeline


def test_a_serverless_config_renders_what_the_pipeline_uploads(
    serverless_pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Issue #16 follow-up: `recipe render` refused `compute: serverless` ("Extra inputs are not permitted").
    config = "model: lite-2\ncompute: serverless\nname: sl\n"
    code, printed = rendered_by_cli(config, tmp_path, *SERVERLESS_FLAGS)
    assert code == 0
    run_id, uploaded = serverless_pipeline.uploaded_recipe(config)
    assert uploaded == printed
    assert main_json(capsys, config, tmp_path, *SERVERLESS_FLAGS) == (
        serverless_pipeline.preflight(run_id),
        {
            "BaseModelArn": BASE_ARN,
            "AcceptEula": True,
            "JobType": "FineTuning",
            "CustomizationTechnique": "SFT",
            "SequenceLength": "32K",
            "Peft": "LORA",
        },
    )


def test_a_serverless_config_without_the_stack_settings_is_refused_by_both(
    pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = "model: lite-2\ncompute: serverless\n"
    assert rendered_by_cli(config, tmp_path)[0] == 1
    with pytest.raises(PreflightRefused, match="BaseModelArnLite2"):
        pipeline.uploaded_recipe(config)


def test_stack_only_keys_in_a_config_are_refused_by_both(pipeline: Pipeline, tmp_path: Path) -> None:
    # The request's parser refuses `prices` (a request could price p5 hours at $0); `recipe render` read
    # the config with another function and accepted it.
    config = "prices: {ml.p5.48xlarge: 0.01}\n"
    assert rendered_by_cli(config, tmp_path)[0] == 1
    with pytest.raises(RequestInvalid, match="prices may not be set by a request"):
        pipeline.uploaded_recipe(config)


def main_json(
    capsys: pytest.CaptureFixture[str], config: str, tmp_path: Path, *flags: str
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """`recipe render --output json`: the pre-flight verdict and the ServerlessJobConfig it prints."""
    path = tmp_path / "run.yaml"
    path.write_text(config)
    capsys.readouterr()
    cli(["recipe", "render", "--config", str(path), "--output", "json", *flags])
    printed = orjson.loads(capsys.readouterr().out)
    return printed["preflight"], printed.get("serverless_job_config")


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    technique=st.sampled_from(["sft-lora", "sft-full", "dpo-lora"]),
    overrides=st.dictionaries(
        st.sampled_from(sorted(NOVA_2_OVERRIDES)), st.sampled_from([8192, 16384, 2, 500, 1e-5, 3.0])
    ),
    nested=st.booleans(),
)
def test_the_uploaded_serverless_recipe_is_what_recipe_render_prints(
    serverless_pipeline: Pipeline, tmp_path: Path, technique: str, overrides: dict[str, Any], nested: bool
) -> None:
    training = {"technique": technique, "overrides": overrides, "name": "generated"}
    config = {"model": "lite-2", "compute": "serverless", **({"training": training} if nested else training)}
    text = yaml.safe_dump(config, sort_keys=False)
    code, printed = rendered_by_cli(text, tmp_path, *SERVERLESS_FLAGS)
    assert code in (0, 1), text
    if code == 1:  # refused by the recipe's bounds or the serverless pre-flight (DPO)
        with pytest.raises((RecipeInvalid, PreflightRefused)):
            serverless_pipeline.uploaded_recipe(text)
        return
    _, uploaded = serverless_pipeline.uploaded_recipe(text)
    assert uploaded == printed, text
