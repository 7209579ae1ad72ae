"""The data section of the pipeline config: which data, with which options."""

from __future__ import annotations

from pydantic import Field

from edgekd.validation import Section


class DataConfig(Section):
    spec: str = Field(
        default="mnist1d", description="DATA spec: mnist1d[:options], npz:PATH, images:DIR or audio:DIR (,key=value...)"
    )
    options: dict[str, str | int | float] = Field(
        default_factory=dict,
        description="the DATA spec's options as a mapping, e.g. {size: 96x96, preprocess: mobilenet_v2}",
    )
