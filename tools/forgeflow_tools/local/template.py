"""Read `template.yaml` the way CloudFormation/SAM would, so the local runtime never restates it.

The loader understands the short-form intrinsic tags (`!Ref`, `!GetAtt`, `!Sub`, …), merges SAM
`Globals` into each function, applies parameter defaults and `--parameter-overrides`-style overrides,
evaluates `Conditions`, and resolves intrinsic functions against the physical names and ARNs the local
runtime assigns to each resource.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from forgeflow.errors import DataError, InputError

ACCOUNT_ID = "123456789012"
# A marker object standing for `AWS::NoValue`: the key holding it disappears from its parent.
_NO_VALUE = object()
_SUB_VARIABLE = re.compile(r"\$\{([^}!]+)\}")


class _TemplateLoader(yaml.SafeLoader):
    """A SafeLoader that turns CloudFormation's short-form tags into their long (JSON) form."""


def _construct_intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_TemplateLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template_text(text: str, source: str = "template.yaml") -> dict[str, Any]:
    try:
        # What yaml.load does, with the SafeLoader subclass that only adds CloudFormation's short tags.
        loader = _TemplateLoader(text)
        try:
            document = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as error:
        raise DataError(f"{source} is not valid YAML: {error}", code="TEMPLATE_YAML") from error
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise DataError(f"{source} has no Resources section", code="TEMPLATE_SHAPE")
    return document


@dataclass
class Resource:
    """One resource of the template after Globals are merged (properties still unresolved)."""

    logical_id: str
    type: str
    properties: dict[str, Any]
    condition: str | None = None


@dataclass
class Template:
    """A parsed template plus the stack-level values its intrinsics refer to."""

    path: Path
    document: dict[str, Any]
    parameters: dict[str, str]
    stack_name: str = "forgeflow-local"
    region: str = "us-east-1"
    account_id: str = ACCOUNT_ID
    conditions: dict[str, bool] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def resources(self) -> dict[str, Resource]:
        merged: dict[str, Resource] = {}
        globals_ = self.document.get("Globals") or {}
        for logical_id, body in self.document["Resources"].items():
            resource_type = str(body.get("Type", ""))
            properties = copy.deepcopy(body.get("Properties") or {})
            if resource_type == "AWS::Serverless::Function":
                properties = _merge_globals(globals_.get("Function") or {}, properties)
            elif resource_type == "AWS::Serverless::StateMachine":
                properties = _merge_globals(globals_.get("StateMachine") or {}, properties)
            merged[logical_id] = Resource(logical_id, resource_type, properties, body.get("Condition"))
        return merged

    def active_resources(self) -> dict[str, Resource]:
        """The resources whose `Condition` holds (every resource when it has none)."""
        return {
            key: resource
            for key, resource in self.resources.items()
            if resource.condition is None or self.conditions.get(resource.condition, False)
        }

    def outputs(self) -> dict[str, Any]:
        return dict(self.document.get("Outputs") or {})


def _merge_globals(global_section: Mapping[str, Any], properties: dict[str, Any]) -> dict[str, Any]:
    """SAM's rule: maps merge (the resource wins), lists concatenate, scalars are overridden."""
    merged = copy.deepcopy(dict(global_section))
    for key, value in properties.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged[key] = _merge_globals(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            merged[key] = current + value
        else:
            merged[key] = value
    return merged


def load_template(
    path: Path,
    overrides: Mapping[str, str] | None = None,
    *,
    stack_name: str = "forgeflow-local",
    region: str = "us-east-1",
) -> Template:
    """Parse `path`, apply parameter defaults and overrides, and evaluate the Conditions."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot read the template {path}: {error.strerror}", code="NOT_FOUND") from error
    document = load_template_text(text, str(path))
    declared = document.get("Parameters") or {}
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise InputError(
            f"unknown template parameter(s) {', '.join(unknown)}",
            code="BAD_PARAMETER",
            hint=f"{path} declares: {', '.join(sorted(declared))}",
        )
    parameters: dict[str, str] = {}
    for name, spec in declared.items():
        if name in overrides:
            parameters[name] = str(overrides[name])
        elif "Default" in spec:
            parameters[name] = _parameter_string(spec["Default"])
        else:
            raise InputError(
                f"template parameter {name} has no default", code="BAD_PARAMETER", hint="pass an override"
            )
        _check_constraints(name, spec, parameters[name])
    template = Template(
        path=path, document=document, parameters=parameters, stack_name=stack_name, region=region
    )
    resolver = Resolver(template, {})
    for name, expression in (document.get("Conditions") or {}).items():
        template.conditions[name] = bool(resolver.resolve(expression))
    return template


def _check_constraints(name: str, spec: Mapping[str, Any], value: str) -> None:
    """AllowedValues, and AllowedPattern matched against the whole value (each item of a
    CommaDelimitedList), as CloudFormation does (CloudFormation User Guide, "Parameters" section)."""
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [_parameter_string(a) for a in allowed]:
        raise InputError(f"parameter {name}={value!r} is not one of {allowed}", code="BAD_PARAMETER")
    pattern = spec.get("AllowedPattern")
    if pattern is None:
        return
    items = [value]
    if spec.get("Type") == "CommaDelimitedList":
        items = value.split(",") if value else []
    if not all(re.fullmatch(str(pattern), item) for item in items):
        raise InputError(
            f"parameter {name}={value!r} does not match its AllowedPattern {pattern}",
            code="BAD_PARAMETER",
            hint=str(spec.get("ConstraintDescription") or "see the parameter's Description in the template"),
        )


def _parameter_string(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class PhysicalResource:
    """What `Ref` and `GetAtt` return for one resource in the local stack."""

    ref: str
    attributes: dict[str, str] = field(default_factory=dict)


class Resolver:
    """Evaluates intrinsic functions against the stack's parameters, conditions and resources."""

    def __init__(self, template: Template, physical: Mapping[str, PhysicalResource]) -> None:
        self.template = template
        self.physical = physical

    def _pseudo(self) -> dict[str, str]:
        return {
            "AWS::Region": self.template.region,
            "AWS::AccountId": self.template.account_id,
            "AWS::StackName": self.template.stack_name,
            "AWS::StackId": (
                f"arn:aws:cloudformation:{self.template.region}:{self.template.account_id}"
                f":stack/{self.template.stack_name}/00000000-0000-0000-0000-000000000000"
            ),
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }

    def ref(self, name: str) -> Any:
        pseudo = self._pseudo()
        if name in pseudo:
            return pseudo[name]
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.template.parameters:
            declared = (self.template.document.get("Parameters") or {}).get(name, {})
            value = self.template.parameters[name]
            if str(declared.get("Type", "")).startswith("List<") or declared.get("Type") == (
                "CommaDelimitedList"
            ):
                return value.split(",") if value else []
            return value
        if name in self.physical:
            return self.physical[name].ref
        raise DataError(f"!Ref {name}: no such parameter or resource in the template", code="TEMPLATE_REF")

    def get_att(self, logical_id: str, attribute: str) -> str:
        resource = self.physical.get(logical_id)
        if resource is None:
            raise DataError(f"!GetAtt {logical_id}.{attribute}: no such resource", code="TEMPLATE_REF")
        if attribute not in resource.attributes:
            raise DataError(
                f"!GetAtt {logical_id}.{attribute}: the local runtime knows only "
                f"{', '.join(sorted(resource.attributes)) or 'no attributes'} for this resource",
                code="TEMPLATE_REF",
            )
        return resource.attributes[attribute]

    def sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return self.get_att(logical_id, attribute)
            return str(self.ref(name))

        # `${!Literal}` is CloudFormation's escape for a literal `${Literal}`.
        return _SUB_VARIABLE.sub(replace, text).replace("${!", "${")

    def resolve(self, value: Any) -> Any:
        """The value with every intrinsic function evaluated; `AWS::NoValue` keys are dropped."""
        result = self._resolve(value)
        return None if result is _NO_VALUE else result

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self._resolve(item) for item in value]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument), *_ = value.items()
            function = self._functions().get(key)
            if function is not None:
                return function(argument)
        resolved = {key: self._resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}

    def _functions(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": lambda argument: self.ref(str(self._resolve(argument))),
            "Fn::GetAtt": self._fn_get_att,
            "Fn::Sub": self._fn_sub,
            "Fn::Join": lambda argument: str(self._resolve(argument[0])).join(
                str(part) for part in self._resolve(argument[1])
            ),
            "Fn::If": self._fn_if,
            "Fn::Equals": lambda argument: str(self._resolve(argument[0])) == str(self._resolve(argument[1])),
            "Fn::Not": lambda argument: not self._resolve(argument[0]),
            "Fn::And": lambda argument: all(self._resolve(item) for item in argument),
            "Fn::Or": lambda argument: any(self._resolve(item) for item in argument),
            "Condition": lambda argument: self.template.conditions[str(argument)],
            "Fn::Select": lambda argument: self._resolve(argument[1])[int(self._resolve(argument[0]))],
            "Fn::Split": lambda argument: str(self._resolve(argument[1])).split(str(argument[0])),
            "Fn::FindInMap": self._fn_find_in_map,
            "Fn::ToJsonString": lambda argument: json.dumps(self._resolve(argument), separators=(",", ":")),
        }

    def _fn_get_att(self, argument: Any) -> str:
        parts = self._resolve(argument)
        return self.get_att(str(parts[0]), ".".join(str(part) for part in parts[1:]))

    def _fn_sub(self, argument: Any) -> str:
        if isinstance(argument, str):
            return self.sub(argument, {})
        text, variables = argument
        return self.sub(str(text), self._resolve(variables))

    def _fn_if(self, argument: Any) -> Any:
        name, when_true, when_false = argument
        if name not in self.template.conditions:
            raise DataError(f"!If names an undeclared condition {name}", code="TEMPLATE_REF")
        return self._resolve(when_true if self.template.conditions[name] else when_false)

    def _fn_find_in_map(self, argument: Any) -> Any:
        map_name, first, second = (self._resolve(item) for item in argument)
        return self.template.document["Mappings"][map_name][first][second]


def substitute_definition(text: str, substitutions: Mapping[str, Any]) -> str:
    """SAM's `DefinitionSubstitutions`: replace `${Name}` for every name in the map, leave others."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        return str(substitutions[name]) if name in substitutions else match.group(0)

    return _SUB_VARIABLE.sub(replace, text)
