"""The web dashboard at `/`: its files over real HTTP, and the page in a real headless browser.

The browser tests drive Debian's chromium through chromedriver (selenium) against a real uvicorn
server (tests/server_support.py): the page asks for the token, reads /api/status and /api/jobs, follows
/api/events, and shows a job run by a real worker (LocalExecutor + the real runner on the kit) reaching
"completed".

Where this branch does not have an endpoint the page reads yet (/api/status, /api/jobs, cancel/retry,
/api/events are written in parallel), a small stand-in from this module serves it from the same
ServerContext — the same store, bus and tokens. Once the real endpoints exist they win: a stand-in is
added only for a path the app does not already serve.

SWAPCAST_UPDATE_SCREENSHOTS=1 also writes the 1280×720 shot to docs/screenshots/dashboard.png.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, Depends, WebSocket, WebSocketDisconnect  # module level: the stand-ins' annotations

from app.jobs.executor import LocalExecutor
from app.jobs.model import JobSpec, JobState
from app.server.roles import Role

import server_support

REPO = Path(__file__).resolve().parent.parent
SCREENSHOT = REPO / "docs" / "screenshots" / "dashboard.png"
WAIT_S = 60  # bounded waits on conditions (a loaded 2-core CI runner), never sleeps


# ---- stand-ins for endpoints other branches write ---------------------------------------------------

def _has_route(app: Any, pattern: str) -> bool:
    return any(re.fullmatch(pattern, getattr(route, "path", "")) for route in app.routes)


def _with_standins(context: Any) -> Any:
    """create_app(context) plus a stand-in for each endpoint the page uses that the app lacks."""
    from app.jobs.errors import JobNotFound
    from app.server.auth import authenticate_websocket, require
    from app.server.envelope import ApiError, ErrorCode, ok
    from app.server.status_view import status_snapshot

    app = real_create_app(context)
    router = APIRouter()

    if not _has_route(app, r"/api/status"):
        from app.monitor.gpu import GpuMonitor
        from app.monitor.system import SystemMonitor

        gpu, system = GpuMonitor(), SystemMonitor()

        @router.get("/api/status", dependencies=[Depends(require(Role.VIEWER))])
        def status() -> dict[str, Any]:
            from dataclasses import asdict

            report = gpu.read()
            return ok({**status_snapshot(context), "system": asdict(system.read()),
                       "gpu": {"gpus": [asdict(g) for g in report.gpus], "reason": report.reason}})

    if not _has_route(app, r"/api/jobs"):
        @router.get("/api/jobs", dependencies=[Depends(require(Role.VIEWER))])
        def jobs() -> dict[str, Any]:
            listed = [job.to_dict() for job in context.store.list()]
            return ok({"jobs": listed, "total": len(listed)})

    def job_action(name: str) -> Any:
        def act(job_id: int) -> dict[str, Any]:
            try:
                return ok(getattr(context.store, name)(job_id).to_dict())
            except JobNotFound:
                raise ApiError(404, ErrorCode.JOB_NOT_FOUND, f"no job {job_id}") from None

        return act

    for action in ("cancel", "retry"):
        if not _has_route(app, r"/api/jobs/\{\w+\}/" + action):
            router.add_api_route(f"/api/jobs/{{job_id}}/{action}", job_action(action), methods=["POST"],
                                 dependencies=[Depends(require(Role.OPERATOR))])

    if not _has_route(app, r"/api/events"):
        @router.websocket("/api/events")
        async def events(websocket: WebSocket) -> None:
            try:
                authenticate_websocket(websocket, Role.VIEWER)
            except ApiError:
                await websocket.close(code=1008)
                return
            await websocket.accept()
            with context.bus.subscribe(maxsize=256) as subscription:

                async def forward() -> None:
                    while True:
                        for event in subscription.drain():
                            await websocket.send_json({"type": "job", "data": event.to_dict(), "time": event.time})
                        await asyncio.sleep(0.05)

                sender = asyncio.create_task(forward())
                try:  # until the page goes (or the server stops): then the sender stops too
                    while (await websocket.receive())["type"] != "websocket.disconnect":
                        pass
                except WebSocketDisconnect:
                    pass
                finally:
                    sender.cancel()

    app.include_router(router)
    return app


real_create_app = server_support.create_app


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[server_support.RunningServer]:
    monkeypatch.setattr(server_support, "create_app", _with_standins)
    with server_support.running_server(tmp_path) as running:
        yield running


# ---- the files, over HTTP (no browser needed) -------------------------------------------------------

def test_dashboard_files_are_served_without_a_token_and_nothing_else_is(server) -> None:
    with server.client(None) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert '<script src="/static/app.js"' in page.text and "/static/app.css" in page.text
        # Nothing from elsewhere: the page runs on an offline machine and leaks nothing.
        assert "http://" not in page.text and "https://" not in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]

        script = client.get("/static/app.js")
        assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
        assert "innerHTML" not in script.text  # data reaches the DOM as text only
        assert client.get("/static/app.css").headers["content-type"].startswith("text/css")

        # Only the shipped files: no other name, no way out of the folder.
        for path in ("/static/nothing.js", "/static/..%2F..%2Fapp.py", "/static/%2E%2E%2Froutes%2Fdashboard.py"):
            missing = client.get(path)
            assert missing.status_code == 404, path
            assert missing.json()["ok"] is False
        # The API still answers with its envelope, not with the page.
        assert client.get("/health").json()["ok"] is True
        assert client.get("/api/status").status_code == 401
        assert client.get("/docs").status_code == 200


def test_the_static_files_ship_with_the_package() -> None:
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["app.server"]
    shipped = {path.name for pattern in patterns for path in (REPO / "app" / "server").glob(pattern)}
    assert {"index.html", "app.js", "app.css"} <= shipped


# ---- the page, in a real browser --------------------------------------------------------------------

def _browser_missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    if not shutil.which("chromium"):
        return "no chromium browser (Debian: apt-get install chromium chromium-driver)"
    if not shutil.which("chromedriver"):
        return "no chromedriver (Debian: apt-get install chromium-driver)"
    return None


needs_browser = pytest.mark.skipif(_browser_missing() is not None, reason=str(_browser_missing()))


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(shutil.which("chromium"))
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,720", "--hide-scrollbars", "--force-device-scale-factor=1",
                     f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(shutil.which("chromedriver"))), options=options)
    try:
        # --window-size sets the window; the page must get 1280×720 of viewport for the shot.
        inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
        driver.set_window_size(1280 * 2 - inner[0], 720 * 2 - inner[1])
        yield driver
    finally:
        driver.quit()


def _wait(driver: Any, condition: Any, message: str) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    return WebDriverWait(driver, WAIT_S, poll_frequency=0.1,
                         ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
                         ).until(condition, message)


def _text(driver: Any, selector: str) -> str:
    """The element's shown text, read in one step in the page (an element the page re-renders between a
    find and a read would be stale)."""
    return str(driver.execute_script(
        "const found = document.querySelector(arguments[0]); return found ? found.innerText.trim() : '';", selector))


def _log_in(driver: Any, url: str, token: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url + "/")
    field = _wait(driver, lambda d: d.find_element(By.ID, "token-input"), "the token form did not show")
    field.clear()
    field.send_keys(token)
    driver.find_element(By.ID, "login-button").click()


def _severe_console_errors(driver: Any) -> list[str]:
    # A missing endpoint of another branch shows up as a failed request; script errors are the bugs.
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE" and "Failed to load resource" not in entry["message"]
            and "/api/events" not in entry["message"]]


@needs_browser
def test_dashboard_shows_a_job_run_by_a_real_worker_reaching_completed(server, browser, kit_dir, tmp_path) -> None:
    from selenium.webdriver.common.by import By

    # A wrong token is refused with the server's own words, and the form stays.
    _log_in(browser, server.url, "sc_not-a-token")
    _wait(browser, lambda d: "unknown or revoked token" in _text(d, "#login-error"),
          "a wrong token was not refused on the form")
    assert not browser.find_element(By.ID, "dashboard").is_displayed()

    _log_in(browser, server.url, server.tokens[Role.OPERATOR])
    _wait(browser, lambda d: d.find_element(By.ID, "dashboard").is_displayed(), "the dashboard did not open")
    _wait(browser, lambda d: _text(d, "#connection-text") == "live", "the /api/events stream did not connect")
    assert "No jobs yet" in _text(browser, "#jobs-empty")

    samples = kit_dir / "samples"
    output = tmp_path / "renders" / "swapped.mp4"
    job = server.context.store.add(JobSpec(sources=[str(samples / "source_a.png")],
                                           targets=[str(samples / "target.mp4")], output=str(output),
                                           models=str(kit_dir)))
    row = f'tr[data-job-id="{job.id}"]'
    # Added after the page loaded: it arrives over the WebSocket.
    _wait(browser, lambda d: _text(d, f"{row} .state") == "pending", "the queued job did not appear")
    _wait(browser, lambda d: _text(d, f"{row} .target") == "target.mp4", "the job's target did not show")

    from app.offline import load_runner_factory

    executor = LocalExecutor(server.context.store, load_runner_factory(), poll_s=0.05,
                             progress_interval_s=0.0)
    executor.start(job_ids=[job.id])
    try:
        _wait(browser, lambda d: _text(d, f"{row} .state") == "completed",
              f"the job did not reach completed on the page (store: {server.context.store.get(job.id).state})")
    finally:
        executor.stop()
        assert executor.join(timeout=WAIT_S)
    assert server.context.store.get(job.id).state is JobState.COMPLETED and output.is_file()
    progress = _text(browser, f"{row} .bar-text")
    assert progress.startswith("100 %"), progress
    detail = browser.find_element(By.CSS_SELECTOR, f"{row} .detail")
    # An operator's page is told file names, never where the server keeps them (an admin's: the path).
    assert detail.text.endswith("swapped.mp4") and detail.get_attribute("title") == "swapped.mp4"
    assert str(tmp_path) not in browser.page_source
    # The finished job offers a retry to an operator, not a cancel.
    assert browser.find_element(By.CSS_SELECTOR, f"{row} button.retry").is_displayed()
    assert not browser.find_element(By.CSS_SELECTOR, f"{row} button.cancel").is_displayed()

    _stage_a_busy_queue(server, samples, tmp_path)
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#job-rows tr")) == 4, "the other jobs did not show")
    _wait(browser, lambda d: _text(d, '#counts [data-state="completed"] .count-n') == "1",
          "the queue counts did not update")
    shot = tmp_path / "dashboard.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("SWAPCAST_UPDATE_SCREENSHOTS"):
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)

    # The token lives in this tab's session storage: a reload does not ask again…
    browser.refresh()
    _wait(browser, lambda d: _text(d, f"{row} .state") == "completed", "a reload lost the token")
    assert not browser.find_element(By.ID, "login").is_displayed()
    # …and "Forget token" does.
    browser.find_element(By.ID, "forget").click()
    _wait(browser, lambda d: d.find_element(By.ID, "token-input").is_displayed(), "forgetting did not ask again")
    assert browser.execute_script("return sessionStorage.length") == 0
    assert _severe_console_errors(browser) == []


def _stage_a_busy_queue(server: Any, samples: Path, tmp_path: Path) -> None:
    """A running job with progress, a failed one and a waiting one, as a worker leaves them (for the
    screenshot: the states the page shows besides completed)."""
    store = server.context.store

    def add(target: str) -> int:
        return store.add(JobSpec(sources=[str(samples / "source_b.png")], targets=[str(samples / target)],
                                 output=str(tmp_path / "renders" / f"out-{target}"))).id

    failed = add("target_two.png")
    claimed = store.claim("dashboard-test", lease_s=600, job_ids=[failed])
    assert claimed is not None
    store.fail(failed, "no face found in target_two.png — pick another frame or use --faces all",
               transient=False, worker_id="dashboard-test")
    running = add("interview-4k.mp4")
    assert store.claim("dashboard-test", lease_s=600, job_ids=[running]) is not None
    store.update_progress(running, 1180, 4320, 23.7, 132.5, worker_id="dashboard-test")
    add("keynote.mov")


@needs_browser
def test_a_viewer_gets_no_buttons_an_operator_cancels_and_data_is_shown_as_text(server, browser, tmp_path) -> None:
    from selenium.webdriver.common.by import By

    store = server.context.store
    hostile = str(tmp_path / "<img src=x onerror=document.title='owned'>.mp4")
    job = store.add(JobSpec(sources=[str(tmp_path / "face.png")], targets=[hostile], output=str(tmp_path / "out.mp4")))
    row = f'tr[data-job-id="{job.id}"]'

    _log_in(browser, server.url, server.tokens[Role.VIEWER])
    _wait(browser, lambda d: _text(d, f"{row} .state") == "pending", "the pending job did not show")
    _wait(browser, lambda d: _text(d, "#role") == "read-only token", "the viewer token was not recognised")
    assert not browser.find_element(By.CSS_SELECTOR, f"{row} button.cancel").is_displayed()
    # The file name is text on the page, not markup.
    assert _text(browser, f"{row} .target") == Path(hostile).name
    assert browser.find_elements(By.CSS_SELECTOR, f"{row} img") == []
    assert browser.title != "owned"

    browser.find_element(By.ID, "forget").click()
    _log_in(browser, server.url, server.tokens[Role.OPERATOR])
    cancel = _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, f"{row} button.cancel"), "no cancel button")
    _wait(browser, lambda d: cancel.is_displayed(), "an operator was not offered cancel")
    cancel.click()
    _wait(browser, lambda d: _text(d, f"{row} .state") == "cancelled", "cancel did not reach the page")
    assert store.get(job.id).state is JobState.CANCELLED
    browser.find_element(By.CSS_SELECTOR, f"{row} button.retry").click()
    _wait(browser, lambda d: _text(d, f"{row} .state") == "pending", "retry did not reach the page")
    assert store.get(job.id).state is JobState.PENDING
