"""Headless Chromium for the webmail's browser tests (Debian's chromium and chromedriver,
Selenium), and the waits they share: a script imports it from its own folder.
"""
import glob, os, time
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By


class Browser:
    def __init__(self, url, out, profile="profile"):
        self.url = url.rstrip("/")
        self.downloads = os.path.join(out, "downloads")
        os.makedirs(self.downloads, exist_ok=True)
        opts = webdriver.ChromeOptions()
        for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync",
                  "--ignore-certificate-errors", "--window-size=1400,900",
                  f"--user-data-dir={os.path.join(out, profile)}"]:
            opts.add_argument(a)
        opts.binary_location = "/usr/bin/chromium"
        opts.add_experimental_option("prefs", {
            "download.default_directory": self.downloads,
            "download.prompt_for_download": False,
            "safebrowsing.enabled": False,
        })
        self.d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        self.d.set_page_load_timeout(30)
        self.d.implicitly_wait(5)
        # Browser-wide, so it holds for every tab and renderer the session opens.
        self.d.execute_cdp_cmd("Browser.setDownloadBehavior",
                               {"behavior": "allow", "downloadPath": self.downloads})

    def find(self, css):
        return self.d.find_element(By.CSS_SELECTOR, css)

    def text(self, css):
        return self.find(css).text

    def login(self, address, password):
        self.d.get(self.url + "/login")
        self.find("#address").send_keys(address)
        self.find("#password").send_keys(password)
        self.find("#login-button").click()

    def wait_text(self, fragment, timeout=10):
        end = time.time() + timeout
        while fragment not in self.d.page_source:
            assert time.time() < end, f"expected {fragment!r} at {self.d.current_url}"
            time.sleep(0.1)

    def wait_url(self, suffix, timeout=10):
        end = time.time() + timeout
        while not self.d.current_url.endswith(suffix):
            assert time.time() < end, f"expected …{suffix}, at {self.d.current_url}"
            time.sleep(0.1)

    def wait_download(self, pattern, timeout=20, again=None):
        """Waits for a finished download named like `pattern`. `again`, when given, repeats
        the click once half-way: on a loaded CI machine a click on an attachment once
        produced no download at all within 20 s."""
        start = time.time()
        end = start + timeout
        while time.time() < end:
            if again is not None and time.time() > start + timeout / 2:
                again()
                again = None
            files = [f for f in glob.glob(os.path.join(self.downloads, pattern))
                     if not f.endswith(".crdownload")]
            if files:
                time.sleep(0.3)
                return files[0]
            time.sleep(0.2)
        raise AssertionError(f"no download matching {pattern}: {os.listdir(self.downloads)}")

    def failed(self, out):
        """Keeps what the browser showed when a check failed."""
        import sys
        self.d.save_screenshot(os.path.join(out, "failure.png"))
        print(self.d.current_url, file=sys.stderr)
        print(self.d.page_source[:4000], file=sys.stderr)
