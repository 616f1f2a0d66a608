"""Getting the image bytes out of a request: multipart field, raw image body or JSON base64."""

from __future__ import annotations

import base64
import binascii
import json

from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

from function.errors import InvalidImage, InvalidRequest, UnsupportedMediaType

IMAGE_FIELD = "file"
RAW_TYPES = ("image/", "application/octet-stream")


def image_bytes(body: bytes, content_type: str) -> bytes:
    media_type, params = parse_options_header(content_type or "")
    media_type = media_type.decode("latin-1").lower()
    if media_type == "multipart/form-data":
        return _multipart_field(body, params.get(b"boundary"), IMAGE_FIELD)
    if media_type == "application/json" or media_type.endswith("+json"):
        return _json_image(body)
    if media_type.startswith(RAW_TYPES):
        return body
    raise UnsupportedMediaType(
        f"Content type '{media_type or '(none)'}' is not accepted. Send multipart/form-data with a "
        f"'{IMAGE_FIELD}' field, a raw image/* body, or JSON {{\"image\": \"<base64 or data: URL>\"}}."
    )


def _json_image(body: bytes) -> bytes:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):  # RecursionError: deeply nested
        raise InvalidRequest("The body is not valid JSON.", code="invalid_json")
    if not isinstance(document, dict) or not isinstance(document.get("image"), str):
        raise InvalidRequest('The JSON body must be an object with a string field "image".', code="missing_image")
    text = document["image"].strip()
    if text.startswith("data:"):
        header, _, text = text.partition(",")
        if ";base64" not in header:
            raise InvalidImage("A data: URL must be base64-encoded (data:image/...;base64,...).", code="invalid_base64")
    try:
        # Whitespace anywhere is ignored, as browsers' atob() does (line-wrapped or spaced base64).
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidImage('The "image" field is not valid base64.', code="invalid_base64")


def _multipart_field(body: bytes, boundary: bytes | None, field: str) -> bytes:
    """The named field's content, parsed in memory (nothing is spooled to disk)."""
    if not boundary:
        raise InvalidRequest("The multipart Content-Type has no boundary.", code="invalid_multipart")
    parts: list[tuple[bytes, bytearray]] = []
    header_name = bytearray()
    header_value = bytearray()
    headers: dict[bytes, bytes] = {}

    def on_part_begin():
        headers.clear()

    def on_header_field(data, start, end):
        header_name.extend(data[start:end])

    def on_header_value(data, start, end):
        header_value.extend(data[start:end])

    def on_header_end():
        headers[bytes(header_name).lower()] = bytes(header_value)
        header_name.clear()
        header_value.clear()

    def on_headers_finished():
        _, params = parse_options_header(headers.get(b"content-disposition", b""))
        parts.append((params.get(b"name", b""), bytearray()))

    def on_part_data(data, start, end):
        parts[-1][1].extend(data[start:end])

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except Exception:
        raise InvalidRequest("The multipart body is malformed.", code="invalid_multipart")
    if parser.state != MultipartState.END:
        raise InvalidRequest("The multipart body is truncated (no closing boundary).", code="invalid_multipart")
    for name, content in parts:
        if name == field.encode():
            return bytes(content)
    names = ", ".join(repr(name.decode("latin-1")) for name, _ in parts) or "none"
    raise InvalidRequest(
        f"The multipart body has no '{field}' field (fields sent: {names}).", code="missing_file"
    )
