"""Who may call the API: template.yaml's ApiAccess renders an open API, one behind a JWT
authorizer, or one behind IAM (SigV4) authorization, and every rendering lints.

cfn-lint 1.58 ignores `--parameters` on a SAM template (its transform step rebuilds the lint
context without them), so these tests render the template for a set of parameter values
themselves, as CloudFormation would: the values become the parameters' defaults, the Rules
are checked, resources whose Condition is false are dropped and each Fn::If is replaced by the
branch its condition picks. cfn-lint then checks the rendering, values included."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cfnlint.decode import decode

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example"
MODES = {
    "open": {},
    "jwt": {"ApiAccess": "jwt", "JwtIssuer": ISSUER, "JwtAudience": "app-client-1,app-client-2"},
    "iam": {"ApiAccess": "iam"},
}
NO_VALUE = {"Ref": "AWS::NoValue"}


def evaluate(node, values: dict[str, str]):
    """The value of a condition, rule assertion or parameter expression for these values."""
    if not isinstance(node, dict):
        return node
    [(function, args)] = node.items()
    if function == "Ref":
        return values[args]
    if function == "Fn::Equals":
        return str(evaluate(args[0], values)) == str(evaluate(args[1], values))
    if function == "Fn::Not":
        return not evaluate(args[0], values)
    if function == "Fn::Split":
        return evaluate(args[1], values).split(args[0])
    raise NotImplementedError(function)


def parameter_values(template: dict) -> dict[str, str]:
    return {name: str(parameter.get("Default", "")) for name, parameter in template["Parameters"].items()}


def pick_branches(node, conditions: dict[str, bool]):
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            condition, if_true, if_false = node["Fn::If"]
            return pick_branches(if_true if conditions[condition] else if_false, conditions)
        picked = {key: pick_branches(value, conditions) for key, value in node.items()}
        return {key: value for key, value in picked.items() if value != NO_VALUE}
    if isinstance(node, list):
        return [value for value in (pick_branches(item, conditions) for item in node) if value != NO_VALUE]
    return node


def template_with(params: dict[str, str]) -> dict:
    template, problems = decode(str(TEMPLATE))
    assert not problems
    for name, value in params.items():
        template["Parameters"][name]["Default"] = value
    return template


def refusals(params: dict[str, str]) -> list[str]:
    """The AssertDescriptions of the Rules that would refuse a stack with these values."""
    template = template_with(params)
    values = parameter_values(template)
    return [assertion["AssertDescription"] for rule in template["Rules"].values()
            if evaluate(rule["RuleCondition"], values)
            for assertion in rule["Assertions"] if not evaluate(assertion["Assert"], values)]


def render(params: dict[str, str]) -> dict:
    """The template as CloudFormation deploys it for these parameter values."""
    template = template_with(params)
    values = parameter_values(template)
    conditions = {name: evaluate(condition, values) for name, condition in template.pop("Conditions").items()}
    del template["Rules"]
    for section in ("Resources", "Outputs"):
        template[section] = {name: item for name, item in template[section].items()
                             if conditions.get(item.pop("Condition", None), True)}
    return pick_branches(template, conditions)


def of_type(template: dict, kind: str) -> dict[str, dict]:
    return {name: r["Properties"] for name, r in template["Resources"].items() if r["Type"] == kind}


def routes(template: dict) -> dict[str, dict]:
    return {route["RouteKey"]: route for route in of_type(template, "AWS::ApiGatewayV2::Route").values()}


def lint(template: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    rendered = tmp_path / "template.json"
    rendered.write_text(json.dumps(template))
    cfn_lint = Path(sys.executable).parent / "cfn-lint"  # the console script of tests/requirements.txt's pin
    # W2001 (parameter not used): a rendering drops what only the other choices use.
    return subprocess.run([str(cfn_lint), "-i", "W2001", "--", str(rendered)], capture_output=True, text=True)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_each_mode_renders_a_template_that_lints(mode, tmp_path):
    assert not refusals(MODES[mode])
    result = lint(render(MODES[mode]), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_lint_of_a_rendering_checks_its_values(tmp_path):
    result = lint(render({"ApiAccess": "password"}), tmp_path)
    assert result.returncode != 0 and "E2015 Default should be a value within AllowedValues" in result.stdout


def test_open_has_no_authorizer():
    template = render(MODES["open"])
    assert not of_type(template, "AWS::ApiGatewayV2::Authorizer")
    assert {key: route["AuthorizationType"] for key, route in routes(template).items()} == {
        "$default": "NONE", "OPTIONS /{proxy+}": "NONE"}
    assert not any("AuthorizerId" in route for route in routes(template).values())


def test_jwt_puts_the_issuer_and_audience_authorizer_on_every_route_but_preflights():
    template = render(MODES["jwt"])
    values = parameter_values(template)
    [(name, authorizer)] = of_type(template, "AWS::ApiGatewayV2::Authorizer").items()
    assert authorizer["AuthorizerType"] == "JWT"
    assert authorizer["IdentitySource"] == ["$request.header.Authorization"]
    assert evaluate(authorizer["JwtConfiguration"]["Issuer"], values) == ISSUER
    assert evaluate(authorizer["JwtConfiguration"]["Audience"], values) == ["app-client-1", "app-client-2"]
    default, preflight = routes(template)["$default"], routes(template)["OPTIONS /{proxy+}"]
    assert default["AuthorizationType"] == "JWT" and default["AuthorizerId"] == {"Ref": name}
    assert preflight["AuthorizationType"] == "NONE" and "AuthorizerId" not in preflight


def test_iam_signs_every_route_but_preflights():
    template = render(MODES["iam"])
    assert not of_type(template, "AWS::ApiGatewayV2::Authorizer")
    assert {key: route["AuthorizationType"] for key, route in routes(template).items()} == {
        "$default": "AWS_IAM", "OPTIONS /{proxy+}": "NONE"}


@pytest.mark.parametrize("missing", ["JwtIssuer", "JwtAudience"])
def test_jwt_is_refused_without_issuer_or_audience(missing):
    params = {name: value for name, value in MODES["jwt"].items() if name != missing}
    assert refusals(params) == [f"ApiAccess=jwt needs {missing}."]


@pytest.mark.parametrize("mode", sorted(MODES))
def test_every_route_reaches_the_function(mode):
    template = render(MODES[mode])
    [(name, integration)] = of_type(template, "AWS::ApiGatewayV2::Integration").items()
    assert integration["IntegrationUri"] == {"Fn::GetAtt": ["FacesFunction", "Arn"]}
    assert integration["PayloadFormatVersion"] == "2.0"
    assert all(route["Target"] == {"Fn::Sub": f"integrations/${{{name}}}"} for route in routes(template).values())
    [permission] = of_type(template, "AWS::Lambda::Permission").values()
    assert permission["FunctionName"] == {"Ref": "FacesFunction"}
    assert permission["SourceArn"]["Fn::Sub"].endswith(":${FacesHttpApi}/*")
