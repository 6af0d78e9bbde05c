"""Manual daily production logs (CSV or XLSX) for a factory's "before" period, and order
logs (order, start, finish) for its lead time (docs/targets.md)."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from assessor.api.deps import Caller, Service, factory_for
from assessor.api.errors import ApiError
from assessor.api.models import BaselineStored, respond
from assessor.domain.baseline import BaselineError, BaselineLimitError
from assessor.services.inputs import MAX_UPLOAD_BYTES

router = APIRouter(tags=["baseline"])


@router.post("/api/v1/factories/{id}/baseline", response_model=BaselineStored)
async def post_baseline(
    id: str, p: Caller, service: Service, request: Request, filename: str | None = None
) -> Response:
    f = factory_for(service, p, id)
    data, name = await _upload(request, filename)
    try:
        rows = await service.store_baseline(f, data, name)
    except BaselineError as exc:
        details = [
            {"row": e.row, "column": e.column, "message": e.message, "message_ko": e.message_ko}
            for e in exc.errors
        ]
        if isinstance(exc, BaselineLimitError):
            message = f"file rejected, nothing stored: {exc.breach.en}"
            raise ApiError(exc.status, message, "file", details) from None
        first = exc.errors[0]
        raise ApiError(
            400,
            f"file rejected, nothing stored: {len(exc.errors)} problem(s); first: row {first.row}, "
            f"column {first.column}: {first.message}",
            "file",
            details,
        ) from None
    return respond({"stored_rows": len(rows), "source": "manual", "file": name})


async def _upload(request: Request, filename: str | None) -> tuple[bytes, str]:
    """The file of a multipart form (field ``file``) or the raw body with ``?filename=``."""
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ApiError(400, "file: missing the form field 'file'", "file")
        data = await upload.read()
        name = upload.filename or filename or "upload.csv"
    else:
        data = await request.body()
        name = filename or ("upload.xlsx" if "spreadsheetml" in ctype else "upload.csv")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ApiError(413, f"file: larger than {MAX_UPLOAD_BYTES // 2**20} MiB", "file")
    if not data:
        raise ApiError(400, "file: empty", "file")
    return data, name
