"""Server-rendered pages (Jinja2): batch trace, proof/clip verification, trust dashboard.

Every page works without JavaScript: charts are inline SVG, uploads are plain HTML forms,
and a background verification is followed by a page that refreshes itself
(``<meta http-equiv="refresh">``) until the job is done.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from services.api._charts import bar_chart, line_chart, qr_svg
from services.api._deps import RuntimeDep
from services.api._errors import ApiError
from services.api._uploads import MAX_BUNDLE_BYTES, Upload, sniff_json, stream_to_disk, upload_dir
from services.api._views import dashboard_totals, profile_named, verdict_bytes
from services.api.routes.proofs import submit_bundle_job

__all__ = ["PLAIN_WORDS", "WEB", "router", "templates"]

WEB = Path(__file__).resolve().parent.parent / "web"
templates = Jinja2Templates(directory=str(WEB / "templates"))
router = APIRouter(include_in_schema=False)

# What a buyer reads for each finding code (the detail sentence follows in smaller type).
PLAIN_WORDS: dict[str, str] = {
    "hash_mismatch": "A record was changed after it was signed.",
    "signature_invalid": "A signature does not match its record.",
    "unknown_actor": "A step was signed by someone who is not registered.",
    "key_not_valid_at_time": "A step was signed with a key that was not valid at the time.",
    "role_not_allowed": "A step was signed by a party not allowed to do it "
    "(for example, a farm signing a lab test).",
    "key_reference_invalid": "The proof names a key that is not registered for its signer.",
    "chain_broken": "A step of the history is missing or out of place.",
    "time_out_of_order": "Steps are dated in an impossible order.",
    "quantity_not_conserved": "Quantities do not add up between steps.",
    "cold_chain_breach": "The temperature left the safe range during transport or storage.",
    "missing_step": "A required step (origin, packing, inspection, shipping or receipt) "
    "is missing.",
    "not_anchored": "The latest steps are not yet sealed on the public chain.",
    "inclusion_proof_invalid": "A record is not part of the sealed log.",
    "root_not_on_chain": "The seal this proof relies on is not on the public chain.",
    "anchor_mismatch": "The seal details differ from the public chain's record.",
    "root_mismatch": "The log was rewritten after it was sealed.",
    "consistency_proof_invalid": "Two seals of the log disagree.",
    "batch_mismatch": "The proof is about a different batch.",
    "bundle_malformed": "The file is not a readable proof bundle.",
    "bundle_not_canonical": "The proof file was edited.",
}

STEP_WORDS: dict[str, str] = {
    "commissioning": "Harvested / created",
    "creating_class_instance": "Created",
    "packing": "Packed",
    "repackaging": "Repacked",
    "assembling": "Assembled",
    "inspecting": "Inspected",
    "sampling": "Sampled",
    "shipping": "Shipped",
    "departing": "Departed",
    "transporting": "In transit",
    "arriving": "Arrived",
    "receiving": "Received",
    "accepting": "Accepted",
    "storing": "Stored",
    "stocking": "Stocked",
    "retail_selling": "Sold",
}


def _explain(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for f in findings:
        entry = out.setdefault(
            f["code"],
            {"code": f["code"], "plain": PLAIN_WORDS.get(f["code"], f["code"]), "details": []},
        )
        entry["details"].append(f["detail"])
    return list(out.values())


def _base_url(request: Request, rt: Any) -> str:
    configured: str | None = rt.settings.public_url
    return (configured or str(request.base_url)).rstrip("/")


def batch_url(base: str, batch: str) -> str:
    return f"{base}/b/{quote(batch, safe='')}"


def _short(lot: str) -> str:
    return lot.removeprefix("https://id.gs1.org/")


def _place(body: dict[str, Any]) -> str | None:
    for key in ("bizLocation", "readPoint"):
        v = body.get(key)
        if isinstance(v, dict) and v.get("id"):
            return str(v["id"])
    return None


def _batch_context(rt: Any, request: Request, batch: str, profile: str) -> dict[str, Any]:
    from provenance import canonical_id, trace_batch

    prof = profile_named(profile)
    verdict = json.loads(verdict_bytes(rt, batch, profile))
    story = rt.read_ledger.story(batch)
    trace = trace_batch(rt.read_ledger, batch, rt.read_anchors)
    proof_status = {e["event"]: e["proof"] for e in trace["events"]}
    anchored_size = int(trace["anchor"]["tree_size"]) if trace["anchor"] else 0
    flagged = {f["event"] for f in verdict["findings"] if f["event"]}
    timeline = []
    temps: list[tuple[str, float]] = []
    for s in story:
        body = s.event.body
        st = s.record.statement
        readings = list(s.event.temperatures())
        for r in readings:
            label = (r.time or body.get("eventTime") or "")[5:16].replace("T", " ")
            temps.append((label, r.celsius))
        quantities = [
            f"{q.get('quantity', '')} {q.get('uom', '')} {_short(canonical_id(q['epcClass']))}"
            for key in (
                "quantityList",
                "inputQuantityList",
                "outputQuantityList",
                "childQuantityList",
            )
            for q in body.get(key) or []
            if isinstance(q, dict) and q.get("epcClass")
        ]
        timeline.append(
            {
                "time": body.get("eventTime", ""),
                "step": s.event.biz_step or "-",
                "step_words": STEP_WORDS.get(s.event.biz_step or "", s.event.biz_step or "Event"),
                "type": s.event.type,
                "actor": st.actor,
                "role": st.role,
                "place": _place(body),
                "disposition": s.event.disposition,
                "quantities": quantities,
                "temperatures": [f"{r.celsius:g} °C" for r in readings],
                "hash_id": s.hash_id,
                "proof": proof_status.get(
                    s.hash_id, "anchored" if s.seq < anchored_size else "not_anchored"
                ),
                "flagged": s.hash_id in flagged,
            }
        )
    lot = canonical_id(batch)
    base = _base_url(request, rt)
    page = batch_url(base, lot)
    chart = (
        line_chart(
            temps,
            name="temperature",
            title=f"temperatures, safe range {prof.min_celsius:g}–{prof.max_celsius:g} °C",
            unit=" °C",
            band=(prof.min_celsius, prof.max_celsius),
        )
        if temps
        else None
    )
    parties = sorted({(e["actor"], e["role"]) for e in timeline}, key=lambda p: p[0])
    return {
        "parties": parties,
        "batch": lot,
        "short": _short(lot),
        "verdict": verdict,
        "reasons": _explain(verdict["findings"]),
        "origin": [
            {**o, "start_utc": _utc(o["start"]), "end_utc": _utc(o["end"])}
            for o in verdict.get("origin_evidence", [])
        ],
        "timeline": timeline,
        "chart": chart,
        "anchor": trace["anchor"],
        "trace": trace,
        "profile": prof,
        "page_url": page,
        "qr": qr_svg(page),
        "bundle_url": f"/api/v1/proofs/{quote(lot, safe='')}",
        "verdict_url": f"/api/v1/batches/{quote(lot, safe='')}/verdict?profile={prof.name}",
    }


def _render(request: Request, name: str, ctx: dict[str, Any], status: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, name, ctx, status_code=status)


def _problem(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    return _render(request, "problem.html", {"title": title, "message": message}, status)


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    return _render(request, "home.html", {})


@router.get("/b", response_class=HTMLResponse, response_model=None)
def batch_lookup(request: Request, batch: str = "") -> Response:
    """The home page's lookup form (GET, works without JS) redirects to the batch page."""
    if not batch.strip():
        return RedirectResponse("/", status_code=303)
    return RedirectResponse(f"/b/{quote(batch.strip(), safe='')}", status_code=303)


@router.get("/b/{batch:path}", response_class=HTMLResponse)
async def batch_page(
    batch: str, request: Request, rt: RuntimeDep, profile: str = "chilled_produce"
) -> HTMLResponse:
    from provenance import ProvenanceError

    try:
        ctx = await run_in_threadpool(_batch_context, rt, request, batch, profile)
    except ProvenanceError as exc:
        if exc.code in ("unknown_batch", "malformed_event"):
            return _problem(request, 404, "Unknown batch", f"We hold no record of batch {batch!r}.")
        raise
    except ApiError as exc:
        return _problem(request, exc.status, "Cannot show this batch", str(exc))
    return _render(request, "batch.html", ctx)


# -- verification -----------------------------------------------------------------------------


@router.get("/verify", response_class=HTMLResponse)
def verify_form(request: Request) -> HTMLResponse:
    return _render(request, "verify.html", {"max_mb": MAX_BUNDLE_BYTES // (1024 * 1024)})


async def _clip_from_form(request: Request, rt: Any) -> Response | None:
    from services.api._uploads import MAX_CLIP_BYTES, sniff_video
    from services.api.routes.clips import submit_clip_job

    try:
        upload = await _form_file(request, rt, "clip", MAX_CLIP_BYTES)
    except ApiError as exc:
        return _problem(request, exc.status, "Upload refused", str(exc))
    if upload is None or upload.size == 0:
        return None
    if sniff_video(upload.head) is None:
        upload.discard()
        return _problem(request, 415, "Not a video", "Upload an MP4/MOV or Matroska/WebM clip.")
    job = await run_in_threadpool(submit_clip_job, rt, upload)
    return RedirectResponse(f"/verify/jobs/{job.id}", status_code=303)


async def _form_file(request: Request, rt: Any, field: str, limit: int) -> Upload | None:
    """The one file of a multipart form, streamed to disk by python-multipart's parser in
    chunks (never whole in memory) and copied into our uploads dir under the limit."""
    from services.api._uploads import MAX_CLIP_BYTES

    declared = request.headers.get("content-length")
    # the form may carry a bundle or a clip: the larger limit bounds the whole body, each
    # file is then held to its own limit while it is copied
    form_limit = max(limit, MAX_CLIP_BYTES) + 64 * 1024
    if declared is not None and declared.isdigit() and int(declared) > form_limit:
        raise ApiError("payload_too_large", f"upload exceeds {form_limit:,} bytes")
    form = await request.form(max_files=1, max_fields=4)
    item = form.get(field)
    if item is None or isinstance(item, str):
        return None

    async def chunks() -> Any:
        while True:
            chunk = await item.read(64 * 1024)
            if not chunk:
                break
            yield chunk

    try:
        return await stream_to_disk(
            chunks(), limit, upload_dir(rt.settings.home), item.content_type or ""
        )
    finally:
        await item.close()


@router.post("/verify", response_class=HTMLResponse, response_model=None)
async def verify_upload(request: Request, rt: RuntimeDep) -> Response:
    try:
        upload = await _form_file(request, rt, "bundle", MAX_BUNDLE_BYTES)
    except ApiError as exc:
        return _problem(request, exc.status, "Upload refused", str(exc))
    if upload is None or upload.size == 0:
        clip = await _clip_from_form(request, rt)
        if clip is not None:
            return clip
        return _problem(request, 422, "No file", "Choose a proof bundle (.json) or a clip.")
    if not sniff_json(upload.head):
        upload.discard()
        return _problem(
            request, 415, "Not a proof bundle", "A proof bundle is a JSON file (bundle-….json)."
        )
    job = await run_in_threadpool(submit_bundle_job, rt, upload, "chilled_produce")
    return RedirectResponse(f"/verify/jobs/{job.id}", status_code=303)


@router.get("/verify/jobs/{job_id}", response_class=HTMLResponse)
def verify_job(job_id: str, request: Request, rt: RuntimeDep) -> HTMLResponse:
    job = rt.jobs.get(job_id)
    if job is None:
        return _problem(request, 404, "Unknown job", "This check has expired; upload again.")
    ctx: dict[str, Any] = {"job": job.to_json()}
    if job.state == "done" and job.result is not None and job.kind == "clip":
        ctx["clip"] = _clip_context(job.result)
    elif job.state == "done" and job.result is not None:
        ctx["verdict"] = job.result
        ctx["reasons"] = _explain(job.result.get("findings", []))
        batch = job.result.get("batch")
        ctx["batch_url"] = f"/b/{quote(batch, safe='')}" if batch else None
    return _render(request, "job.html", ctx)


def _clip_context(verdict: dict[str, Any]) -> dict[str, Any]:
    """The clip verdict for the page: a badge, and the clip report's fragment (timeline bar
    coloured by status with broadcast times, segments, findings), as ``livetrust clip verify
    --html`` writes it."""
    from markupsafe import Markup

    from watermark._report import REPORT_CSS, VERDICT_TEXT, report_fragment

    v = str(verdict.get("verdict"))
    return {
        "verdict": v,
        "ok": v == "authentic",
        # real footage of the streamer, but cut or re-ordered: neither a pass nor a forgery
        "tone": {"authentic": "ok", "edited": "warn"}.get(v, "bad"),
        "mark": {"authentic": "✓", "edited": "!"}.get(v, "✗"),
        "text": VERDICT_TEXT.get(v, v),
        "streamer": verdict.get("streamer"),
        "report": Markup(report_fragment(verdict)),  # every value escaped by the report
        "css": Markup(REPORT_CSS),
    }


# -- dashboard --------------------------------------------------------------------------------

# The score's terms are time-decayed rates pulled towards a prior (services/_credit.py), so a
# shop with 1 complaint in 2 orders shows a smoothed complaint rate of a few percent: the page
# names them as such, next to the raw 30-day count the circuit breaker uses.
TERM_LABELS = {
    "fulfilment": "fulfilment rate (score term, smoothed)",
    "complaint_rate": "complaint rate (score term, smoothed)",
    "fault_rate": "fault rate (score term, smoothed)",
    "qc_pass": "QC pass rate (score term, smoothed)",
}


def _dashboard_context(rt: Any) -> dict[str, Any]:
    from services._credit import MIN_WINDOW_ORDERS
    from services.api.routes.orders import streamers_index

    totals = dashboard_totals(rt)
    streamers = streamers_index(rt)
    for s in streamers:
        points = [
            (time.strftime("%m-%d %H:%M", time.gmtime(h["at"])), h["score"]) for h in s["history"]
        ]
        s["chart"] = line_chart(
            points or [("now", s["score"])],
            name="trust-history",
            title=f"credit score history of {s['streamer'] or s['seller']}",
            band=(0.0, 100.0),
            height=110,
        )
    per_day = [(d["day"][5:], float(d["events"])) for d in totals["events_per_day"]]
    roles = sorted(totals["actors"].items())
    return {
        "streamers": streamers,
        "term_labels": TERM_LABELS,
        "min_orders": MIN_WINDOW_ORDERS,
        "totals": totals,
        "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "events_chart": bar_chart(
            per_day, name="events-per-day", title="events recorded per day", label_every=2
        ),
        "roles_chart": bar_chart(
            [(r, float(n)) for r, n in roles], name="actors-by-role", title="actors by role"
        ),
        "steps_chart": bar_chart(
            sorted(((s, float(n)) for s, n in totals["biz_steps"].items()), key=lambda x: -x[1])[
                :10
            ],
            name="events-by-step",
            title="events by business step",
            horizontal=True,
        ),
    }


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard_page(request: Request, rt: RuntimeDep) -> HTMLResponse:
    ctx = await run_in_threadpool(_dashboard_context, rt)
    return _render(request, "dashboard.html", ctx)


# -- orders -----------------------------------------------------------------------------------

WEI_PER_ETH = 10**18
# What happens next in each state, and who may do it (the write routes in routes/orders.py).
NEXT_STEP = {
    "paid": "The seller ships; if not shipped by the ship deadline, the buyer is refunded.",
    "shipped": "The seller or carrier marks delivery; the buyer confirms or disputes.",
    "delivered": "The buyer confirms (the seller is paid) or disputes before the deadline.",
    "disputed": "The oracle rules on the evidence, or a human arbiter does.",
    "ruled": "Either party may appeal once before the deadline; then the ruling is paid out.",
    "settled": "Paid out as ruled; each party withdraws its share.",
    "released": "The seller was paid.",
    "refunded": "The buyer was refunded.",
}


def _utc(t: Any) -> str:
    if not t:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(int(t)))


@router.get("/orders/{order_id}", response_class=HTMLResponse)
async def order_page(order_id: str, request: Request, rt: RuntimeDep) -> HTMLResponse:
    from services.api.routes.orders import order_status

    if not order_id.isdigit() or len(order_id) > 18:
        return _problem(request, 404, "Unknown order", f"There is no order {order_id!r}.")
    try:
        status = await run_in_threadpool(order_status, rt, int(order_id))
    except ApiError as exc:
        return _problem(request, exc.status, "Unknown order", str(exc))
    order = status["order"]
    batch = order.get("batch")
    return _render(
        request,
        "order.html",
        {
            "s": status,
            "o": order,
            "eth": lambda wei: f"{int(wei) / WEI_PER_ETH:.4f}".rstrip("0").rstrip(".") + " ETH",
            "batch_url": f"/b/{quote(batch, safe='')}" if batch else None,
            "escrow": rt.book.escrow.address,
            "utc": _utc,
            "next_step": NEXT_STEP.get(status["state"]),
            # the oracle notes each finding it has no rule for; the page says each once
            "notes": Counter((status.get("decision") or {}).get("notes") or ()).most_common(),
        },
    )
