"""The MLflow UI, as its users see it: a finished sweep's store shown by ``mlflow server`` and
read by a real headless browser (Debian's chromium + chromium-driver through selenium; nothing
is downloaded; ``bash scripts/browser.sh install`` installs them as root).

One sweep (``+experiment=xor seed=0,1``, with ``tracking.register_model`` so both jobs log a
model) is made through the real CLI into the default SQLite store of a temporary directory;
``mlflow server`` serves it on a free port (the runs' artifacts are ``file://`` paths in the
store's ``mlruns/``, which the server reads as they are). The browser then checks:

a. the experiment's runs table ("Model training"): the sweep's parent run, expanded, with both
   jobs' runs under it and their Dataset, Source and Models cells filled;
b. the compare view of the two jobs: their names and a ``loss`` metric, whose link opens the
   chart with one ``loss`` curve per run;
c. a job's Artifacts tab: ``plots/curves.png`` rendered as a loaded picture.

A screenshot of each step is kept in the test's ``screenshots/`` directory (under pytest's
tmp_path) and copied to ``$NNEXP_TEST_ARTIFACTS/ui-screenshots/`` when that variable is set
(CI keeps that directory as test output). Without chromium, chromedriver or selenium the test
is skipped, saying which is missing; under ``NNEXP_SYSTEM=1`` (CI) it fails instead.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from conftest import clean_environ, run_nnexp, store_client
from tracking_helpers import free_port, wait_healthy

pytestmark = pytest.mark.system

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
MLFLOW = Path(sys.executable).with_name("mlflow")
WAIT = 60  # seconds: the UI is a React app that loads its data after the page


def missing_parts() -> list[str]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (nnexp[test])")
    return missing


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """The finished sweep, ``mlflow server`` on its store, and a headless chromium."""
    missing = missing_parts()
    if missing:
        why = f"no browser for the UI test: missing {', '.join(missing)} (bash scripts/browser.sh install)"
        if os.environ.get("NNEXP_SYSTEM") == "1":
            pytest.fail(why, pytrace=False)
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    root = tmp_path_factory.mktemp("ui")
    out = run_nnexp(["-m", "+experiment=xor", "seed=0,1", "trainer.epochs=30",
                     "tracking.register_model=xor-ui"], root, timeout=300)
    assert out.returncode == 0, out.stderr
    db = root / "mlflow.db"
    client = store_client(db)
    experiment = client.get_experiment_by_name("xor")
    runs = client.search_runs([experiment.experiment_id])
    parent = next(r for r in runs if r.info.run_name.startswith("sweep-xor-"))
    children = sorted((r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id),
                      key=lambda r: r.info.run_name)
    assert len(children) == 2 and all(r.info.status == "FINISHED" for r in children)
    assert "plots/curves.png" in {a.path for a in client.list_artifacts(children[0].info.run_id, "plots")}

    port = free_port()
    log = open(root / "mlflow-server.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [str(MLFLOW), "server", "--backend-store-uri", f"sqlite:///{db}", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        cwd=root, stdout=log, stderr=subprocess.STDOUT, env={**clean_environ(), "MLFLOW_TRACKING_URI": ""},
        start_new_session=True)
    driver = None
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, server, (root / "mlflow-server.log").read_text)
        options = Options()
        options.binary_location = str(CHROMIUM)
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1600,1000"):
            options.add_argument(arg)
        driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
        driver.set_page_load_timeout(WAIT)
        shots = root / "screenshots"
        shots.mkdir()
        yield {"url": url, "driver": driver, "experiment_id": experiment.experiment_id,
               "parent": parent, "children": children, "shots": shots}
    finally:
        if driver is not None:
            driver.quit()
        os.killpg(server.pid, signal.SIGTERM)  # the server and its uvicorn worker
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def screenshot(ui, name: str) -> None:
    """Keep what the browser shows: in tmp_path, and in $NNEXP_TEST_ARTIFACTS/ui-screenshots/."""
    path = ui["shots"] / f"{name}.png"
    assert ui["driver"].save_screenshot(str(path)), path
    kept = os.environ.get("NNEXP_TEST_ARTIFACTS")
    if kept:
        dest = Path(kept) / "ui-screenshots"
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest / path.name)


def wait(ui, condition, what: str, name: str):
    """Wait up to WAIT s for ``condition(driver)``; on a timeout keep a screenshot and fail."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(ui["driver"], WAIT, poll_frequency=0.5).until(condition)
    except TimeoutException:
        screenshot(ui, f"{name}-FAILED")
        body = ui["driver"].find_element("tag name", "body").text
        raise AssertionError(f"after {WAIT} s the UI does not show {what}; it shows:\n{body[:3000]}") from None


def xpath_text(text: str) -> str:
    """An element whose own visible text is exactly ``text``."""
    return f"//*[normalize-space(text())={json.dumps(text)}]"


def row_cells(driver, run_id: str) -> dict:
    """The runs table's cells of one run, by column (its rows are split in pinned parts)."""
    return driver.execute_script("""
        const cells = {};
        for (const row of document.querySelectorAll(`div[role=row][row-id="${arguments[0]}"]`))
          for (const cell of row.querySelectorAll('[col-id]'))
            cells[cell.getAttribute('col-id')] = cell.innerText.trim();
        return cells;""", run_id)


def filled_row(driver, run_id: str) -> dict | None:
    """The run's cells once its Models cell is filled (the table fills it after its rows)."""
    cells = row_cells(driver, run_id)
    return cells if cells.get("attributes.`Models`") not in (None, "", "-") else None


def test_the_sweep_in_the_runs_table(ui):
    from selenium.webdriver.common.by import By

    d, parent, children = ui["driver"], ui["parent"], ui["children"]
    # The experiment page opens on GenAI's overview by default: a model-training user picks
    # "Model training" (workflowType=machine_learning), whose page is the runs table.
    d.get(f"{ui['url']}/#/experiments/{ui['experiment_id']}/runs?workflowType=machine_learning")
    parent_link = (By.XPATH, f"//a[normalize-space(.)={json.dumps(parent.info.run_name)}]")
    wait(ui, lambda d: d.find_elements(*parent_link), f"the sweep's run {parent.info.run_name}", "1-runs")
    for header in ("Run Name", "Dataset", "Source", "Models"):
        assert d.find_elements(By.XPATH, f"//*[@role='columnheader'][.{xpath_text(header)}]"), header
    names = [c.info.run_name for c in children]
    assert not any(d.find_elements(By.XPATH, xpath_text(n)) for n in names), "children shown before expanding"
    # The parent's row has the expand button (the "+" left of its name).
    d.find_element(By.XPATH, f"//div[@role='row'][.//a[normalize-space(.)={json.dumps(parent.info.run_name)}]]"
                             "//div[@col-id='attributes.`Run Name`']//button").click()
    wait(ui, lambda d: all(d.find_elements(By.XPATH, xpath_text(n)) for n in names),
         f"the sweep's jobs {names} under it", "1-runs")
    for child in children:
        cells = wait(ui, lambda d, c=child: filled_row(d, c.info.run_id),
                     f"the row of {child.info.run_name} filled", "1-runs")
        assert child.info.run_name in cells["attributes.`Run Name`"]
        assert "xor-train" in cells["attributes.`Dataset`"], cells
        assert cells["attributes.`Source`"] == "nnexp", cells
        assert cells["attributes.`Models`"] == "model", cells
    assert row_cells(d, parent.info.run_id)["attributes.`Source`"] == "nnexp"
    screenshot(ui, "1-runs-table")


def test_two_jobs_compared_with_their_loss_curves(ui):
    from selenium.webdriver.common.by import By

    d, children = ui["driver"], ui["children"]
    runs = urllib.parse.quote(json.dumps([c.info.run_id for c in children]))
    experiments = urllib.parse.quote(json.dumps([ui["experiment_id"]]))
    d.get(f"{ui['url']}/#/compare-runs?runs={runs}&experiments={experiments}")
    wait(ui, lambda d: d.find_elements(By.XPATH, xpath_text("Comparing 2 Runs from 1 Experiment")),
         "the compare view of 2 runs", "2-compare")
    for child in children:
        wait(ui, lambda d, n=child.info.run_name: d.find_elements(By.XPATH, xpath_text(n)),
             f"the run {child.info.run_name}", "2-compare")
    loss = (By.XPATH, "//a[normalize-space(.)='loss'][contains(@href, 'metric=%22loss%22')]")
    wait(ui, lambda d: d.find_elements(*loss), "the loss metric's link", "2-compare")
    screenshot(ui, "2-compare")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();",
                     d.find_element(*loss))
    # The metric page: a chart of loss over steps, one line per run, named in its legend.
    legends = [xpath_text(f"{c.info.run_name} (loss)") for c in children]
    wait(ui, lambda d: all(d.find_elements(By.XPATH, x) for x in legends),
         "a loss curve per run (its legend entry)", "3-loss")
    lines = "//*[contains(@class, 'scatterlayer')]//*[name()='path'][contains(@class, 'js-line')]"
    drawn = wait(ui, lambda d: [p for p in d.find_elements(By.XPATH, lines) if len(p.get_attribute("d") or "") > 20],
                 "two drawn loss lines", "3-loss")
    assert len(drawn) >= 2  # one per run (MLflow may add a faint unsmoothed copy of each)
    screenshot(ui, "3-loss-curves")


def test_a_job_picture_in_its_artifacts(ui):
    from selenium.webdriver.common.by import By

    d, child = ui["driver"], ui["children"][0]
    d.get(f"{ui['url']}/#/experiments/{ui['experiment_id']}/runs/{child.info.run_id}/artifacts")
    wait(ui, lambda d: d.find_elements(By.XPATH, xpath_text("plots")), "the artifact tree's plots/", "4-artifacts")
    if not d.find_elements(By.XPATH, xpath_text("curves.png")):
        d.find_element(By.XPATH, xpath_text("plots")).click()  # open the folder
    wait(ui, lambda d: d.find_elements(By.XPATH, xpath_text("curves.png")), "plots/curves.png", "4-artifacts")
    d.find_element(By.XPATH, xpath_text("curves.png")).click()
    img = (By.XPATH, "//img[@alt='plots/curves.png']")
    shown = wait(ui, lambda d: [i for i in d.find_elements(*img)
                                if d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", i)],
                 "plots/curves.png as a loaded picture", "4-artifacts")
    assert shown[0].size["width"] > 100 and shown[0].size["height"] > 100, shown[0].size
    screenshot(ui, "4-artifact-picture")
