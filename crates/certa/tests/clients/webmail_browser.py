"""The webmail in headless Chromium (Debian's chromium + chromium-driver, Selenium):
first login -> forced password change -> compose a PEC with an attachment and receipt
"breve" -> its status turns to delivered -> the recipient sees the certified message and
opens the attachment -> body search over all folders finds it -> the maildir ZIP of the
selection holds the same message -> delete, empty Cestino. Screenshots of the folder tree
and of the main screen in both layouts are saved in OUT.

usage: webmail_browser.py URL SENDER SENDER_PW RECIPIENT RECIPIENT_PW OUT
"""
import os, sys, time, zipfile
from selenium.webdriver.common.by import By
from webmail_driver import Browser

url, sender, sender_pw, rcpt, rcpt_pw, out = sys.argv[1:7]
b = Browser(url, out)
d, url = b.d, b.url
find, text, login = b.find, b.text, b.login
wait_text, wait_url, wait_download = b.wait_text, b.wait_url, b.wait_download


def step(msg):
    print("--", msg, flush=True)


try:
    step("a wrong password is refused with a clear message")
    login(sender, "Sbagliata#123")
    assert "non corretti" in text("#login-error"), d.page_source

    step("first login forces the password change")
    login(sender, sender_pw)
    wait_url("/password")
    find("#forced-change")
    d.get(url + "/")  # every other page sends back to the password change
    wait_url("/password")
    new_pw = "Verde#Collina42"
    find("#current").send_keys(sender_pw)
    find("#new").send_keys("password")
    find("#confirm").send_keys("password")
    find("#change").click()
    wait_text("password-errors")
    errors = text("#password-errors")
    assert "maiuscola" in errors and "comune" in errors, errors
    find("#current").send_keys(sender_pw)
    find("#new").send_keys(new_pw)
    find("#confirm").send_keys(new_pw)
    find("#change").click()
    wait_text('id="password-done"')
    assert "Richiesta Reset password completata con successo" in text("#password-done")
    find("#to-webmail").click()
    wait_text('id="new-mail"')

    step("folders in the providers' order, then the user's own alphabetically")
    for name in ["Zeta", "archivio", "Bilanci"]:
        d.get(url + "/settings/cartelle")
        find("#new-folder").send_keys(name)
        find("#create-folder").click()
        wait_text(f">{name}<")
    d.get(url + "/")
    tree = [a.get_attribute("data-folder")
            for a in d.find_elements(By.CSS_SELECTOR, "nav.folders a[data-folder]")]
    assert tree == ["INBOX", "Posta inviata", "Bozze", "Cestino", "Posta indesiderata",
                    "archivio", "Bilanci", "Zeta"], tree
    d.save_screenshot(os.path.join(out, "folders.png"))

    step("compose a PEC with an attachment and receipt type breve")
    attachment = os.path.join(out, "delibera-42.pdf")
    payload = b"%PDF-1.4\n% delibera n. 42\n" + bytes(range(256)) * 40
    with open(attachment, "wb") as f:
        f.write(payload)
    find("#new-mail").click()
    wait_text("Ccn non è disponibile")
    find("#to").send_keys(rcpt)
    find("#subject").send_keys("Delibera 42 – trasmissione")
    find("#body").send_keys("Si trasmette la delibera.\nParola chiave: zanzibar.\n")
    find("#attachment").send_keys(attachment)
    find("#receipt-breve").click()
    find("#send").click()
    assert text("#send-result") == "Messaggio accettato", d.page_source

    step("the sent message's status turns to delivered")
    deadline = time.time() + 60
    while True:
        d.get(url + "/?f=Posta%20inviata")
        find("table.messages tbody tr td.subject a").click()
        status = text("#pec-status")
        if "Consegnato" in status:
            break
        assert time.time() < deadline, status
        time.sleep(1)
    assert "ricevuta breve" in status, status
    assert len(d.find_elements(By.CSS_SELECTOR, ".receipts li")) >= 2  # accettazione, consegna
    d.save_screenshot(os.path.join(out, "main-list.png"))

    step("three-column layout, remembered")
    d.get(url + "/settings")
    find("#layout-columns").click()
    find("#save-layout").click()
    wait_text("Impostazioni salvate")
    d.get(url + "/?f=Posta%20inviata")
    assert "layout-columns" in find("body").get_attribute("class")
    find("table.messages tbody tr td.subject a").click()
    find("#pec-status")
    d.save_screenshot(os.path.join(out, "main-columns.png"))
    find("#logout").click()
    wait_url("/login")

    step("the recipient sees the certified message, verified, and opens the attachment")
    login(rcpt, rcpt_pw)
    row = find("table.messages tbody tr")
    assert "unread" in row.get_attribute("class")
    assert row.find_element(By.CSS_SELECTOR, ".badge").text == "Posta certificata"
    assert row.find_elements(By.CSS_SELECTOR, ".clip"), "attachment mark"
    row.find_element(By.CSS_SELECTOR, "td.subject a").click()
    pec = find("#pec-data")
    assert "verified" in pec.get_attribute("class").split(), pec.text
    assert sender in pec.text
    assert text("#message-subject") == "Delibera 42 – trasmissione"
    d.switch_to.frame(find("iframe.body"))
    assert "zanzibar" in find("body").text
    d.switch_to.default_content()
    link = [a for a in d.find_elements(By.CSS_SELECTOR, "a.attachment") if a.text == "delibera-42.pdf"]
    assert link, d.page_source
    link[0].click()
    got = wait_download("delibera-42.pdf")
    assert open(got, "rb").read() == payload, "the attachment arrives unchanged"
    find("#download-eml").click()
    eml = open(wait_download("messaggio-*.eml"), "rb").read()

    step("search by body text in all folders finds it")
    d.get(url + "/search")
    find("#q").send_keys("zanzibar")
    find("#field option[value=body]").click()
    find("#scope option[value=all]").click()
    find("#search-button").click()
    wait_text("result-count")
    assert text("#result-count").startswith("1 "), text("#result-count")

    step("the maildir ZIP of the selection holds the same message")
    find("#select-everything").click()
    find("#action-zip").click()
    z = zipfile.ZipFile(wait_download("posta-maildir.zip"))
    files = [n for n in z.namelist() if "/cur/" in n and not n.endswith("/")]
    assert len(files) == 1, z.namelist()
    assert z.read(files[0]) == eml, "the ZIP holds the message as stored"
    assert files[0].startswith("Maildir/cur/") and files[0].endswith(":2,S"), files

    step("delete, then empty the Cestino")
    d.get(url + "/")
    find("table.messages tbody input[name=sel]").click()
    find("#action-delete").click()
    wait_text("Messaggi spostati nel Cestino")
    assert "Nessun messaggio" in d.page_source
    d.get(url + "/?f=Cestino")
    assert len(d.find_elements(By.CSS_SELECTOR, "table.messages tbody tr")) == 1
    find("#empty-trash").click()
    wait_text("Cestino svuotato")
    assert not d.find_elements(By.CSS_SELECTOR, "table.messages tbody tr")
    print("OK")
except Exception:
    b.failed(out)
    raise
finally:
    d.quit()
