"""The lab in a real browser: JupyterLab in headless Chromium, started as the README says.

``labkit lab`` runs on loopback with a token, a temporary workspace and ``LABKIT_HOME``, on
the lab engine. Chromium (Debian's, installed by ``.ci/run``) is driven by Playwright:

- the page a learner lands on opens lesson 00;
- in the lesson that uses the API explorer and the container board, Run All Cells runs,
  the explorer sends ``GET /images/json`` and shows the lab's images, and the board
  starts a container and shows it running;
- in an exercise notebook, a check cell run on the unfinished answer says "not yet" in the
  page, and once the answer is typed in, "passed", which ``labkit check --json`` then counts;
- every lesson and exercise notebook opens without a rendering problem: Markdown left
  unrendered, a mermaid diagram not drawn, a widget in error or still loading, a notebook
  marked changed by opening it, content cut off at 1024x768 with the file browser open.

Screenshots go to ``test-artefacts/browser/`` (CI keeps that folder).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from engine_fixtures import short_tempdir

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
ARTEFACTS = ROOT / "test-artefacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
# Headless, and quiet: this machine's closed network would otherwise fill the log with
# refused connections to Google's update, sync and safe-browsing services.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1024, "height": 768}
LAB_IMAGES = ("busybox", "hello-world", "alpine")
# JupyterLab asks whether to fetch its news; answered "never" in its settings, not by a click.
SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _missing(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"CI needs the browser test's tools: {reason}")
    pytest.skip(reason)


# --------------------------------------------------------------------------- the lab server


@dataclass
class LabServer:
    url: str  # http://127.0.0.1:PORT/
    token: str
    root: Path  # the folder JupyterLab serves: the learner's workspace
    log: Path
    env: dict[str, str]  # the server's environment: its LABKIT_HOME holds the progress

    def at(self, path: str = "", **query: str) -> str:
        params = "&".join(f"{k}={v}" if v else k for k, v in query.items())
        return f"{self.url}{path}?token={self.token}" + (f"&{params}" if params else "")

    def api(self, path: str, method: str = "GET") -> Any:
        request = urllib.request.Request(
            f"{self.url}api/{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as reply:
            body = reply.read()
        return json.loads(body) if body else None

    def notebooks(self, folder: str = "") -> list[str]:
        """Every notebook under ``folder`` of the served root, through the contents API."""
        found = []
        for item in self.api(f"contents/{quote(folder)}")["content"]:
            if item["name"].startswith("."):
                continue
            if item["type"] == "directory":
                found += self.notebooks(item["path"])
            elif item["type"] == "notebook":
                found.append(item["path"])
        return sorted(found)

    def notebook(self, path: str) -> dict[str, Any]:
        return self.api(f"contents/{quote(path)}?content=1")["content"]

    def shut_down_kernels(self) -> None:
        for session in self.api("sessions"):
            self.api(f"sessions/{session['id']}", method="DELETE")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab_server() -> Iterator[LabServer]:
    labkit = Path(sys.executable).with_name("labkit")
    if not labkit.exists():
        _missing(f"no labkit command next to {sys.executable}: install with pip install -e .")
    base = short_tempdir("lkb")
    for name, values in SETTINGS.items():
        path = base / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DOCKER_HOST", "LABKIT_DOCKER_HOST", "DOCKER_CONTEXT", "JUPYTER_PATH")
    }
    env.update(
        LABKIT_ENGINE="lab",
        LABKIT_HOME=str(base / "home"),
        LABKIT_WORKSPACE=str(base / "workspace"),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        JUPYTER_CONFIG_DIR=str(base / "config"),
        JUPYTER_DATA_DIR=str(base / "data"),
        JUPYTERLAB_SETTINGS_DIR=str(base / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(base / "lab-workspaces"),
    )
    token = secrets.token_hex(16)
    port = _free_port()
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    log = ARTEFACTS / "jupyterlab.log"
    command = [
        str(labkit),
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        info = _wait_for_server(base / "runtime", process, log)
        yield LabServer(info["url"], token, Path(info["root_dir"]), log, env)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)  # JupyterLab stops its kernels on TERM
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        subprocess.run(
            [str(labkit), "engine", "stop"], env=env, capture_output=True, timeout=60, check=False
        )
        shutil.rmtree(base, ignore_errors=True)


def _wait_for_server(runtime: Path, process: subprocess.Popen[bytes], log: Path) -> dict:
    """The server's own description of itself (jpserver-PID.json), once it answers."""
    deadline = time.monotonic() + 120
    info_file = runtime / f"jpserver-{process.pid}.json"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"labkit lab exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        if info_file.exists():
            with contextlib.suppress(ValueError, OSError):
                info = json.loads(info_file.read_text())
                status = f"{info['url']}api/status?token={info['token']}"
                with urllib.request.urlopen(status, timeout=5):
                    return info
        time.sleep(0.3)
    pytest.fail(f"JupyterLab did not answer within 120 s:\n{log.read_text()[-3000:]}")


# --------------------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is missing: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright for Python is not installed (it is in requirements.txt)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, lab_server: LabServer) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()
    lab_server.shut_down_kernels()


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTEFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"))


# --------------------------------------------------------------------------- notebooks in the page

CURRENT_PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"


def current_tab(page: Any) -> str:
    return page.locator(".jp-mod-current .lm-TabBar-tabLabel").first.inner_text()


def open_notebook(page: Any, server: LabServer, path: str) -> None:
    """Open one notebook alone (``reset``: no tabs left from before), wait until it is drawn."""
    page.goto(server.at(f"lab/tree/{quote(path)}", reset=""))
    wait_for_notebook(page, server, path)


def open_from_file_browser(page: Any, server: LabServer, path: str) -> None:
    """Close every tab, then open ``path`` as a learner would: double-clicks in the file browser."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^File$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Close All Tabs$")).click()
    discard = page.locator(".jp-Dialog button", has_text=re.compile(r"^Discard$"))
    with contextlib.suppress(Exception):  # a notebook marked changed asks first: never save
        discard.click(timeout=1500)
    page.locator(".jp-BreadCrumbs-home").click()
    *folders, name = path.split("/")
    for part in [*folders, name]:
        item = page.locator(
            ".jp-DirListing-item[data-file-type] .jp-DirListing-itemText",
            has_text=re.compile(f"^{re.escape(part)}$"),
        )
        item.first.dblclick()
    wait_for_notebook(page, server, path)


def wait_for_notebook(page: Any, server: LabServer, path: str) -> None:
    """Until ``path`` is the current tab, its cells are drawn and its kernel is ready."""
    name = path.rsplit("/", 1)[-1]
    page.wait_for_function(
        """name => {
            const tab = document.querySelector('.jp-mod-current .lm-TabBar-tabLabel');
            const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
            return tab && tab.textContent === name && panel && panel.querySelector('.jp-Cell');
        }""",
        arg=name,
        timeout=60_000,
    )
    wait_kernel_ready(page, server, path)


def wait_kernel_ready(page: Any, server: LabServer, path: str, timeout: float = 120) -> None:
    """Until the notebook's kernel has started, the page is connected to it, and it is idle.

    The page's own indicator says "idle" before any kernel exists; cells run then are lost.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kernels = [s["kernel"] for s in server.api("sessions") if s["path"] == path]
        if any(k["connections"] > 0 and k["execution_state"] == "idle" for k in kernels):
            break
        time.sleep(0.3)
    else:
        pytest.fail(f"the kernel of {path} was not ready within {timeout} s")
    page.wait_for_selector(
        f"{CURRENT_PANEL} .jp-Notebook-ExecutionIndicator[data-status='idle']",
        timeout=timeout * 1000,
    )


def cell_prompts(page: Any) -> list[str]:
    return page.eval_on_selector_all(
        f"{CURRENT_PANEL} .jp-CodeCell .jp-InputArea-prompt", "els => els.map(e => e.textContent)"
    )


def click_run_all(page: Any) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


def run_all_cells(page: Any) -> None:
    """Run menu, Run All Cells; wait until every code cell has run and the kernel is idle."""
    click_run_all(page)
    started = time.monotonic()
    retried = False
    deadline = started + 200
    while time.monotonic() < deadline:
        if not retried and time.monotonic() - started > 15:
            if all(p.strip() == "[ ]:" for p in cell_prompts(page)):
                click_run_all(page)  # nothing ran at all (the click was lost): once more
            retried = True
        prompts = cell_prompts(page)
        idle = page.locator(
            f"{CURRENT_PANEL} .jp-Notebook-ExecutionIndicator[data-status='idle']"
        ).count()
        if prompts and all(re.fullmatch(r"\[\d+\]:", p.strip()) for p in prompts) and idle:
            return
        errors = page.locator(f"{CURRENT_PANEL} [data-mime-type='application/vnd.jupyter.stderr']")
        if idle and any("[*]" not in p for p in prompts) and errors.count():
            time.sleep(1)
            if all("[*]" not in p for p in cell_prompts(page)):
                pytest.fail("a cell failed during Run All:\n" + errors.first.inner_text()[-2000:])
        time.sleep(0.5)
    shot(page, "widgets-0-run-all-timed-out")
    pytest.fail(f"Run All Cells did not finish within 200 s: prompts {cell_prompts(page)}")


def expected_mermaid(notebook: dict[str, Any]) -> int:
    """How many mermaid diagrams the notebook holds: in Markdown cells and saved outputs."""
    count = 0
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            count += len(re.findall(r"^```mermaid", "".join(cell["source"]), re.M))
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            count += len(re.findall(r"^```mermaid", "".join(data.get("text/markdown", "")), re.M))
            count += "text/vnd.mermaid" in data
    return count


# Everything that can go wrong in a rendered notebook, found in the page itself.
PROBLEMS_JS = (Path(__file__).parent / "browser" / "notebook_problems.js").read_text()


def notebook_problems(page: Any, notebook: dict[str, Any]) -> list[str]:
    expected = expected_mermaid(notebook)
    if expected:  # mermaid is loaded on first use and draws in its own time
        with contextlib.suppress(Exception):
            page.wait_for_function(
                """n => [...document.querySelectorAll(
                        '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-RenderedMermaid')]
                      .filter(d => d.classList.contains('jp-mod-warning')
                                   || d.querySelector('img, svg')).length >= n""",
                arg=expected,
                timeout=30_000,
            )
    return page.evaluate(PROBLEMS_JS, {"mermaid": expected})


def is_dirty(page: Any) -> bool:
    tab = page.locator("li.lm-TabBar-tab.jp-mod-current").first
    return "jp-mod-dirty" in (tab.get_attribute("class") or "")


def settle(page: Any, seconds: float = 2.0) -> None:
    """Give mermaid, MathJax and the widget manager their moment."""
    page.wait_for_timeout(seconds * 1000)


# --------------------------------------------------------------------------- the tests


def test_lesson_00_is_what_opens_first(page: Any, lab_server: LabServer) -> None:
    page.goto(lab_server.at())  # the address the server prints, as a learner would open it
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
    settle(page)
    shot(page, "00-first-page")
    assert current_tab(page) == "00-start-here.ipynb"
    assert "lessons/00-start-here.ipynb" in page.url
    assert (lab_server.root / "lessons" / "00-start-here.ipynb").exists()
    assert page.get_by_text("official Jupyter news").count() == 0, "the news prompt is shown"


def lesson_with_widgets(server: LabServer) -> str:
    for path in server.notebooks("lessons"):
        sources = "".join("".join(c["source"]) for c in server.notebook(path)["cells"])
        if "Explorer(" in sources and "ContainerBoard(" in sources:
            return path
    pytest.fail("no lesson uses both the API explorer (Explorer) and the board (ContainerBoard)")


def test_the_explorer_and_the_board_work_in_a_lesson(page: Any, lab_server: LabServer) -> None:
    path = lesson_with_widgets(lab_server)
    open_notebook(page, lab_server, path)
    run_all_cells(page)
    shot(page, "widgets-1-after-run-all")

    explorer = page.locator(".labkit-explorer").first
    explorer.scroll_into_view_if_needed()
    operation = explorer.locator("select").first
    labels = operation.evaluate(
        "s => Array.from(s.options).map(o => o.textContent.replace(/\\u00a0/g, ' '))"
    )
    wanted = next(i for i, t in enumerate(labels) if t.startswith("GET /images/json "))
    operation.select_option(index=wanted)
    # the kernel hears of the choice and fills the form: a round trip
    expect(explorer.locator(".labkit-path input")).to_have_value("/images/json")
    explorer.locator(".labkit-send").click()
    answer = explorer.locator(".labkit-answer")
    page.wait_for_function(
        "el => /busybox|hello-world|alpine/.test(el.textContent)", arg=answer.element_handle()
    )
    found = [image for image in LAB_IMAGES if image in answer.inner_text()]
    assert found, "the lab's images should be in the explorer's answer"
    assert "200 OK" in explorer.locator(".labkit-status").inner_text()
    answer.scroll_into_view_if_needed()
    shot(page, "widgets-2-explorer-answer")

    board = page.locator(".labkit-container-board").first
    board.scroll_into_view_if_needed()
    name = f"browser-{uuid.uuid4().hex[:6]}"
    board.locator(".widget-text input[placeholder='name (optional)']").fill(name)
    board.locator(".widget-text input[placeholder='command']").fill("sleep 300")
    board.locator(".labkit-create").click()
    row = board.locator(f".labkit-container-{name}")
    row.locator("[data-state='created']").wait_for(timeout=20_000)
    row.locator(".labkit-start").click()
    row.locator("[data-state='running']").wait_for(timeout=20_000)
    sent = row.locator(".labkit-sent").inner_text()
    assert "/start" in sent and "204" in sent, sent
    row.scroll_into_view_if_needed()
    shot(page, "widgets-3-board-started")
    row.locator(".labkit-stop").click()
    row.locator("[data-state='exited']").wait_for(timeout=30_000)

    text = page.locator(CURRENT_PANEL).inner_text()
    assert "Error displaying widget" not in text and "Loading widget" not in text


def test_every_notebook_opens_cleanly(page: Any, lab_server: LabServer) -> None:
    paths = lab_server.notebooks("lessons") + lab_server.notebooks("exercises")
    assert any(p.startswith("lessons/") for p in paths), f"no lessons in {lab_server.root}"
    report: dict[str, list[str]] = {}
    page.goto(lab_server.at("lab", reset=""))
    page.wait_for_selector(".jp-DirListing-item")
    for path in paths:
        open_from_file_browser(page, lab_server, path)
        opened = time.monotonic()
        problems = notebook_problems(page, lab_server.notebook(path))
        # JupyterLab writes what the kernel says about itself (kernelspec, language_info)
        # into the notebook once it is connected; a difference marks the notebook changed.
        page.wait_for_timeout(max(0.0, opened + 1.5 - time.monotonic()) * 1000)
        if is_dirty(page):
            problems.append("marked changed (unsaved) just by opening it")
        shot(page, path.removesuffix(".ipynb"))
        if problems:
            report[path] = problems
        lab_server.shut_down_kernels()
    assert not report, "rendering problems:\n" + "\n".join(
        f"{path}:\n  " + "\n  ".join(problems) for path, problems in report.items()
    )


def run_cell(page: Any, cell: Any) -> Any:
    """Select a code cell, run it with Shift+Enter and wait for its prompt to show a number."""
    cell.locator(".jp-InputArea-prompt").click()
    page.keyboard.press("Shift+Enter")
    prompt = cell.locator(".jp-InputArea-prompt")
    page.wait_for_function(
        "el => /\\[\\d+\\]/.test(el.textContent)", arg=prompt.element_handle(), timeout=60_000
    )
    return cell.locator(".jp-OutputArea-output")


def test_a_check_cell_gives_its_verdict_in_the_page(page: Any, lab_server: LabServer) -> None:
    # Last in this file on purpose: it leaves the exercise open with an unsaved answer, which
    # test_every_notebook_opens_cleanly would take for a notebook changed by opening it.
    from labkit.exercises import solutions

    path = "exercises/01-sockets-and-ipc.ipynb"
    answer_text = solutions.load(solutions.solutions_path(ROOT / path))["01.1"].solution
    open_notebook(page, lab_server, path)
    code = page.locator(f"{CURRENT_PANEL} .jp-CodeCell")
    imports, answer, check_cell = code.nth(0), code.nth(1), code.nth(2)
    assert 'check("01.1")' in check_cell.inner_text()

    run_cell(page, imports)
    run_cell(page, answer)  # the unfinished answer: a function whose body is `...`
    verdict = run_cell(page, check_cell)
    expect(verdict.first).to_contain_text("not yet", timeout=60_000)
    shot(page, "exercise-1-not-yet")

    editor = answer.locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(answer_text)  # as pasted: no auto-indent, no closed brackets
    run_cell(page, answer)
    verdict = run_cell(page, check_cell)
    expect(verdict.first).to_contain_text("passed", timeout=60_000)
    assert "not yet" not in verdict.first.inner_text()
    shot(page, "exercise-2-passed")

    labkit = Path(sys.executable).with_name("labkit")
    board = subprocess.run(
        [str(labkit), "check", "--json"],
        env=lab_server.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert '"01.1"' in board.stdout, board.stdout[-2000:]
    progress = json.loads(board.stdout)
    assert _task_status(progress, "01.1") == "passed", board.stdout[-2000:]
    lab_server.shut_down_kernels()


def _task_status(progress: Any, task: str) -> str | None:
    """The status the scoreboard's JSON gives ``task``."""
    for lesson in progress["lessons"]:
        for entry in lesson["tasks"]:
            if entry["task"] == task:
                return entry["status"]
    return None
