"""template.yaml's S3Labelling: off by default; on, a photo bucket whose uploads under InputPrefix
invoke the function, least-privilege policies, an on-failure queue for async invokes, a reserved
concurrency, and the S3 Batch Operations role; each rendering lints (test_access_control's way)."""

from __future__ import annotations

import pytest

from test_access_control import evaluate, lint, of_type, parameter_values, refusals, render

ENABLED = {"S3Labelling": "enabled", "LabellingBucketName": "example-photos"}
LABELLING_TYPES = {"AWS::S3::Bucket", "AWS::IAM::Policy", "AWS::SQS::Queue", "AWS::Lambda::EventInvokeConfig",
                   "AWS::IAM::Role"}


@pytest.mark.parametrize("params", [{}, ENABLED], ids=["disabled", "enabled"])
def test_each_rendering_lints(params, tmp_path):
    assert not refusals(params)
    result = lint(render(params), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_off_by_default_adds_nothing():
    template = render({})
    assert not of_type(template, "AWS::SQS::Queue") and not of_type(template, "AWS::IAM::Policy")
    assert list(of_type(template, "AWS::S3::Bucket")) == ["PageBucket"]
    assert "ReservedConcurrentExecutions" not in of_type(template, "AWS::Serverless::Function")["FacesFunction"]
    assert not {"LabellingBucketName", "BatchOperationsRoleArn"} & set(template["Outputs"])


def test_enabling_needs_a_bucket_name():
    assert refusals({"S3Labelling": "enabled"}) == ["S3Labelling=enabled needs LabellingBucketName."]


def resolved(node, values: dict[str, str]) -> str:
    """A Fn::Sub string with the template's parameters and AWS::Partition filled in."""
    text = node["Fn::Sub"]
    for name, value in (values | {"AWS::Partition": "aws"}).items():
        text = text.replace("${" + name + "}", value)
    return text


def test_enabled_reads_only_the_input_prefix_and_writes_only_results():
    template = render(ENABLED)
    values = parameter_values(template)
    bucket = of_type(template, "AWS::S3::Bucket")["LabellingBucket"]
    [notification] = bucket["NotificationConfiguration"]["LambdaConfigurations"]
    assert notification["Event"] == "s3:ObjectCreated:*"
    assert notification["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": {"Ref": "InputPrefix"}}]
    assert evaluate({"Ref": "InputPrefix"}, values) == "incoming/"
    [policy] = of_type(template, "AWS::IAM::Policy").values()
    grants = {statement["Sid"]: (statement["Action"], statement["Resource"])
              for statement in policy["PolicyDocument"]["Statement"]}
    assert grants["ReadPhotos"][0] == ["s3:GetObject", "s3:GetObjectVersion"]
    assert resolved(grants["ReadPhotos"][1], values) == "arn:aws:s3:::example-photos/incoming/*"
    assert grants["WriteResults"][0] == "s3:PutObject"
    assert resolved(grants["WriteResults"][1], values) == "arn:aws:s3:::example-photos/results/*"
    assert grants["ReportFailedNotifications"] == ("sqs:SendMessage", {"Fn::GetAtt": ["LabellingFailures", "Arn"]})


def test_enabled_caps_concurrency_and_sends_failed_notifications_to_a_queue():
    template = render(ENABLED)
    function = of_type(template, "AWS::Serverless::Function")["FacesFunction"]
    assert evaluate(function["ReservedConcurrentExecutions"], parameter_values(template)) == "20"
    [config] = of_type(template, "AWS::Lambda::EventInvokeConfig").values()
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["LabellingFailures", "Arn"]}
    assert config["MaximumRetryAttempts"] == 2


def test_enabled_gives_batch_operations_a_role_that_invokes_the_function():
    template = render(ENABLED)
    role = of_type(template, "AWS::IAM::Role")["BatchOperationsRole"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "batchoperations.s3.amazonaws.com"}
    [policy] = role["Policies"]
    invoke = next(s for s in policy["PolicyDocument"]["Statement"] if s["Sid"] == "InvokeTheFunction")
    assert invoke["Action"] == "lambda:InvokeFunction" and invoke["Resource"] == {"Fn::GetAtt": ["FacesFunction", "Arn"]}
    assert {"BatchOperationsRoleArn", "FunctionArn", "LabellingBucketName"} <= set(template["Outputs"])
