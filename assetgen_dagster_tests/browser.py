"""Headless Chromium for the browser tests: Debian's `chromium` driven by Playwright through
executable_path (no browser download). `.ci/run` installs chromium when it is missing."""

import functools
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

# Without the background-networking flags Chromium keeps trying hosts this closed network refuses;
# SwiftShader gives model-viewer a WebGL context without a GPU.
ARGS = ["--no-sandbox", "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-default-apps", "--enable-unsafe-swiftshader", "--use-angle=swiftshader"]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        if os.environ.get("CI"):
            pytest.fail("CI must have Chromium: .ci/run installs Debian's chromium when it is missing")
        pytest.skip("BROWSER TESTS SKIPPED: no chromium here (apt-get install chromium)")
    return path


@contextmanager
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium_path(), args=ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture(scope="module")
def chromium() -> Iterator:
    """One Chromium for a module's browser tests (a launch costs ~0.9 s); tests open pages with
    ``new_page``, each in a context of its own. Not one per session: while Playwright's sync API is
    running, its event loop counts as running in this thread and every later ``asyncio.run`` (Dagster's
    automation evaluator) fails, so a module that ran after the browser tests would fail."""
    with browser() as instance:
        yield instance


@pytest.fixture
def new_page(chromium):
    """A page maker for one test: each page in a fresh browser context (no cookies, storage or cache
    shared with another test's pages), all closed when the test ends."""
    contexts = []

    def make(**options):
        contexts.append(chromium.new_context(**options))
        return contexts[-1].new_page()

    yield make
    for context in contexts:
        context.close()


def watch_console(page) -> list[str]:
    """Every console error and uncaught page error of ``page``, as it happens."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@contextmanager
def serving(folder: Path) -> Iterator[str]:
    """``folder`` over HTTP on loopback; yields the base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
