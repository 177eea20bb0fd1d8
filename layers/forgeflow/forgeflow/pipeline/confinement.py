"""Where a run may read from: the pipeline's bucket under its input prefixes, and nothing else.

Inside a Lambda a local path or `file://` URI would read the function's own file system, an `s3://` URI
under `runs/<id>/` another run's outputs, and any other key someone else's upload. So a dataset and every
mix source must be `s3://<DataBucket>/` under IncomingPrefix, CuratedDataPrefix or RequestDataPrefix (the
three prefixes the functions' IAM policies grant s3:GetObject on, template.yaml), or a Nova-managed
`nova:<category>`. The run's own dataset is pinned to its version at RegisterRun (steps/register.py).
"""

from __future__ import annotations

from typing import Any

from forgeflow.mixing.plan import NOVA_PREFIX
from forgeflow.pipeline.errors import RequestInvalid
from forgeflow.pipeline.settings import PipelineSettings

# The customer source of a mix plan given in a request may name the run's dataset with this placeholder.
DATASET_PLACEHOLDER = "${dataset}"


def check_input_uri(uri: str, settings: PipelineSettings, where: str) -> None:
    """RequestInvalid unless `uri` is an object or prefix the pipeline may read (see the module docstring)."""
    allowed = ", ".join(f"s3://{settings.data_bucket}/{prefix}" for prefix in settings.input_prefixes)
    hint = f"put the data under {allowed} (docs/pipeline.md, 'Spend and confinement')"
    if not uri.startswith("s3://"):
        raise RequestInvalid(f"{where}: {uri!r} is not an s3:// URI (local paths are not read)", hint=hint)
    bucket, _, key = uri[len("s3://") :].partition("/")
    if settings.data_bucket and bucket != settings.data_bucket:
        raise RequestInvalid(f"{where}: {uri} is outside the pipeline's bucket", hint=hint)
    if ".." in key.split("/") or "//" in key:
        raise RequestInvalid(f"{where}: {uri} has an empty or '..' path segment", hint=hint)
    if not any(key.startswith(prefix) for prefix in settings.input_prefixes):
        raise RequestInvalid(
            f"{where}: {uri} is outside the pipeline's input prefixes (other runs' outputs and other "
            "users' uploads are not read)",
            hint=hint,
        )


def check_mix_sources(mix: Any, settings: PipelineSettings, where: str) -> None:
    """Every `sources[].uri` of a request's mix plan is confined; the customer placeholder is the dataset."""
    sources = mix.get("sources") if isinstance(mix, dict) else None
    for index, source in enumerate(sources if isinstance(sources, list) else []):
        uri = source.get("uri") if isinstance(source, dict) else None
        if not isinstance(uri, str) or uri in ("", DATASET_PLACEHOLDER) or uri.startswith(NOVA_PREFIX):
            continue
        check_input_uri(uri, settings, f"{where}.sources[{index}].uri")
