"""Typed Nova recipe sections: the two documented schemas (Nova 1.0 and Nova 2.0 Lite).

The models fix the shape and the types of a recipe — every section forbids unknown keys, numbers are
finite, booleans are not numbers. Value bounds live in `data/bounds.yaml` (see `bounds.py`), because they
depend on the model, the technique and the instance type, and because they are data with sources.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _not_bool(value: Any) -> Any:
    # pydantic's lax mode reads True as 1; a boolean where a number belongs is always a config mistake.
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    return value


Int = Annotated[int, BeforeValidator(_not_bool)]
Float = Annotated[float, BeforeValidator(_not_bool), Field(allow_inf_nan=False)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- Nova 1.0 (Micro, Lite, Pro): SFT and DPO, LoRA and full-rank ------------------------------------------


class RunV1(Section):
    name: str
    model_type: str
    model_name_or_path: str
    replicas: Int
    data_s3_path: str = ""
    output_s3_path: str = ""
    mlflow_tracking_uri: str = ""
    mlflow_experiment_name: str = ""
    mlflow_run_name: str = ""


class Trainer(Section):
    max_epochs: Int


class Sched(Section):
    warmup_steps: Int
    constant_steps: Int
    min_lr: Float


class Optim(Section):
    lr: Float
    name: Literal["distributed_fused_adam"]
    adam_w_mode: bool
    eps: Float
    weight_decay: Float
    betas: tuple[Float, Float]
    sched: Sched


class LoraTuningV1(Section):
    loraplus_lr_ratio: Float
    alpha: Int
    adapter_dropout: Float


class PeftV1(Section):
    peft_scheme: Literal["lora"] | None
    lora_tuning: LoraTuningV1 | None = None


class DpoCfg(Section):
    beta: Float


class ModelV1(Section):
    hidden_dropout: Float
    attention_dropout: Float
    ffn_dropout: Float
    optim: Optim
    dpo_cfg: DpoCfg | None = None
    peft: PeftV1


class TrainingConfigV1(Section):
    max_length: Int
    global_batch_size: Int
    trainer: Trainer
    model: ModelV1


class RecipeV1(Section):
    run: RunV1
    training_config: TrainingConfigV1


# ---- Nova 2.0 Lite: SFT, LoRA and full-rank ----------------------------------------------------------------


class RunV2(Section):
    name: str
    model_type: str
    model_name_or_path: str
    data_s3_path: str = ""
    validation_data_s3_path: str = ""
    validation_data_s3_path_list: dict[str, str] = Field(default_factory=dict)
    replicas: Int
    output_s3_path: str = ""
    mlflow_tracking_uri: str = ""
    mlflow_experiment_name: str = ""
    mlflow_run_name: str = ""


class LrScheduler(Section):
    warmup_steps: Int
    min_lr: Float


class OptimConfig(Section):
    lr: Float
    weight_decay: Float
    adam_beta1: Float
    adam_beta2: Float


class LoraTuningV2(Section):
    alpha: Int
    lora_plus_lr_ratio: Float


class PeftV2(Section):
    # Full-rank Nova 2.0 recipes spell "no PEFT" as the string "null", not YAML null.
    peft_scheme: Literal["lora", "null"]
    lora_tuning: LoraTuningV2 | None = None


class ModelImportanceScore(Section):
    fine_tuned_model: Float


class TrainingConfigV2(Section):
    max_steps: Int
    save_steps: Int
    save_top_k: Int
    max_length: Int
    global_batch_size: Int
    reasoning_enabled: bool
    val_check_interval: Int
    limit_val_batches: Int
    lr_scheduler: LrScheduler
    optim_config: OptimConfig
    peft: PeftV2
    model_importance_score: ModelImportanceScore


class RecipeV2(Section):
    run: RunV2
    training_config: TrainingConfigV2


# ---- Evaluation (both generations) ----------------------------------------------------------------------


class EvalRun(RunV1):
    """The evaluation recipes' `run` section has the Nova 1.0 training keys, in both generations."""


class Evaluation(Section):
    task: Literal["mmlu", "gen_qa"]
    strategy: Literal["zs_cot", "gen_qa"]
    metric: Literal["accuracy", "all"]
    subtask: str | None = None


class Inference(Section):
    max_new_tokens: Int
    top_k: Int
    top_p: Float
    temperature: Float
    top_logprobs: Int
    reasoning_effort: Literal["low", "high"] | None = None


class ProcessingSwitch(Section):
    enabled: bool


class Processor(Section):
    lambda_arn: str
    lambda_type: Literal["rft", "custom_metrics"]
    preprocessing: ProcessingSwitch
    postprocessing: ProcessingSwitch
    aggregation: Literal["min", "max", "average", "sum"]
    preset_reward_function: Literal["", "prime_math", "prime_code"] | None = None


class EvalRecipe(Section):
    run: EvalRun
    evaluation: Evaluation
    inference: Inference
    processor: Processor | None = None
