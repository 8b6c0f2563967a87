"""The pages in headless chromium, against a real uvicorn server, with screenshots."""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import quote

from provenance import BUNDLE_FORMAT
from tests.api.conftest import World
from tests.e2e.conftest import ARTIFACTS


def test_batch_page_from_its_qr_target(live: World, page: Any) -> None:
    base = live.batches["url"]
    page.goto(f"{base}/b/{quote(live.batches['0501'], safe='')}")
    target = page.locator("#qr").get_attribute("data-url")
    # the QR code encodes the page's own URL: a buyer scanning the pack lands here
    assert target.startswith(base + "/b/")
    page.goto(target)
    badge = page.locator("#badge")
    assert badge.get_attribute("data-ok") == "true"
    assert "Verified" in badge.inner_text()
    assert page.locator("svg[data-chart=temperature]").is_visible()
    assert page.locator(".timeline li").count() == 8
    assert page.locator("#anchor-tx").inner_text().startswith("0x")
    page.screenshot(path=str(ARTIFACTS / "batch-page.png"), full_page=True)


def test_bundle_link_downloads_a_bundle(live: World, page: Any) -> None:
    base = live.batches["url"]
    page.goto(f"{base}/b/{quote(live.batches['0501'], safe='')}")
    with page.expect_download() as info:
        page.locator("#bundle-link").click()
    path = info.value.path()
    assert path is not None
    with open(path, "rb") as fh:
        assert json.load(fh)["format"] == BUNDLE_FORMAT


def test_failed_batch_shows_reasons(live: World, page: Any) -> None:
    page.goto(f"{live.batches['url']}/b/{quote(live.batches['0502'], safe='')}")
    assert page.locator("#badge").get_attribute("data-ok") == "false"
    reasons = page.locator("#reasons").inner_text()
    assert "temperature left the safe range" in reasons
    page.screenshot(path=str(ARTIFACTS / "batch-page-failed.png"), full_page=True)


def test_upload_tampered_bundle_shows_failure_reason(live: World, page: Any, tmp_path: Any) -> None:
    base = live.batches["url"]
    bundle = live.client.get(f"/api/v1/proofs/{quote(live.batches['0501'], safe='')}").content
    tampered = tmp_path / "bundle-tampered.json"
    tampered.write_bytes(bundle.replace(b'"value":4.0', b'"value":9.5', 1))
    page.goto(f"{base}/verify")
    page.set_input_files("#bundle", str(tampered))
    page.locator("#verify-submit").click()
    page.wait_for_selector("#badge", timeout=30_000)  # meta refresh until the job is done
    assert page.locator("#badge").get_attribute("data-ok") == "false"
    text = page.locator("#reasons").inner_text()
    assert re.search(r"changed after it was signed|temperature|edited", text), text
    page.screenshot(path=str(ARTIFACTS / "verify-tampered.png"), full_page=True)


def test_upload_genuine_bundle_verifies(live: World, page: Any, tmp_path: Any) -> None:
    bundle = live.client.get(f"/api/v1/proofs/{quote(live.batches['0501'], safe='')}").content
    path = tmp_path / "bundle.json"
    path.write_bytes(bundle)
    page.goto(f"{live.batches['url']}/verify")
    page.set_input_files("#bundle", str(path))
    page.locator("#verify-submit").click()
    page.wait_for_selector("#badge", timeout=30_000)
    assert page.locator("#badge").get_attribute("data-ok") == "true"


def test_dashboard_charts(live: World, page: Any) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live.batches['url']}/dashboard")
    for chart in ("events-per-day", "actors-by-role", "events-by-step"):
        svg = page.locator(f"svg[data-chart={chart}]")
        assert svg.is_visible()
        assert svg.locator("rect.bar").count() >= 1
    streamer = page.locator("#streamers .streamer")
    assert streamer.count() == 1 and "lin" in streamer.inner_text()
    assert streamer.locator("svg[data-chart=trust-history] circle").count() >= 1
    assert page.locator("#stat-events").inner_text() == "16"
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)


def test_pages_work_without_javascript(live: World, browser: Any) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{live.batches['url']}/b/{quote(live.batches['0501'], safe='')}")
    assert page.locator("#badge").get_attribute("data-ok") == "true"
    context.close()


def test_order_page(live: World, page: Any) -> None:
    orders = live.orders
    page.goto(f"{live.batches['url']}/orders/{orders['ruled']}")
    assert page.locator("#order-state").inner_text() == "ruled"
    assert "cold_chain_breach" in page.locator("#ruling").inner_text()
    assert page.locator("#payouts li").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "order-page.png"), full_page=True)


def test_upload_clip_see_progress_then_verdict_and_timeline(
    live: World, page: Any, tmp_path: Any, compile_cache: Any
) -> None:
    from contracts import Chain
    from provenance import Store
    from services._clip_demo import Edit, edit_clip, publish_broadcast
    from services.config import Settings
    from tests.api.test_clips import SECONDS, SIZE, START
    from watermark._manifest import ManifestStore

    # the streamer's pipeline, on the server's chain and database: keys, persona, manifest
    store = ManifestStore(Store.open(Settings(home=live.home).db_url))
    with Chain.connect(live.batches["rpc"], live.home, cache=compile_cache) as chain:
        marked, _, _ = publish_broadcast(
            tmp_path, live.home, "lin-e2e", START, chain.actors, chain.anchors, store, SECONDS, SIZE
        )
    store.store.close()
    clip = edit_clip(marked, tmp_path / "cut.mp4", [Edit("cut", 3.0, 5.0)], crf=23)
    page.goto(f"{live.batches['url']}/verify")
    page.set_input_files("#clip", str(clip))
    page.locator("#clip-submit").click()
    page.wait_for_selector(".progress", timeout=30_000)  # the job page while it runs
    page.wait_for_selector("#badge", timeout=120_000)  # meta refresh until the verdict
    badge = page.locator("#badge")
    assert badge.get_attribute("data-verdict") == "edited"
    assert "lin-e2e" in badge.inner_text()
    timeline = page.locator("#clip-report svg[aria-label='clip timeline']")
    assert timeline.is_visible() and timeline.locator("rect").count() >= 2
    assert "cut" in page.locator("#clip-report").inner_text()
    assert "2026-01-01" in page.locator("#clip-report table").inner_text()
    page.screenshot(path=str(ARTIFACTS / "verify-clip.png"), full_page=True)

    # "upload or paste a clip": the same clip pasted from the clipboard (static/paste.js)
    page.goto(f"{live.batches['url']}/verify")
    assert page.locator(".paste-hint").is_visible()
    page.evaluate(
        """b64 => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], "pasted.mp4", {type: "video/mp4"}));
            document.dispatchEvent(new ClipboardEvent("paste", {clipboardData: dt}));
        }""",
        base64.b64encode(clip.read_bytes()).decode(),
    )
    page.wait_for_selector("#badge", timeout=120_000)
    assert page.locator("#badge").get_attribute("data-verdict") == "edited"
