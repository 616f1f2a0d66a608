"""Client-facing errors: each carries the HTTP status and a stable machine-readable code."""


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class InvalidImage(ApiError):
    status = 400
    code = "invalid_image"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"


class InvalidRequest(ApiError):
    status = 422
    code = "invalid_request"


class InternalError(ApiError):
    status = 500
    code = "internal_error"


# Every code the API sends, by HTTP status, with what it means: /openapi.json lists exactly these.
ERROR_CODES: dict[int, dict[str, str]] = {
    400: {
        "invalid_image": "The data is not an image in an accepted format (JPEG, PNG, WebP, BMP, GIF, TIFF).",
        "empty_image": "The image is empty (0 bytes).",
        "corrupt_image": "The image is corrupt or truncated and cannot be decoded.",
        "invalid_base64": 'The JSON body\'s "image" is not valid base64 (or a data: URL not in base64).',
    },
    413: {
        "body_too_large": "The body is over FACES_MAX_BODY_BYTES (6 MiB by default).",
        "too_many_pixels": "The image has more than FACES_MAX_PIXELS pixels (40 megapixels by default).",
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
