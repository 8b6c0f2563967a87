"""``/api/v1/clips/jobs``: who said it, when, and was the clip cut, re-ordered or altered.

A clip (MP4/MOV or Matroska/WebM) is streamed to disk under ``MAX_CLIP_BYTES``, sniffed by
its container magic, and handed to the job worker, which runs ``watermark.verify_clip``
(docs/clip.md) against the streamers whose keys this installation holds and the signed
broadcast manifests in its store, checked against the chain; progress is seconds of video
decoded. Poll ``/api/v1/jobs/{id}``; the result is the clip verdict as ``livetrust clip
verify --json`` (``{"verdict", "streamer", "segments": [{"clip_start", "clip_end", "status",
"broadcast_start", "broadcast_end"}], "findings", "manifest"}``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from services.api._deps import RuntimeDep
from services.api._errors import ApiError
from services.api._jobs import Progress
from services.api._uploads import MAX_CLIP_BYTES, Upload, receive, sniff_video

router = APIRouter(prefix="/clips", tags=["clips"])

# what clients send for a video; the container is decided by sniffing, not by this header
VIDEO_TYPES = (
    "video/mp4",
    "video/quicktime",
    "video/x-matroska",
    "video/webm",
    "application/octet-stream",
)
CLIP_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in VIDEO_TYPES},
    }
}


def submit_clip_job(rt: Any, upload: Upload) -> Any:
    def work(progress: Progress) -> dict[str, Any]:
        from watermark import KeyStore
        from watermark._clip import StoreSource, verify_clip

        keys = KeyStore(rt.settings.home).all()
        progress(0.02, f"checking against {len(keys)} registered streamers")

        def on_progress(done: float, total: float) -> None:
            if total > 0:
                progress(
                    0.05 + 0.9 * min(done / total, 1.0), f"decoded {done:.0f} of {total:.0f} s"
                )

        verdict = verify_clip(
            str(upload.path),
            keys,
            StoreSource(rt.manifests),
            rt.directory,
            rt.anchors,
            progress=on_progress,
        )
        result: dict[str, Any] = verdict.to_json()
        return result

    return rt.jobs.submit("clip", work, upload.discard)


async def clip_upload(request: Request, rt: Any, upload: Upload | None = None) -> Upload:
    if upload is None:
        upload = await receive(request, MAX_CLIP_BYTES, rt.settings.home, VIDEO_TYPES)
    if sniff_video(upload.head) is None:
        upload.discard()
        raise ApiError("unsupported_media_type", "not an MP4/MOV or Matroska/WebM video")
    return upload


@router.post(
    "/jobs",
    status_code=202,
    summary="Verify a clip: streamer, broadcast times, edits",
    openapi_extra=CLIP_BODY,
)
async def clip_job(request: Request, rt: RuntimeDep) -> dict[str, Any]:
    """Returns a job id at once; the server stays responsive while the clip is decoded."""
    upload = await clip_upload(request, rt)
    job = await run_in_threadpool(submit_clip_job, rt, upload)  # a database write
    return {"job": job.id, "poll": f"/api/v1/jobs/{job.id}"}
