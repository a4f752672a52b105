"""What every check shares: what a valid file holds, and how a refusal reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nncore.errors import ModelFileError

FIX = "Upload the model.keras or model.h5 file this studio saved with the run."

ModelFormat = Literal["keras", "h5"]


@dataclass(frozen=True)
class ModelFileInfo:
    """What a valid model file holds, read without Keras."""

    format: ModelFormat
    config: dict  # the model's config as Keras will read it (config.json or model_config)
    input_names: tuple[str, ...]
    output_width: int
    parameters: int  # weights the model will allocate, as Keras' count_params() counts them


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_parameters: int


def refuse(problem: str, fix: str = FIX) -> ModelFileError:
    return ModelFileError(f"{problem} {fix}")


def size_text(n: int) -> str:
    return f"{n / 2**20:,.1f} MB" if n >= 2**20 else f"{n:,} bytes"
