"""AWS Lambda entry point, by event kind: API Gateway (REST v1 or HTTP API v2) events through
Mangum; S3 ObjectCreated notifications and S3 Batch Operations invocations to s3_events."""

import os

from mangum import Mangum

from function import s3_events, service
from function.app import app

# Lambda's init phase (full CPU, not billed per request) loads the model and detector.
service.pipeline().warm_up()

http = Mangum(app, lifespan="off", api_gateway_base_path=os.environ.get("FACES_API_BASE_PATH", "/"))


def handler(event, context):
    if s3_events.is_notification(event):
        return s3_events.on_notification(event)
    if s3_events.is_batch_job(event):
        return s3_events.on_batch_job(event)
    return http(event, context)
