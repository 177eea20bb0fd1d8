"""The Nova vocabulary every module shares: which model, which training method, which technique."""

from __future__ import annotations

from enum import StrEnum


class NovaModel(StrEnum):
    """The Nova models ForgeFlow fine-tunes, named as on the command line."""

    MICRO = "micro"
    LITE = "lite"
    PRO = "pro"
    LITE_2 = "lite-2"

    @property
    def text_only(self) -> bool:
        """Nova Micro understands text only: images, videos and documents are errors in its datasets."""
        return self is NovaModel.MICRO

    @property
    def generation(self) -> int:
        return 2 if self is NovaModel.LITE_2 else 1


class Method(StrEnum):
    """The dataset's training method: supervised fine-tuning or direct preference optimization."""

    SFT = "sft"
    DPO = "dpo"


class Technique(StrEnum):
    """Method × adaptation, as recipes are organised: LoRA or full-rank."""

    SFT_LORA = "sft-lora"
    SFT_FULL = "sft-full"
    DPO_LORA = "dpo-lora"
    DPO_FULL = "dpo-full"

    @property
    def method(self) -> Method:
        return Method.DPO if self.value.startswith("dpo") else Method.SFT

    @property
    def lora(self) -> bool:
        return self.value.endswith("lora")
