"""Headless Chromium (Debian's package) driven by Playwright; no browser download."""
import os
import shutil

import pytest

from tests.conftest import TEST_PASSWORD

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium():
    if not os.path.exists(CHROMIUM):
        message = "Debian chromium is not installed (apt-get install chromium)"
        if os.environ.get("BROWSER_TESTS_REQUIRED") or os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, live_server):
    context = chromium.new_context(base_url=live_server, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def sign_in(page, username: str, password: str):
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def flash_texts(page) -> list[str]:
    return [text.strip() for text in page.locator(".flash").all_inner_texts()]


@pytest.fixture
def as_user(chromium, live_server):
    """as_user(username) -> a page of its own browser context, signed in (anonymous without a name)."""
    contexts = []

    def _open(username: str | None = None):
        context = chromium.new_context(base_url=live_server, locale="zh-CN")
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        if username:
            sign_in(page, username, TEST_PASSWORD)
        return page

    yield _open
    for context in contexts:
        context.close()
