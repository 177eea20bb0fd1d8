"""Offline validation of SageMaker requests against botocore's service model.

`botocore.validate.validate_parameters` checks required members, types and minimums only; the service
model also states maximum lengths and values, enums and patterns, which SageMaker enforces server-side.
This module checks those too, so a request that passes here is one SageMaker's own validator accepts.
botocore is imported on first use, not with this module: building requests needs no AWS SDK.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from forgeflow.errors import DataError
from forgeflow.wording import plural

if TYPE_CHECKING:
    from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape


@cache
def _operation(operation: str) -> OperationModel:
    from botocore.session import get_session

    return get_session().get_service_model("sagemaker").operation_model(operation)


@cache
def _pattern(pattern: str) -> re.Pattern[str] | None:
    # Service-model patterns are Java regexes; the few Python cannot compile (\p{..} classes) are skipped.
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return None


def _walk_structure(value: Any, shape: Shape, path: str, problems: list[str]) -> None:
    if isinstance(value, dict):
        for name, member in cast("StructureShape", shape).members.items():
            if name in value:
                _walk(value[name], member, f"{path}.{name}" if path else name, problems)


def _walk_list(value: Any, shape: Shape, path: str, problems: list[str]) -> None:
    if isinstance(value, list):
        meta = shape.metadata
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{path}: {len(value)} items, at most {meta['max']} allowed")
        for index, item in enumerate(value):
            _walk(item, cast("ListShape", shape).member, f"{path}[{index}]", problems)


def _walk_map(value: Any, shape: Shape, path: str, problems: list[str]) -> None:
    if isinstance(value, dict):
        meta, entries = shape.metadata, cast("MapShape", shape)
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{path}: {len(value)} entries, at most {meta['max']} allowed")
        for key, item in value.items():
            _walk(key, entries.key, f"{path} key {key!r}", problems)
            _walk(item, entries.value, f"{path}[{key!r}]", problems)


def _check_string(value: Any, shape: Shape, path: str, problems: list[str]) -> None:
    if isinstance(value, str):
        meta = shape.metadata
        if shape.enum and value not in shape.enum:
            problems.append(f"{path}: {value!r} is not one of {', '.join(shape.enum)}")
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{path}: {len(value)} characters, at most {meta['max']} allowed")
        compiled = _pattern(meta["pattern"]) if "pattern" in meta else None
        if compiled is not None and not compiled.fullmatch(value):
            problems.append(f"{path}: {value!r} does not match the pattern {meta['pattern']}")


def _check_integer(value: Any, shape: Shape, path: str, problems: list[str]) -> None:
    meta = shape.metadata
    if isinstance(value, int) and value > meta.get("max", value):
        problems.append(f"{path}: {value} is above the maximum {meta['max']}")


# What the service model states beyond validate_parameters, by shape type (botocore's type names).
_CHECKS: dict[str, Callable[[Any, Shape, str, list[str]], None]] = {
    "structure": _walk_structure,
    "list": _walk_list,
    "map": _walk_map,
    "string": _check_string,
    "integer": _check_integer,
    "long": _check_integer,
}


def _walk(value: Any, shape: Shape, path: str, problems: list[str]) -> None:
    check = _CHECKS.get(shape.type_name)
    if check is not None:
        check(value, shape, path, problems)


def request_problems(operation: str, params: dict[str, Any]) -> list[str]:
    """Every way `params` breaks the service model of a SageMaker operation; empty when valid."""
    from botocore.exceptions import ParamValidationError
    from botocore.validate import validate_parameters

    shape = _operation(operation).input_shape
    problems: list[str] = []
    try:
        validate_parameters(params, shape)
    except ParamValidationError as error:
        report = str(error.kwargs.get("report", error))
        problems.extend(line.strip() for line in report.splitlines() if line.strip())
    _walk(params, shape, "", problems)
    return problems


def validate_request(operation: str, params: dict[str, Any]) -> None:
    """DataError listing every problem when `params` is not a valid request for the operation."""
    problems = request_problems(operation, params)
    if problems:
        listed = "\n".join(f"  - {p}" for p in problems)
        raise DataError(
            f"{operation} request is invalid for the SageMaker service model "
            f"({plural(len(problems), 'problem')}):\n"
            f"{listed}",
            code="INVALID_JOB_REQUEST",
        )
