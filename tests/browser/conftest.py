"""Fixtures for the browser tests: Debian's headless Chromium driven by Playwright and a backend
serving the embedded market over HTTP.

Chromium comes from Debian (scripts/ensure_chromium.sh installs it); Playwright's own browser
downloads are never used. Without Chromium or Playwright the tests skip and say why.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_support import ARTIFACTS, CHROMIUM_ARGS, MarketServer, chromium_path, serving_embedded_market


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session; each test opens its own contexts in it."""
    executable = chromium_path()
    if executable is None:
        pytest.skip(
            "no Chromium binary on this machine: run scripts/ensure_chromium.sh (Debian: apt-get install chromium)"
        )
    sync_api = pytest.importorskip("playwright.sync_api", reason="the Python package playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """test-artifacts/browser/: the screenshots and the backend's log of the last run."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in [*ARTIFACTS.glob("*.png"), *ARTIFACTS.glob("*.log")]:
        old.unlink()
    return ARTIFACTS


@pytest.fixture(scope="session")
def market_server(artifacts) -> MarketServer:
    with serving_embedded_market(artifacts / "backend.log") as server:
        yield server


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report
