"""S3-driven runs against real parts: the built Lambda package under AWS's Runtime Interface
Emulator (scripts/lambda_rie.py) reads photos from, and writes results to, a real S3-compatible
server (SeaweedFS, scripts/s3_server.py) on 127.0.0.1, which the function reaches through
AWS_ENDPOINT_URL_S3 with the runtime's own boto3. The tests check what lands in the bucket."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from urllib.parse import quote_plus

import pytest

from conftest import FACE_PHOTOS, NO_FACE_PHOTO, distinct_photos, gender_of
from test_lambda_runtime import tools  # noqa: F401  (a fixture)
from test_serverless import package  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import lambda_rie  # noqa: E402
import s3_server  # noqa: E402

BUCKET = "photos"
PHOTO = FACE_PHOTOS[0]
CORRUPT = PHOTO.read_bytes()[:2000]  # a JPEG cut short


@pytest.fixture(scope="module")
def server():
    try:
        s3_server.weed_binary()
    except FileNotFoundError as missing:
        pytest.fail(str(missing))
    with s3_server.S3Server() as running:
        yield running


@pytest.fixture(scope="module")
def bucket(server):
    import boto3

    s3 = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                      aws_access_key_id=s3_server.CREDENTIALS["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=s3_server.CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    s3.create_bucket(Bucket=BUCKET)
    return s3


@pytest.fixture(scope="module")
def function(tools, package, server):
    environment = {"AWS_ENDPOINT_URL_S3": server.endpoint, **s3_server.CREDENTIALS}
    with lambda_rie.Emulator(package[1], environment=environment) as emulator:
        yield emulator


def notification(key: str, bucket: str = BUCKET) -> dict:
    """An S3 ObjectCreated:Put notification as S3 sends it (the key URL-encoded, spaces as +)."""
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-12-07T03:00:00.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:EXAMPLE"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "EXAMPLE", "x-amz-id-2": "EXAMPLE"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "incoming-photos",
               "bucket": {"name": bucket, "ownerIdentity": {"principalId": "EXAMPLE"}, "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": quote_plus(key), "size": 1, "eTag": "0", "sequencer": "0"}},
    }]}


def batch_job(version: str, keys: list[str], user_arguments: dict | None = None) -> dict:
    """An S3 Batch Operations invocation of schema 1.0 (bucket ARN) or 2.0 (bucket name, user arguments)."""
    def task(number: int, key: str) -> dict:
        where = {"s3BucketArn": f"arn:aws:s3:::{BUCKET}"} if version == "1.0" else {"s3Bucket": BUCKET}
        return {"taskId": f"task-{number}", "s3Key": quote_plus(key), "s3VersionId": None, **where}

    job = {"id": "job-1"} | ({"userArguments": user_arguments} if user_arguments is not None else {})
    return {"invocationSchemaVersion": version, "invocationId": f"invocation-{version}", "job": job,
            "tasks": [task(number, key) for number, key in enumerate(keys)]}


def result(bucket, key: str) -> dict:
    return json.load(bucket.get_object(Bucket=BUCKET, Key=f"results/{key}.json")["Body"])


def api_answer(client, data: bytes) -> dict:
    response = client.post("/v1/faces", content=data, headers={"content-type": "image/jpeg"})
    assert response.status_code == 200, response.text
    return response.json()


def timings_aside(body: dict) -> dict:
    return {name: value for name, value in body.items() if name != "timings_ms"}


def test_a_notification_writes_the_apis_answer_and_a_redelivery_the_same(function, bucket, client):
    key = "incoming/holiday 2024/first+photo.jpg"  # a space and a plus: S3 URL-encodes the key in the event
    bucket.put_object(Bucket=BUCKET, Key=key, Body=PHOTO.read_bytes())
    answer = function.invoke(notification(key))
    assert answer == {"results": [{"key": f"results/{key}.json", "faces": 1}]}, "".join(function.lines[-30:])
    written = result(bucket, key)
    assert written["faces"][0]["gender"] == gender_of(PHOTO)
    assert timings_aside(written) == timings_aside(api_answer(client, PHOTO.read_bytes()))
    assert bucket.head_object(Bucket=BUCKET, Key=f"results/{key}.json")["ContentType"] == "application/json"

    assert function.invoke(notification(key)) == answer
    assert timings_aside(result(bucket, key)) == timings_aside(written)


def test_a_corrupt_object_gets_its_error_code_and_no_retry(function, bucket):
    key = "incoming/broken.jpg"
    bucket.put_object(Bucket=BUCKET, Key=key, Body=CORRUPT)
    answer = function.invoke(notification(key))
    assert answer == {"results": [{"key": f"results/{key}.json", "error": "corrupt_image"}]}  # returned: no retry
    assert result(bucket, key) == {"error": {"code": "corrupt_image",
                                             "message": "The image is corrupt or truncated and cannot be decoded."}}


def test_a_result_object_is_never_labelled(function, bucket):
    assert function.invoke(notification("results/incoming/broken.jpg.json")) == {"results": []}


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_batch_operations_tasks_get_result_codes(function, bucket, client, version):
    good, corrupt, missing = (f"backfill-{version}/{name}" for name in ("good.jpg", "corrupt.jpg", "missing.jpg"))
    bucket.put_object(Bucket=BUCKET, Key=good, Body=PHOTO.read_bytes())
    bucket.put_object(Bucket=BUCKET, Key=corrupt, Body=CORRUPT)
    answer = function.invoke(batch_job(version, [good, corrupt, missing]))
    assert answer["invocationSchemaVersion"] == version and answer["invocationId"] == f"invocation-{version}"
    assert answer["treatMissingKeysAs"] == "PermanentFailure"
    assert answer["results"] == [
        {"taskId": "task-0", "resultCode": "Succeeded", "resultString": f"1 faces: results/{good}.json"},
        {"taskId": "task-1", "resultCode": "PermanentFailure", "resultString": f"corrupt_image: results/{corrupt}.json"},
        {"taskId": "task-2", "resultCode": "PermanentFailure", "resultString": "NoSuchKey"},
    ], "".join(function.lines[-30:])
    assert timings_aside(result(bucket, good)) == timings_aside(api_answer(client, PHOTO.read_bytes()))
    assert result(bucket, corrupt)["error"]["code"] == "corrupt_image"


def test_a_jobs_user_arguments_are_the_apis_options(function, bucket):
    key = "backfill-args/no_face.jpg"
    bucket.put_object(Bucket=BUCKET, Key=key, Body=NO_FACE_PHOTO.read_bytes())
    answer = function.invoke(batch_job("2.0", [key], {"detector": "hog", "upsample": "0", "min_confidence": "0.5"}))
    assert answer["results"][0]["resultCode"] == "Succeeded"
    assert result(bucket, key)["min_confidence"] == 0.5
    [refused] = function.invoke(batch_job("2.0", [key], {"upsample": "7"}))["results"]
    assert refused == {"taskId": "task-0", "resultCode": "PermanentFailure",
                       "resultString": "invalid_parameter: upsample: 7 is not between 0 and 2."}


def test_fifty_photos_put_in_incoming_give_fifty_results_each_the_apis_answer(function, bucket, client):
    photos = {f"incoming/fifty/{number:02d}.jpg": data for number, data in enumerate(distinct_photos(50))}
    for key, data in photos.items():
        bucket.put_object(Bucket=BUCKET, Key=key, Body=data)
        function.invoke(notification(key))
    listed = bucket.list_objects_v2(Bucket=BUCKET, Prefix="results/incoming/fifty/")["Contents"]
    assert sorted(item["Key"] for item in listed) == sorted(f"results/{key}.json" for key in photos)
    for key, data in photos.items():
        assert timings_aside(result(bucket, key)) == timings_aside(api_answer(client, data)), key
