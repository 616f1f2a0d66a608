"""template.yaml's parameter defaults, which the stack passes to the function as FACES_*
variables, are function/settings.py's own defaults: a stack deployed without overrides serves
as `scripts/serve.sh` does. The two files cannot share a constant, so this test ties them."""

from __future__ import annotations

import os
from pathlib import Path

from cfnlint.decode import decode

from function.settings import MAX_BODY_BYTES, MAX_SIDE_RANGE, UPSAMPLE_RANGE, Settings

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
# Lambda gives one vCPU at the template's default memory; the service's default is the CPU count.
DIFFERENT_ON_PURPOSE = {"FACES_DETECT_THREADS"}


def template() -> dict:
    loaded, problems = decode(str(TEMPLATE))
    assert not problems, problems
    return loaded


def defaults_passed_to_the_function(loaded: dict) -> dict[str, str]:
    """{FACES_X: the default of the parameter the template passes as FACES_X}, for every variable
    set straight from a parameter (`!Ref Param`) that has a default."""
    parameters = loaded["Parameters"]
    variables = loaded["Resources"]["FacesFunction"]["Properties"]["Environment"]["Variables"]
    return {
        name: str(parameters[value["Ref"]]["Default"])
        for name, value in variables.items()
        if isinstance(value, dict) and set(value) == {"Ref"} and "Default" in parameters.get(value["Ref"], {})
    }


def not_the_settings_defaults(variables: dict[str, str], monkeypatch) -> list[str]:
    """The FACES_X=value pairs that, set alone, change function/settings.py's Settings: values
    that are not its own defaults."""
    for name in [n for n in os.environ if n.startswith("FACES_")]:
        monkeypatch.delenv(name)
    service_defaults = Settings.from_env()
    found = []
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
        if Settings.from_env() != service_defaults:
            found.append(f"{name}={value}")
        monkeypatch.delenv(name)
    return found


def drifted(loaded: dict, monkeypatch) -> list[str]:
    """The FACES_* variables whose template default is not the service's own."""
    defaults = defaults_passed_to_the_function(loaded)
    return not_the_settings_defaults({n: v for n, v in defaults.items() if n not in DIFFERENT_ON_PURPOSE}, monkeypatch)


def test_the_template_passes_the_size_and_detection_defaults():
    assert {"FACES_MAX_BODY_BYTES", "FACES_MAX_PIXELS", "FACES_UPSAMPLE", "FACES_MAX_SIDE"} <= set(
        defaults_passed_to_the_function(template())
    )


def test_each_template_default_is_the_settings_default(monkeypatch):
    assert drifted(template(), monkeypatch) == []


def test_the_template_allows_the_options_ranges_and_no_body_over_the_limit():
    parameters = template()["Parameters"]
    assert parameters["DefaultUpsample"]["AllowedValues"] == list(range(UPSAMPLE_RANGE[0], UPSAMPLE_RANGE[1] + 1))
    assert (parameters["DefaultMaxSide"]["MinValue"], parameters["DefaultMaxSide"]["MaxValue"]) == MAX_SIDE_RANGE
    assert parameters["MaxBodyBytes"]["MaxValue"] == MAX_BODY_BYTES


def test_a_drifted_default_is_caught(monkeypatch):
    loaded = template()
    loaded["Parameters"]["DefaultMaxSide"]["Default"] += 1
    loaded["Parameters"]["MaxPixels"]["Default"] = 1
    assert sorted(drifted(loaded, monkeypatch)) == ["FACES_MAX_PIXELS=1", "FACES_MAX_SIDE=1601"]


def test_an_empty_model_path_leaves_the_settings_default():
    loaded = template()
    assert loaded["Parameters"]["ModelPath"]["Default"] == ""
    variable = loaded["Resources"]["FacesFunction"]["Properties"]["Environment"]["Variables"]["FACES_MODEL_PATH"]
    assert variable == {"Fn::If": ["DefaultModel", {"Ref": "AWS::NoValue"}, {"Ref": "ModelPath"}]}
    assert loaded["Conditions"]["DefaultModel"] == {"Fn::Equals": [{"Ref": "ModelPath"}, ""]}
