"""S3-driven runs on Lambda: S3 ObjectCreated notifications, and S3 Batch Operations tasks
(invocation schema 1.0 and 2.0) for a collection already in S3.

Each photo s3://BUCKET/KEY gets s3://BUCKET/results/KEY.json: the body
/v1/faces answers for it, or, for a photo that cannot be read, the API's error body with its
code. The result's key and content depend only on the photo and the options (timings aside),
so a redelivered event writes the same object again.

What fails where: a photo's own error (corrupt, too large...) is a result, never a retry. A
fault (S3 unreachable, internal_error) raises for a notification, so Lambda retries the async
event and then sends it to the function's on-failure destination; for a Batch Operations task
it is a TemporaryFailure, which the job retries. A task whose object is gone or unreadable to
the function is a PermanentFailure.

boto3 is the Lambda runtime's own (the package does not bundle it), imported on first use;
AWS_ENDPOINT_URL_S3 points it at another S3-compatible server.
"""

from __future__ import annotations

import json
import logging
from functools import cache
from urllib.parse import unquote_plus

from function import service
from function.errors import ServiceError
from function.service import Options

log = logging.getLogger("faces")
RESULTS_PREFIX = "results/"  # template.yaml's policies allow writes under it alone
# S3 error codes that a retry cannot change: a Batch Operations task with them fails for good.
PERMANENT_S3_ERRORS = {"NoSuchKey", "NoSuchBucket", "NoSuchVersion", "AccessDenied", "InvalidObjectState", "404", "403"}


def is_notification(event: object) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    return bool(records) and all(record.get("eventSource") == "aws:s3" for record in records)


def is_batch_job(event: object) -> bool:
    return isinstance(event, dict) and "invocationSchemaVersion" in event and "tasks" in event


@cache
def s3():
    import boto3

    return boto3.client("s3")


def result_key(key: str) -> str:
    return f"{RESULTS_PREFIX}{key}.json"


def label(bucket: str, key: str, version: str | None = None, options: Options = Options()) -> dict:
    """Writes the photo's result object and returns its body. Raises InternalError or botocore's
    ClientError on a fault."""
    try:
        body = service.faces(read(bucket, key, version), options).model_dump(mode="json")
    except ServiceError as error:
        if error.code == "internal_error":
            raise
        body = {"error": {"code": error.code, "message": error.message}}
    s3().put_object(Bucket=bucket, Key=result_key(key), Body=json.dumps(body).encode(),
                    ContentType="application/json")
    return body


def read(bucket: str, key: str, version: str | None) -> bytes:
    extra = {"VersionId": version} if version else {}
    answer = s3().get_object(Bucket=bucket, Key=key, **extra)
    with answer["Body"] as body:
        service.check_size(answer["ContentLength"])
        return body.read()


def on_notification(event: dict) -> dict:
    """An S3 notification: each created object's result, written. Raises on a fault (Lambda retries)."""
    written = []
    for record in event["Records"]:
        if not record["eventName"].startswith("ObjectCreated:"):
            continue
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])
        if key.startswith(RESULTS_PREFIX):
            log.warning("not labelling s3://%s/%s: it is under the results prefix", bucket, key)
            continue
        body = label(bucket, key, record["s3"]["object"].get("versionId"))
        written.append({"key": result_key(key), **summary(body)})
    return {"results": written}


def on_batch_job(event: dict) -> dict:
    """An S3 Batch Operations invocation: each task's resultCode and resultString, in the response
    schema of the invocation's version."""
    version = event["invocationSchemaVersion"]
    try:
        options = Options.from_strings(event.get("job", {}).get("userArguments") or {})
        problem = None
    except ServiceError as error:
        options, problem = Options(), f"{error.code}: {error.message}"
    results = [{"taskId": task["taskId"], **task_result(task, options, problem)} for task in event["tasks"]]
    return {"invocationSchemaVersion": version, "treatMissingKeysAs": "PermanentFailure",
            "invocationId": event["invocationId"], "results": results}


def task_result(task: dict, options: Options, problem: str | None) -> dict:
    if problem:  # the job's own arguments are wrong: no task of it can succeed
        return {"resultCode": "PermanentFailure", "resultString": problem}
    # Schema 1.0 names the bucket by its ARN (arn:aws:s3:::NAME), 2.0 by name.
    bucket = task.get("s3Bucket") or task["s3BucketArn"].split(":::", 1)[1]
    key = unquote_plus(task["s3Key"])
    if key.startswith(RESULTS_PREFIX):
        return {"resultCode": "PermanentFailure", "resultString": "skipped: a result object, not a photo"}
    try:
        body = label(bucket, key, task.get("s3VersionId"), options)
    except ServiceError as error:
        return {"resultCode": "TemporaryFailure", "resultString": error.code}
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        log.error("task %s: %s on s3://%s/%s", task["taskId"], code, bucket, key)
        return {"resultCode": "PermanentFailure" if code in PERMANENT_S3_ERRORS else "TemporaryFailure",
                "resultString": code}
    if "error" in body:
        return {"resultCode": "PermanentFailure", "resultString": f"{body['error']['code']}: {result_key(key)}"}
    return {"resultCode": "Succeeded", "resultString": f"{summary(body)['faces']} faces: {result_key(key)}"}


def summary(body: dict) -> dict:
    if "error" in body:
        return {"error": body["error"]["code"]}
    return {"faces": len(body["faces"])}
