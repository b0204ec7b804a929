"""The browser client at ``/``, in headless Chromium, against a real server process."""

from __future__ import annotations

from pathlib import Path

from tests.support.chromium import Browser
from tests.support.servers import ServerProcess, free_port, publish_http, token


async def test_page_shows_notifications_and_resumes_after_restart(tmp_path: Path) -> None:
    port = free_port()
    first = ServerProcess(port, WSH_DRAIN_SECONDS="0.2").start()
    try:
        async with Browser() as browser:
            await browser.navigate(f"{first.http_url}/?token={token('viewer')}&topic=news")
            await browser.wait_for(
                "document.getElementById('status').textContent === 'open'"
            )
            await browser.wait_for(
                "document.getElementById('detail').textContent.includes('subscribed')"
            )
            publish_http(first, "news", "before restart")
            await browser.wait_for("document.querySelectorAll('#messages li').length === 1")
            first.stop()
            await browser.wait_for(
                "document.getElementById('status').textContent === 'reconnecting'"
            )
            second = ServerProcess(port).start()
            try:
                await browser.wait_for(
                    "document.getElementById('status').textContent === 'open'", timeout=20
                )
                await browser.wait_for(
                    "document.getElementById('detail').textContent.includes('subscribed')"
                )
                publish_http(second, "news", "after restart")
                await browser.wait_for(
                    "document.querySelectorAll('#messages li').length === 2"
                )
                texts = await browser.evaluate(
                    "[...document.querySelectorAll('#messages li code')]"
                    ".map(e => e.textContent)"
                )
                assert texts == ['"before restart"', '"after restart"']
                # The embedded broker forgot everything: the page must say so, not hide it.
                detail = await browser.evaluate(
                    "document.getElementById('detail').textContent"
                )
                assert "could not recover" in detail
                await browser.screenshot(tmp_path / "page.png")
            finally:
                second.stop()
            assert browser.console_errors == []
            # The only failed loads are the reconnects refused while no server listened.
            assert all("ERR_CONNECTION_REFUSED" in e for e in browser.network_errors)
    finally:
        first.stop()
