# `sam build` (template.yaml: BuildMethod makefile) runs this target with ARTIFACTS_DIR set.
# It is the README's build command, building straight into SAM's artifacts directory.
LAMBDA_PYTHON ?= $(shell scripts/lambda_python.sh)

build-FacesFunction:
	$(LAMBDA_PYTHON) scripts/build_lambda.py --package-dir "$(ARTIFACTS_DIR)" --no-zip
