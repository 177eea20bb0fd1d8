"""The template loader: short-form tags, Globals, parameters, conditions and intrinsic functions."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forgeflow.errors import DataError, InputError
from forgeflow_tools.local.template import (
    PhysicalResource,
    Resolver,
    load_template,
    load_template_text,
    substitute_definition,
)

TEMPLATE = """
Parameters:
  Prefix: {Type: String, Default: incoming/}
  Mode: {Type: String, Default: fast, AllowedValues: [fast, slow]}
  Names: {Type: CommaDelimitedList, Default: "a,b"}
  Under: {Type: String, Default: in/, AllowedPattern: "^(?!runs/)[a-z/]*/$", ConstraintDescription: not runs/}
  Ids: {Type: CommaDelimitedList, Default: "a1,b2", AllowedPattern: "[a-z][0-9]"}
Conditions:
  IsSlow: !Equals [!Ref Mode, slow]
  NotSlow: !Not [!Condition IsSlow]
Globals:
  Function:
    Timeout: 30
    Layers: [!Ref Layer]
    Environment: {Variables: {SHARED: one, OVERRIDDEN: global}}
Resources:
  Layer: {Type: AWS::Serverless::LayerVersion, Properties: {ContentUri: layer/}}
  Bucket: {Type: AWS::S3::Bucket}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Layers: [extra]
      Environment: {Variables: {OVERRIDDEN: local, BUCKET_ARN: !GetAtt Bucket.Arn}}
  Alarm: {Type: AWS::CloudWatch::Alarm, Condition: IsSlow}
"""


@pytest.fixture
def template(tmp_path: Path) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE, encoding="utf-8")
    return path


def test_short_form_tags_become_long_form() -> None:
    document = load_template_text(
        "Resources:\n  X: {Type: T, Properties: "
        "{A: !Ref P, B: !GetAtt R.Arn, C: !Sub 'x-${P}', D: !If [C, 1, 2]}}"
    )
    assert document["Resources"]["X"]["Properties"] == {
        "A": {"Ref": "P"},
        "B": {"Fn::GetAtt": ["R", "Arn"]},
        "C": {"Fn::Sub": "x-${P}"},
        "D": {"Fn::If": ["C", 1, 2]},
    }


def test_globals_merge_maps_concatenate_lists_and_let_the_resource_win(template: Path) -> None:
    function = load_template(template).resources["Fn"].properties
    assert function["Timeout"] == 30
    assert function["Layers"] == [{"Ref": "Layer"}, "extra"]
    assert function["Environment"]["Variables"]["SHARED"] == "one"
    assert function["Environment"]["Variables"]["OVERRIDDEN"] == "local"


def test_conditions_follow_parameter_overrides(template: Path) -> None:
    assert "Alarm" not in load_template(template).active_resources()
    slow = load_template(template, {"Mode": "slow"})
    assert slow.conditions == {"IsSlow": True, "NotSlow": False}
    assert "Alarm" in slow.active_resources()


def test_overrides_are_checked_like_cloudformation(template: Path) -> None:
    with pytest.raises(InputError, match="Nope"):
        load_template(template, {"Nope": "1"})
    with pytest.raises(InputError, match="Mode='medium'"):
        load_template(template, {"Mode": "medium"})


def test_allowed_pattern_is_enforced_like_cloudformation(template: Path) -> None:
    # CloudFormation matches AllowedPattern against the whole value, and against each CommaDelimitedList item.
    assert load_template(template, {"Under": "in/sub/", "Ids": "c3"}).parameters["Under"] == "in/sub/"
    with pytest.raises(InputError, match=r"Under='runs/' does not match .*not runs/") as caught:
        load_template(template, {"Under": "runs/"})
    assert caught.value.code == "BAD_PARAMETER"
    with pytest.raises(InputError, match="Under='in/x'"):
        load_template(template, {"Under": "in/x"})  # a prefix match is not enough: no trailing slash
    with pytest.raises(InputError, match="Ids='a1,bb'"):
        load_template(template, {"Ids": "a1,bb"})


def test_missing_template_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read the template"):
        load_template(tmp_path / "absent.yaml")


def test_intrinsics_resolve_against_parameters_pseudo_parameters_and_resources(template: Path) -> None:
    loaded = load_template(template, stack_name="s1")
    resolver = Resolver(loaded, {"Bucket": PhysicalResource("b-1", {"Arn": "arn:aws:s3:::b-1"})})
    value = {
        "ref": {"Ref": "Prefix"},
        "att": {"Fn::GetAtt": ["Bucket", "Arn"]},
        "sub": {"Fn::Sub": "${AWS::StackName}/${Bucket}/${Bucket.Arn}/${!Literal}"},
        "sub_vars": {"Fn::Sub": ["${X}-${Prefix}", {"X": {"Ref": "AWS::Region"}}]},
        "join": {"Fn::Join": ["-", [{"Ref": "AWS::AccountId"}, "x"]]},
        "list": {"Ref": "Names"},
        "select": {"Fn::Select": [1, {"Ref": "Names"}]},
        "if": {"Fn::If": ["IsSlow", "slow", {"Ref": "AWS::NoValue"}]},
        "json": {"Fn::ToJsonString": {"a": {"Ref": "Mode"}}},
    }
    assert resolver.resolve(value) == {
        "ref": "incoming/",
        "att": "arn:aws:s3:::b-1",
        "sub": "s1/b-1/arn:aws:s3:::b-1/${Literal}",
        "sub_vars": "us-east-1-incoming/",
        "join": "123456789012-x",
        "list": ["a", "b"],
        "select": "b",
        "json": '{"a":"fast"}',
    }


def test_unknown_references_name_the_culprit(template: Path) -> None:
    resolver = Resolver(load_template(template), {"Bucket": PhysicalResource("b", {"Arn": "a"})})
    with pytest.raises(DataError, match="!Ref Missing"):
        resolver.resolve({"Ref": "Missing"})
    with pytest.raises(DataError, match=r"Bucket\.Nope.*Arn"):
        resolver.resolve({"Fn::GetAtt": ["Bucket", "Nope"]})


def test_definition_substitutions_replace_only_the_names_given() -> None:
    text = '{"F": "${FnArn}", "S": ${Seconds}, "Keep": "${Unknown}", "Path.$": "$.a"}'
    assert substitute_definition(text, {"FnArn": "arn:x", "Seconds": 0}) == (
        '{"F": "arn:x", "S": 0, "Keep": "${Unknown}", "Path.$": "$.a"}'
    )


@given(st.dictionaries(st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,10}", fullmatch=True), st.text(max_size=20)))
def test_substitution_of_every_name_leaves_no_token(values: dict[str, str]) -> None:
    text = " ".join(f"${{{name}}}" for name in values)
    assert substitute_definition(text, values) == " ".join(values.values())
