"""The query page in a real browser: Debian's headless Chromium, driven by its chromedriver
through Selenium (nothing downloaded), opens the page of a real ssdh-serve, uploads an image and
sees its results, the query first; names are shown as text, never as markup. The API's docs
render with every host name but the server's unresolvable: they need no network."""

from __future__ import annotations

import os
import shutil

import pytest

from helpers import CHROMEDRIVER, CHROMIUM, Server, build, columns, write_digits

# A file name that would be markup if the page wrote it as HTML.
MARKUP_NAME = "<img src=x onerror=alert(1)>.png"
pytestmark = pytest.mark.skipif(
    not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()),
    reason="needs Debian's chromium and chromium-driver: apt-get install chromium chromium-driver",
)


@pytest.fixture(scope="module")
def served(trained_run, tmp_path_factory):
    """A server over 40 digits and a copy of one named like markup; its images folder."""
    folder = tmp_path_factory.mktemp("page")
    images = folder / "images"
    write_digits(images, range(40))
    shutil.copy(images / "5" / "0005.png", images / "5" / MARKUP_NAME)
    index = build(trained_run / "checkpoints" / "last.ckpt", images, folder / "digits.index")
    server = Server(index.folder, folder, "settings.default_k=6")
    yield server, index, images
    server.close()


def test_the_page_searches_an_uploaded_image_and_a_clicked_item(served, tmp_path, browser):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    server, index, images = served
    # the page replaces its columns when an answer comes: an element read meanwhile is stale
    wait = WebDriverWait(browser, 60, ignored_exceptions=[StaleElementReferenceException])
    browser.get(server.url)
    wait.until(lambda driver: len(driver.find_elements(By.CSS_SELECTOR, "#items figure")) > 0)
    query = images / "3" / "0003.png"
    browser.find_element(By.ID, "image").send_keys(str(query))
    wait.until(lambda driver: len(columns(driver)) == 3)
    shown = columns(browser)
    assert list(shown) == ["bcs", "es", "hds"]
    for mode, figures in shown.items():
        assert figures[0]["query"] and figures[0]["caption"] == "query: 0003.png", mode
        assert len(figures) == 1 + 6
    for mode in ("es", "hds"):  # the image itself is the first result, at distance ~0
        assert shown[mode][1]["path"] == "3/0003.png"
        rank, distance, label, path = shown[mode][1]["caption"].split()
        assert (rank, label, path) == ("1:", "[3]", "3/0003.png")
        assert float(distance) < 0.01  # float16 features
    screenshot = tmp_path / "serve_page.png"
    browser.save_screenshot(str(screenshot))
    if os.environ.get("SSDH_SERVE_SCREENSHOT"):  # how docs/serve_page.png was taken
        shutil.copy(screenshot, os.environ["SSDH_SERVE_SCREENSHOT"])

    position = index.paths.tolist().index(f"5/{MARKUP_NAME}")
    item = browser.find_element(By.CSS_SELECTOR, f'#items figure[data-id="{position}"]')
    assert item.text == f"5/{MARKUP_NAME}"  # the name as text
    assert browser.find_elements(By.CSS_SELECTOR, "figcaption img") == []  # not as markup
    item.click()
    wait.until(
        lambda driver: columns(driver).get("es", [{}])[0].get("caption", "").endswith(MARKUP_NAME)
    )
    shown = columns(browser)
    # the copy and the original are the same pixels: both at distance 0, the lower first
    assert {shown["es"][1]["path"], shown["es"][2]["path"]} == {
        "5/0005.png",
        f"5/{MARKUP_NAME}",
    }
    assert browser.find_element(By.ID, "error").text == ""


@pytest.mark.parametrize(("docs", "rendered"), [("/docs", ".opblock"), ("/redoc", "h2")])
def test_the_api_docs_render_without_a_network(served, browser, docs, rendered):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    server, _, _ = served
    browser.get(f"{server.url}{docs}")
    # drawn by the docs' script from /openapi.json: the script came from the server
    WebDriverWait(browser, 60).until(
        lambda driver: "/api/search/codes" in driver.find_element(By.TAG_NAME, "body").text
    )
    assert browser.find_elements(By.CSS_SELECTOR, rendered)
