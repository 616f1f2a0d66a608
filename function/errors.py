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
