# `sam build` (template.yaml: BuildMethod makefile) runs this target with ARTIFACTS_DIR set.
# It is the build command of docs/deploy.md, building straight into SAM's artifacts directory.
LAMBDA_PYTHON ?= $(shell scripts/lambda_python.sh)

build-FacesFunction:
	$(LAMBDA_PYTHON) scripts/build_lambda.py --package-dir "$(ARTIFACTS_DIR)" --no-zip

# The built package (dist/lambda) under AWS's Runtime Interface Emulator, without Docker:
# `make local-invoke EVENT=events/http-v2-json.json` (like `sam local invoke -e`) and
# `make local-api` (like `sam local start-api`: http://127.0.0.1:3000/). docs/deploy.md, "Run it as Lambda does".
EVENT ?= events/http-v2-raw-jpeg.json

local-invoke:
	python3 scripts/lambda_rie.py $(EVENT)

local-api:
	python3 scripts/lambda_api.py

# A real S3-compatible server (SeaweedFS, from tests/requirements.txt) on 127.0.0.1:8333 for the
# S3 handler: README, "Label a collection".
s3-server:
	.venv/bin/python scripts/s3_server.py

.PHONY: build-FacesFunction local-invoke local-api s3-server
