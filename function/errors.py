"""The service's errors: each carries a stable machine-readable code (one of ERROR_CODES).
Callers map the code to what they answer: the HTTP API to a status (app.py), the batch command
and the S3 handler to a result row."""

from function.settings import MAX_BODY_BYTES, MAX_PIXELS


class ServiceError(Exception):
    code = "internal_error"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class InvalidImage(ServiceError):
    code = "invalid_image"


class PayloadTooLarge(ServiceError):
    code = "too_many_pixels"


class UnsupportedMediaType(ServiceError):
    code = "unsupported_media_type"


class InvalidRequest(ServiceError):
    code = "invalid_parameter"


class InternalError(ServiceError):
    code = "internal_error"


# Every code, by the HTTP status the API answers it with, with what it means: /openapi.json
# lists exactly these, and the API maps a code to its status from here alone.
ERROR_CODES: dict[int, dict[str, str]] = {
    400: {
        "invalid_image": "The data is not an image in an accepted format (JPEG, PNG, WebP, BMP, GIF, TIFF).",
        "empty_image": "The image is empty (0 bytes).",
        "corrupt_image": "The image is corrupt or truncated and cannot be decoded.",
        "invalid_base64": 'The JSON body\'s "image" is not valid base64 (or a data: URL not in base64).',
    },
    413: {
        "body_too_large": f"The body is over FACES_MAX_BODY_BYTES ({MAX_BODY_BYTES / 2**20:g} MiB by default).",
        "too_many_pixels": f"The image has more than FACES_MAX_PIXELS pixels ({MAX_PIXELS / 1e6:g} megapixels by default).",
    },
    415: {
        "unsupported_media_type": "The Content-Type is none of multipart/form-data, image/*, "
        "application/octet-stream, application/json.",
    },
    422: {
        "invalid_parameter": "A query parameter is of the wrong type, out of range or not one of its choices.",
        "invalid_json": "The body is not valid JSON.",
        "missing_image": 'The JSON body is not an object with a string field "image".',
        "invalid_multipart": "The multipart body is malformed or truncated, or has no boundary.",
        "missing_file": 'The multipart body has no "file" field.',
    },
    500: {
        "internal_error": "The server failed to process the request (no internals are given).",
    },
}

HTTP_STATUS = {code: status for status, codes in ERROR_CODES.items() for code in codes}
