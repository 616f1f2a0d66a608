"""AWS Lambda entry point: API Gateway (REST v1 or HTTP API v2) events through Mangum."""

import os

from mangum import Mangum

from function import service
from function.app import app

# Lambda's init phase (full CPU, not billed per request) loads the model and detector.
service.pipeline().warm_up()

handler = Mangum(app, lifespan="off", api_gateway_base_path=os.environ.get("FACES_API_BASE_PATH", "/"))
