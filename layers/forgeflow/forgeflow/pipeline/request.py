"""The run request: what to fine-tune and how, whichever way the run was triggered.

Two triggers map to one typed request:
- an S3 `Object Created` event (delivered by EventBridge) for `<prefix><name>.jsonl`, with an optional
  sidecar `<prefix><name>.forgeflow.yaml` next to it holding `RunOptions`;
- a `FineTune Requested` event (source `forgeflow`) whose `detail` is a `RunRequest`.

`resolve_run` merges event fields over the sidecar over the stack defaults into a `ResolvedRun`, the
document stored at `runs/<run_id>/request.json` that every later stage reads. The run id is derived from
the dataset object's identity (bucket, key, version id or ETag) or the upstream `request_id`, so the same
object or request delivered several times always maps to the same run.
"""

from __future__ import annotations

import hashlib
import re
from enum import StrEnum
from typing import Any, Literal

import orjson
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from forgeflow.errors import DataError
from forgeflow.evaluation.gate import gates_for
from forgeflow.mixing.forge import Compute
from forgeflow.nova import Method, NovaModel, Technique
from forgeflow.pipeline.bounds import MAX_SIDECAR_BYTES, load_yaml, shape_problem
from forgeflow.pipeline.errors import RequestInvalid
from forgeflow.pipeline.settings import PipelineSettings
from forgeflow.recipes.config import flatten_run_config

SIDECAR_SUFFIX = ".forgeflow.yaml"
S3_SOURCE = "aws.s3"
S3_DETAIL_TYPE = "Object Created"
REQUEST_SOURCE = "forgeflow"
REQUEST_DETAIL_TYPE = "FineTune Requested"
# Pre-flight prices and sizes the run from these; a request that set them could price p5 hours at $0
# (issue #9, finding 4). They come from the stack's tables only (recipes/data/prices.yaml, throughput.yaml).
STACK_ONLY_TRAINING_KEYS = ("prices", "throughput_tokens_per_second")
# Training keys the early stages need typed (validate and mix read the model; the jobs the runtime).
TYPED_HERE = ("model", "technique", "max_runtime_seconds", "compute")


class EvalSuite(StrEnum):
    """Evaluation suites: the general benchmark (MMLU), the domain bring-your-own-data suite, and the
    general-ability retention suite (a held-out slice of the curated data, forgeflow.evaluation.general)."""

    MMLU = "mmlu"
    GEN_QA = "gen_qa"
    GENERAL = "general"


# The domain task (forgeflow.evaluation.classification): `auto` detects a label set in the training data.
DomainTask = Literal["auto", "classification", "free_text"]


class RunOptions(BaseModel):
    """How to fine-tune: every field optional, defaults come from the stack. The sidecar YAML shape."""

    model_config = ConfigDict(extra="forbid")

    model: NovaModel | None = None
    technique: Technique | None = None
    method: Method | None = Field(default=None, description="shorthand: the LoRA technique of this method")
    mix: dict[str, Any] | None = Field(default=None, description="a mix plan (MixPlan shape); null = default")
    eval_suites: list[EvalSuite] | None = None
    smoke_only: bool | None = Field(
        default=None,
        description="stop after the smoke job (a first cheap run): no full training, no evaluation",
    )
    compute: Compute | None = Field(
        default=None, description="serverful (instance jobs) or serverless (Forge data mixing); stack default"
    )
    require_approval: bool | None = Field(
        default=None,
        description="wait for `forgeflow runs approve` after the smoke job, before the full job (default: "
        "the stack's RequireApproval)",
    )
    domain_task: DomainTask | None = Field(
        default=None, description="classification adds macro/micro F1 to gen_qa (default auto-detected)"
    )
    gates: dict[str, float] | None = Field(
        default=None,
        description="gate thresholds in points (forgeflow.evaluation.gate; default the documented)",
    )
    poll_seconds: int | None = Field(default=None, ge=0, le=3600)
    max_runtime_seconds: int | None = Field(
        default=None, ge=1, le=28 * 24 * 3600, description="each job's stopping condition (default 1 day)"
    )
    # The other TrainingConfig keys, here or in a `training:` section (not both), are checked where they
    # are used: at RenderRecipe, by the function `forgeflow recipe render` uses
    # (forgeflow.recipes.config.training_config_for_run), so both refuse the same configs the same way.
    overrides: Any = Field(default=None, description="nested or dotted recipe keys to override")
    instance_type: Any = Field(default=None, description="training instance type (default: the stack's)")
    replicas: Any = Field(default=None, description="instance count (default: the base recipe's)")
    budget_usd: Any = Field(default=None, description="refuse runs estimated above this (USD)")
    name: Any = Field(default=None, description="run.name of the recipe (default forgeflow-<run id>)")
    prices: Any = Field(default=None, description="USD per instance-hour by instance type")
    throughput_tokens_per_second: Any = Field(default=None, description="for the time estimate")
    allow_truncation: Any = Field(default=None, description="long records: a warning, not a refusal")
    seed: Any = Field(default=None, description="seed of the Nova 1.0 smoke subset")
    training: dict[str, Any] = Field(default_factory=dict, description="TrainingConfig keys, as a section")

    @field_validator("mix", "overrides", "training")
    @classmethod
    def _bounded(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        problem = shape_problem(value)
        if problem is not None:
            raise ValueError(f"too large: {problem}")
        return value

    @field_validator("compute")
    @classmethod
    def _pipeline_compute(cls, value: Compute | None) -> Compute | None:
        # HyperPod needs a cluster this stack does not create; `forgeflow mix --compute hyperpod` renders it.
        if value is Compute.HYPERPOD:
            raise ValueError(
                "compute must be serverful or serverless (the pipeline creates no HyperPod cluster)"
            )
        return value

    @field_validator("training")
    @classmethod
    def _no_stack_only_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        _refuse_stack_only([key for key in STACK_ONLY_TRAINING_KEYS if key in value])
        return value

    @field_validator(*STACK_ONLY_TRAINING_KEYS)
    @classmethod
    def _not_at_the_top_either(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None:
            _refuse_stack_only([str(info.field_name)])
        return value


def _refuse_stack_only(named: list[str]) -> None:
    if named:
        raise ValueError(
            f"{', '.join(named)} may not be set by a request: prices and throughput come from the "
            "stack, so that a request cannot lower the cost estimate"
        )


class RunRequest(RunOptions):
    """The `detail` of a `FineTune Requested` event: the options plus the dataset and an idempotency key."""

    schema_version: Literal["1"] = "1"
    request_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="the upstream's idempotency key: the same request_id never starts a second run",
    )
    dataset_uri: str = Field(pattern=r"^s3://[^/]+/.+\.jsonl$", description="s3://bucket/key.jsonl")


class DatasetObject(BaseModel):
    """One version of the input dataset."""

    model_config = ConfigDict(frozen=True)

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def sidecar_uri(self) -> str:
        """`incoming/tickets.jsonl` → `incoming/tickets.forgeflow.yaml`."""
        stem = self.key[: -len(".jsonl")] if self.key.endswith(".jsonl") else self.key
        return f"s3://{self.bucket}/{stem}{SIDECAR_SUFFIX}"


class Trigger(BaseModel):
    """What started the run, before options are merged."""

    source: Literal["s3", "request"]
    dataset: DatasetObject
    identity: str = Field(description="the idempotency key the run id is derived from")
    options: RunOptions
    request_id: str | None = None
    # Fixed when the event is parsed (the key as delivered), so RegisterRun's key decoding cannot change it:
    # the launcher names the execution with the same id (steps/launch.py).
    run_id: str = ""

    @model_validator(mode="after")
    def _derive_run_id(self) -> Trigger:
        self.run_id = self.run_id or run_id_for(self.identity, self.dataset.key)
        return self


class RunPlan(BaseModel):
    """What a run does, resolved over the stack's defaults, whatever its dataset and trigger: the part of
    the request `forgeflow recipe render --config` resolves from a run config exactly as RegisterRun does."""

    model_config = ConfigDict(extra="forbid")

    model: NovaModel
    technique: Technique | None = Field(description="null: chosen at RenderRecipe from the detected method")
    method: Method | None
    mix: dict[str, Any] | None
    # The training keys as given (top level and `training:` section flattened), not yet defaulted:
    # RenderRecipe turns them into the TrainingConfig with `training_config_for_run`.
    training: dict[str, Any]
    eval_suites: list[EvalSuite]
    smoke_only: bool = False
    # Runs stored before the option existed did not wait for approval.
    require_approval: bool = False
    # Runs stored before the option existed were serverful.
    compute: Compute = Compute.SERVERFUL
    domain_task: DomainTask = "auto"
    gates: dict[str, float] = Field(default_factory=dict)
    poll_seconds: int
    max_runtime_seconds: int | None

    def run_config(self) -> dict[str, Any]:
        """The run config `training_config_for_run` reads: the training keys, model, technique, method."""
        config: dict[str, Any] = {**self.training, "model": self.model.value}
        if self.technique is not None:
            config["technique"] = self.technique.value
        if self.method is not None:
            config["method"] = self.method.value
        if self.max_runtime_seconds is not None:
            config["max_runtime_seconds"] = self.max_runtime_seconds
        return config


class ResolvedRun(RunPlan):
    """The complete, defaulted request of one run (`runs/<run_id>/request.json`): its plan and identity."""

    schema_version: Literal["1"] = "1"
    run_id: str
    source: Literal["s3", "request"]
    request_id: str | None
    dataset: DatasetObject
    dataset_uri: str

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"), option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, data: bytes) -> ResolvedRun:
        return cls.model_validate_json(data)


def _describe(error: ValidationError, where: str) -> str:
    parts = []
    for item in error.errors()[:5]:
        location = ".".join(str(part) for part in item["loc"]) or "(root)"
        parts.append(f"{location}: {item['msg']}")
    return f"{where}: " + "; ".join(parts)


def parse_options(data: bytes, where: str) -> RunOptions:
    """A sidecar YAML document → RunOptions; RequestInvalid names the file and the keys."""
    if len(data) > MAX_SIDECAR_BYTES:
        raise RequestInvalid(
            f"{where} is larger than {MAX_SIDECAR_BYTES} bytes",
            hint="run options are a few hundred bytes: move data out of the sidecar",
        )
    try:
        loaded = load_yaml(data) if data.strip() else {}
    except yaml.YAMLError as error:
        raise RequestInvalid(f"{where} is not valid YAML: {error}") from error
    except RecursionError as error:  # the composer recurses per nesting level
        raise RequestInvalid(f"{where} is nested too deeply to be run options") from error
    if not isinstance(loaded, dict):
        raise RequestInvalid(f"{where} must be a mapping of run options, not {type(loaded).__name__}")
    try:
        return RunOptions.model_validate(loaded)
    except ValidationError as error:
        raise RequestInvalid(
            _describe(error, where), hint="see docs/pipeline.md, 'The run request'"
        ) from error


def _slug(text: str) -> str:
    name = text.rsplit("/", 1)[-1]
    name = name[: -len(".jsonl")] if name.endswith(".jsonl") else name
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:19].strip("-") or "run"


def run_id_for(identity: str, dataset_key: str) -> str:
    """`<dataset name slug>-<12 hex of sha256(identity)>`: readable, deterministic, ≤ 32 characters.

    Short on purpose: training-job names (`forgeflow-<run id>-<stage>-<attempt>`) are limited to 63.
    """
    digest = hashlib.sha256(identity.encode()).hexdigest()[:12]
    return f"{_slug(dataset_key)}-{digest}"


def effective_technique(
    technique: Technique | None, method: Method | None, settings: PipelineSettings
) -> Technique | None:
    """The technique a run trains: its own, else the stack's default unless it named only a method."""
    return technique or (None if method else settings.default_technique)


def parse_trigger(event: dict[str, Any]) -> Trigger:
    """The execution input (an EventBridge event, as the rule delivers it) → a Trigger."""
    source = event.get("source")
    detail_type = event.get("detail-type")
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise RequestInvalid("the execution input has no event 'detail' object")
    if source == S3_SOURCE and detail_type == S3_DETAIL_TYPE:
        return _s3_trigger(detail)
    if source == REQUEST_SOURCE and detail_type == REQUEST_DETAIL_TYPE:
        return _request_trigger(detail, event_id=str(event.get("id", "")))
    raise RequestInvalid(
        f"unsupported trigger: source {source!r}, detail-type {detail_type!r}",
        hint=f"send {S3_SOURCE!r}/{S3_DETAIL_TYPE!r} or {REQUEST_SOURCE!r}/{REQUEST_DETAIL_TYPE!r}",
    )


def _s3_trigger(detail: dict[str, Any]) -> Trigger:
    # Powertools' model of S3 events delivered through EventBridge: the documented shape, typed.
    from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeDetailModel

    try:
        parsed = S3EventNotificationEventBridgeDetailModel.model_validate(detail)
    except ValidationError as error:
        raise RequestInvalid(_describe(error, "S3 Object Created event detail")) from error
    version_id = parsed.object.version_id
    etag = parsed.object.etag
    dataset = DatasetObject(
        bucket=parsed.bucket.name, key=parsed.object.key, version_id=version_id, etag=etag
    )
    if not dataset.key.endswith(".jsonl"):
        raise RequestInvalid(f"{dataset.uri} is not a .jsonl dataset")
    # A versioned bucket gives every upload a new version id; without versioning the ETag (content hash
    # for single-part uploads) tells uploads of different content apart.
    identity = f"s3|{dataset.uri}|{version_id or ''}|{etag or ''}"
    return Trigger(source="s3", dataset=dataset, identity=identity, options=RunOptions())


def _request_trigger(detail: dict[str, Any], event_id: str) -> Trigger:
    try:
        request = RunRequest.model_validate(detail)
    except ValidationError as error:
        raise RequestInvalid(
            _describe(error, "FineTune Requested detail"), hint="see events/fine-tune-requested.json"
        ) from error
    bucket, _, key = request.dataset_uri[len("s3://") :].partition("/")
    # Without a request_id the EventBridge event id is the key: a redelivery of the same event is then
    # recognised, a new event is a new run.
    identity = f"request|{request.request_id or 'event:' + event_id}"
    options = RunOptions.model_validate(
        request.model_dump(include=set(RunOptions.model_fields), exclude_unset=True)
    )
    return Trigger(
        source="request",
        dataset=DatasetObject(bucket=bucket, key=key),
        identity=identity,
        options=options,
        request_id=request.request_id,
    )


def _training_keys(options: RunOptions | None, where: str) -> dict[str, Any]:
    """The training keys of one options document, its `training:` section lifted (a key in both: refused)."""
    if options is None:
        return {}
    given = options.model_dump(mode="json", exclude_unset=True)
    try:
        flat = flatten_run_config(given, source=where)
    except DataError as error:
        raise RequestInvalid(str(error), hint=error.hint) from error
    return {key: value for key, value in flat.items() if key not in TYPED_HERE}


def approval_required(option: bool | None, settings: PipelineSettings) -> bool:
    """Whether a run waits for approval before its full job: the run's option, else the stack's
    RequireApproval. The one reading of it, for RegisterRun and the CLI."""
    return settings.require_approval if option is None else option


def resolve_run(trigger: Trigger, sidecar: RunOptions | None, settings: PipelineSettings) -> ResolvedRun:
    """Event fields over sidecar fields over stack defaults; the run id from the trigger's identity."""
    plan = resolve_plan(sidecar, trigger.options, settings)
    return ResolvedRun(
        run_id=trigger.run_id,
        source=trigger.source,
        request_id=trigger.request_id,
        dataset=trigger.dataset,
        dataset_uri=trigger.dataset.uri,
        **dict(plan),
    )


def resolve_plan(sidecar: RunOptions | None, event: RunOptions, settings: PipelineSettings) -> RunPlan:
    """Event fields over sidecar fields over stack defaults, checked: THE reading of run options, for
    RegisterRun and `forgeflow recipe render --config` (a run config is read as a sidecar)."""
    merged: dict[str, Any] = {}
    if sidecar is not None:
        merged.update(sidecar.model_dump(exclude_unset=True))
    merged.update(event.model_dump(exclude_unset=True))
    training = {**_training_keys(sidecar, "the sidecar"), **_training_keys(event, "the request")}
    for key in TYPED_HERE:
        # model/technique/max_runtime_seconds under `training:` are read like the top-level ones.
        for options in (sidecar, event):
            if options is not None and key in options.training:
                merged[key] = options.training[key]
    merged["training"] = {}
    try:
        options = RunOptions.model_validate(merged)
    except ValidationError as error:
        raise RequestInvalid(_describe(error, "run options"), hint="see docs/pipeline.md") from error
    try:
        gates_for(options.gates)
    except ValueError as error:
        raise RequestInvalid(str(error), hint="see docs/pipeline.md (evaluation gates)") from error
    technique, method = options.technique, options.method
    if technique is not None and method is not None and technique.method is not method:
        raise RequestInvalid(
            f"technique {technique.value!r} does not train method {method.value!r}",
            hint="set only one of technique and method",
        )
    return RunPlan(
        model=options.model or settings.default_model,
        technique=options.technique,
        method=options.technique.method if options.technique else options.method,
        mix=options.mix,
        training=training,
        eval_suites=options.eval_suites if options.eval_suites is not None else list(EvalSuite),
        smoke_only=bool(options.smoke_only),
        require_approval=approval_required(options.require_approval, settings),
        compute=options.compute or settings.default_compute,
        domain_task=options.domain_task or "auto",
        gates=options.gates or {},
        poll_seconds=options.poll_seconds if options.poll_seconds is not None else settings.poll_seconds,
        max_runtime_seconds=options.max_runtime_seconds,
    )
