"""The webmail's compose paths in headless Chromium (Selenium): save a draft, edit it and
send it (the draft goes, its attachment and receipt type stay), duplicate as new (the
attachments come along), forward, the print view, the failed and timed-out states in the
sent message's status, the size limits with clear messages, and the whole thing in English.

usage: webmail_compose.py URL USER PASSWORD OTHER DOWN MAX_MESSAGE_BYTES OUT
  OTHER: a mailbox of this provider; DOWN: a mailbox at a peer provider that is down (the
  provider's timers are shortened, so its 24 h limit passes in seconds).
"""
import glob, os, sys, time
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

url, user, password, other, down, max_bytes, out = sys.argv[1:8]
url, max_bytes = url.rstrip("/"), int(max_bytes)
domain = user.split("@")[1]
downloads = os.path.join(out, "downloads")
os.makedirs(downloads, exist_ok=True)

opts = webdriver.ChromeOptions()
for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--ignore-certificate-errors", "--window-size=1400,900",
          f"--user-data-dir={os.path.join(out, 'profile')}"]:
    opts.add_argument(a)
opts.binary_location = "/usr/bin/chromium"
opts.add_experimental_option("prefs", {"download.default_directory": downloads,
                                       "download.prompt_for_download": False})
d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
d.set_page_load_timeout(30)
d.implicitly_wait(5)
d.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})


def step(msg):
    print("--", msg, flush=True)


def find(css):
    return d.find_element(By.CSS_SELECTOR, css)


def text(css):
    return find(css).text


def wait_text(fragment, timeout=10):
    end = time.time() + timeout
    while fragment not in d.page_source:
        assert time.time() < end, f"expected {fragment!r} at {d.current_url}"
        time.sleep(0.1)


def wait_download(pattern, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        files = [f for f in glob.glob(os.path.join(downloads, pattern)) if not f.endswith(".crdownload")]
        if files:
            time.sleep(0.3)
            return files[0]
        time.sleep(0.2)
    raise AssertionError(f"no download matching {pattern}: {os.listdir(downloads)}")


def rows(folder):
    d.get(url + "/?f=" + folder.replace(" ", "%20"))
    return d.find_elements(By.CSS_SELECTOR, "table.messages tbody tr")


def open_row(folder, subject):
    for r in rows(folder):
        link = r.find_element(By.CSS_SELECTOR, "td.subject a")
        if link.text == subject:
            link.click()
            wait_text('id="message-subject"')
            return
    raise AssertionError(f"{subject!r} not in {folder}")


def status_of(folder, subject, wanted, timeout=60):
    end = time.time() + timeout
    while True:
        open_row(folder, subject)
        status = text("#pec-status")
        if wanted in status:
            return status
        assert time.time() < end, f"{subject}: {wanted!r} not in {status!r}"
        time.sleep(1)


def attachment_file(name, size):
    path = os.path.join(out, name)
    with open(path, "wb") as f:
        f.write(b"%PDF-1.4\n" + os.urandom(size))
    return path


try:
    d.get(url + "/login")
    find("#address").send_keys(user)
    find("#password").send_keys(password)
    find("#login-button").click()
    wait_text('id="new-mail"')

    step("save a draft with an attachment and receipt type sintetica")
    pdf = attachment_file("preventivo.pdf", 3000)
    payload = open(pdf, "rb").read()
    find("#new-mail").click()
    find("#to").send_keys(other)
    find("#subject").send_keys("Preventivo")
    find("#body").send_keys("Testo della bozza.")
    find("#attachment").send_keys(pdf)
    find("input[name=receipt][value=sintetica]").click()
    find("#save-draft").click()
    wait_text("Bozza salvata in Bozze.")
    assert len(rows("Bozze")) == 1

    step("edit the draft: everything comes back; sent, it leaves Bozze")
    open_row("Bozze", "Preventivo")
    find("#edit-draft").click()
    assert find("#to").get_attribute("value") == other
    assert find("#subject").get_attribute("value") == "Preventivo"
    assert "Testo della bozza." in find("#body").get_attribute("value")
    assert "preventivo.pdf" in text("#kept-attachments")
    assert find("input[name=receipt][value=sintetica]").is_selected()
    find("#subject").clear()
    find("#subject").send_keys("Preventivo definitivo")
    find("#send").click()
    assert text("#send-result") == "Messaggio accettato", d.page_source
    assert rows("Bozze") == [], "the sent draft is no longer in Bozze"
    sent = rows("Posta inviata")
    assert "Destinatari" in text("table.messages thead"), "Posta inviata shows whom it went to"
    assert sent[0].find_element(By.CSS_SELECTOR, "td.to").text == other
    status = status_of("Posta inviata", "Preventivo definitivo", "Consegnato")
    assert "ricevuta sintetica" in status, status
    link = [a for a in d.find_elements(By.CSS_SELECTOR, "a.attachment") if a.text == "preventivo.pdf"]
    assert link, "the draft's attachment was sent"
    link[0].click()
    assert open(wait_download("preventivo.pdf"), "rb").read() == payload

    step("the print view: the message, no actions")
    d.get(find("#print").get_attribute("href"))
    assert text("#message-subject") == "Preventivo definitivo"
    assert "Testo della bozza." in text("#print-body"), "the body is in the page, whole"
    assert not find(".message-actions").is_displayed(), "no buttons on paper"
    assert not d.find_elements(By.CSS_SELECTOR, "iframe.body")

    step("duplicate as new to a mailbox that does not exist: not delivered, with the reason")
    open_row("Posta inviata", "Preventivo definitivo")
    find("#duplicate").click()
    assert find("#subject").get_attribute("value") == "Preventivo definitivo"
    assert "preventivo.pdf" in text("#kept-attachments")
    assert find("input[name=receipt][value=sintetica]").is_selected(), "the receipt type too"
    find("#to").clear()
    find("#to").send_keys("nessuno@" + domain)
    find("#subject").clear()
    find("#subject").send_keys("Preventivo a nessuno")
    find("#send").click()
    assert text("#send-result") == "Messaggio accettato", d.page_source
    status = status_of("Posta inviata", "Preventivo a nessuno", "Mancata consegna")
    print("   ", status.replace("\n", " | "))
    row = find("#pec-status tr.bad")
    assert row.find_elements(By.CSS_SELECTOR, "td")[3].text.strip(), "the reason is shown"
    assert [a for a in d.find_elements(By.CSS_SELECTOR, "a.attachment") if a.text == "preventivo.pdf"]

    step("forward to a provider that is down: no delivery within 24 hours")
    open_row("Posta inviata", "Preventivo definitivo")
    find("#forward").click()
    assert find("#subject").get_attribute("value") == "I: Preventivo definitivo"
    wait_text("inoltrato come allegato")
    find("#to").send_keys(down)
    find("#send").click()
    assert text("#send-result") == "Messaggio accettato", d.page_source
    status = status_of("Posta inviata", "I: Preventivo definitivo", "Nessuna consegna entro 24 ore")
    print("   ", status.replace("\n", " | "))
    labels = [li.text for li in d.find_elements(By.CSS_SELECTOR, ".receipts li")]
    assert any(t.startswith("Preavviso 12 ore") for t in labels), labels
    assert any(t.startswith("Scaduti i tempi (24 ore)") for t in labels), labels
    names = [a.text for a in d.find_elements(By.CSS_SELECTOR, "a.attachment")]
    assert any(n.endswith(".eml") for n in names), names

    step("a message over the size limit is refused on the form, with the limit")
    find("#new-mail").click()
    find("#to").send_keys(other)
    find("#subject").send_keys("Troppo grande")
    find("#attachment").send_keys(attachment_file("grande.pdf", max_bytes))
    find("#send").click()
    wait_text("supera la dimensione massima")
    assert find("#subject").get_attribute("value") == "Troppo grande", "the form is kept"
    step("an upload beyond what the server reads gets a clear page, not a broken one")
    find("#new-mail").click()
    find("#to").send_keys(other)
    find("#attachment").send_keys(attachment_file("enorme.pdf", max_bytes + 2 * 1024 * 1024))
    find("#send").click()
    wait_text("supera la dimensione massima")
    assert "Tornare indietro" in d.page_source
    assert not [r for r in rows("Posta inviata") if "Troppo grande" in r.text]

    step("in English: the same screens, and dates in Europe/Rome")
    d.get(url + "/settings")
    find("#lang-en").click()
    find("#save-lang").click()
    wait_text("Settings saved")
    d.get(url + "/")
    assert text("#new-mail") == "New mail"
    assert "Inbox" in text("nav.folders")
    open_row("Posta inviata", "Preventivo definitivo")
    assert "Delivered" in text("#pec-status")
    find("#new-mail").click()
    assert "Bcc is not available" in d.page_source
    assert "Delivery receipt type" in d.page_source
    d.save_screenshot(os.path.join(out, "compose-english.png"))
    print("OK")
except Exception:
    d.save_screenshot(os.path.join(out, "failure.png"))
    print(d.current_url, file=sys.stderr)
    print(d.page_source[:4000], file=sys.stderr)
    raise
finally:
    d.quit()
