"""The webmail's compose paths in headless Chromium (Selenium): save a draft, edit it and
send it (the draft goes, its attachment and receipt type stay), duplicate as new (the
attachments come along), forward, the print view, the failed and timed-out states in the
sent message's status, the size limits with clear messages, and the whole thing in English.

usage: webmail_compose.py URL USER PASSWORD OTHER DOWN MAX_MESSAGE_BYTES OUT
  OTHER: a mailbox of this provider; DOWN: a mailbox at a peer provider that is down (the
  provider's timers are shortened, so its 24 h limit passes in seconds).
"""
import os, sys, time
from selenium.webdriver.common.by import By
from webmail_driver import Browser

url, user, password, other, down, max_bytes, out = sys.argv[1:8]
max_bytes = int(max_bytes)
domain = user.split("@")[1]
b = Browser(url, out)
d, url = b.d, b.url
find, text, wait_text, wait_download = b.find, b.text, b.wait_text, b.wait_download


def step(msg):
    print("--", msg, flush=True)


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
    b.login(user, password)
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
    assert open(wait_download("preventivo.pdf", again=link[0].click), "rb").read() == payload

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
    b.failed(out)
    raise
finally:
    d.quit()
