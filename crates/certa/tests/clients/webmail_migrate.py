"""The webmail's copy from the old PEC box (issue 15, seed 000) in headless Chromium
(Selenium): the banner on every page leads to Impostazioni → "PEC - Copia messaggi da
account"; a wrong old password shows "In preparazione", then "Credenziali errate" with the
hint about "$"; an unknown old server is asked for, changing nothing; the right password
copies everything ("Copiato" with its time stamp) into a folder named after the old
address; the banner goes; "Sincronizza ora"; the page in English. The old passwords never
appear in a page.

usage: webmail_migrate.py URL USER PASSWORD OLD_ADDRESS OLD_PASSWORD WRONG_PASSWORD MESSAGES OUT [inbox]
  USER logs in with PASSWORD; its domain is the one being taken over (the operator's
  [[migration.domain]]), OLD_ADDRESS the box at the old provider, holding MESSAGES in its INBOX.
  With `inbox`, the short flow into INBOX instead: the warning's choice, Copiato, every
  message in INBOX.
"""
import json, os, re, sys, time
from urllib.parse import quote
from selenium.webdriver.common.by import By
from webmail_driver import Browser

url, user, password, old_address, old_password, wrong_password, messages, out = sys.argv[1:9]
into_inbox = sys.argv[9:10] == ["inbox"]
messages = int(messages)
b = Browser(url, out)
d, url = b.d, b.url
find, text, wait_text, wait_url = b.find, b.text, b.wait_text, b.wait_url
# A time stamp as the webmail writes them, in Italian time.
STAMP = re.compile(r"\b\d\d/\d\d/\d{4} \d\d:\d\d\b")


def step(msg):
    print("--", msg, flush=True)


def absent(css):
    """Nothing matches `css` (asked without the implicit wait)."""
    d.implicitly_wait(0)
    try:
        return not d.find_elements(By.CSS_SELECTOR, css)
    finally:
        d.implicitly_wait(5)


def state():
    """The job's state and caption as the page shows them; None between two loads (the
    page reloads itself while the copy runs)."""
    d.implicitly_wait(0)
    try:
        e = d.find_element(By.CSS_SELECTOR, "#migrate-state")
        return e.get_attribute("data-state"), e.text
    except Exception:
        return None, ""
    finally:
        d.implicitly_wait(5)


def wait_state(wanted, seen, timeout=120):
    end = time.time() + timeout
    while True:
        s, caption = state()
        if s and s not in seen:
            print("   state:", s, "-", caption, flush=True)
            seen.append(s)
        if s in wanted:
            return s
        assert time.time() < end, f"waiting for {wanted}: seen {seen}, now {s} {caption!r}"
        time.sleep(0.1)


def no_password_shown():
    page = d.page_source
    for secret in (old_password, wrong_password):
        assert secret not in page, "an old password is in the page"


def copy_into_inbox():
    step("log in, clicca qui, the old box into INBOX")
    b.login(user, password)
    wait_text('id="new-mail"')
    find("#migrate-banner-link").click()
    wait_url("/settings/migrate")
    find("#old-address").clear()
    find("#old-address").send_keys(old_address)
    find("#old-password").send_keys(old_password)
    find("#into-inbox").click()
    assert find("#into-inbox").is_selected() and not find("#into-folder").is_selected()
    find("#migrate-start").click()
    wait_url("/settings/migrate")
    seen = []
    wait_state(["copied"], seen)
    assert "failed" not in seen, seen
    assert text("#migrate-caption").startswith("Copiato"), text("#migrate-caption")
    assert STAMP.search(text("#migrate-since")), text("#migrate-since")
    no_password_shown()
    step("every message in INBOX, no folder named after the old address")
    d.get(url + "/")
    wait_text('id="new-mail"')
    assert absent(f'nav.folders a[data-folder="{old_address}"]')
    rows = d.find_elements(By.CSS_SELECTOR, "table.messages tbody tr")
    assert len(rows) == min(messages, 50), len(rows)
    d.get(url + "/settings/cartelle")
    counts = {r.find_elements(By.TAG_NAME, "td")[0].text: r.find_elements(By.TAG_NAME, "td")[1].text
              for r in d.find_elements(By.CSS_SELECTOR, "table.folder-table tr")
              if r.find_elements(By.TAG_NAME, "td")}
    assert counts.get("Posta in arrivo") == str(messages), counts
    d.save_screenshot(os.path.join(out, "migrate-inbox.png"))
    print("OK")


try:
    if into_inbox:
        copy_into_inbox()
        sys.exit(0)
    step("log in: the banner invites to copy the old box")
    b.login(user, password)
    wait_text('id="new-mail"')
    banner = text("#migrate-banner")
    assert ("Attenzione, a breve questa casella PEC verrà attivata prendendo il posto di quella "
            "attuale in dismissione. Per copiare tutti i tuoi messaggi clicca qui") in banner, banner
    d.save_screenshot(os.path.join(out, "migrate-banner.png"))
    d.get(url + "/settings")
    assert text("#migrate-link") == "PEC - Copia messaggi da account"
    assert not absent("#migrate-banner"), "the banner is on every page"

    step("clicca qui: the page, nothing started yet")
    find("#migrate-banner-link").click()
    wait_url("/settings/migrate")
    assert text("#migrate-title") == "PEC - Copia messaggi da account"
    assert "Copia messaggi da un altro account PEC" in d.page_source
    assert "Questo servizio consente di copiare i messaggi contenuti in un'altra casella PEC" in d.page_source
    assert state() == ("none", 'Nessuna copia avviata. Premi su "Avvia" per cominciare.'), state()
    assert find("#old-address").get_attribute("value") == old_address, "the address stays"
    assert find("#old-password").get_attribute("value") == ""
    assert find("#into-folder").is_selected() and not find("#into-inbox").is_selected()
    assert text("#inbox-warning").startswith(
        "ATTENZIONE: è fortemente sconsigliato effettuare quest'ultima operazione")
    assert text("#inbox-warning").endswith("con il risultato di recepire comunicazioni duplicate.")
    assert absent("#old-server"), "the operator's server is known"
    assert absent("#all-folders"), "only INBOX unless the operator allows every folder"
    assert absent("#migrate-banner"), "no banner on the page it leads to"
    assert find("#migrate-start").text == "Avvia"
    d.save_screenshot(os.path.join(out, "migrate-form.png"))

    step("a wrong old password: In preparazione, then Credenziali errate with the hint on $")
    find("#old-password").send_keys(wrong_password)
    find("#migrate-start").click()
    wait_url("/settings/migrate")
    seen = []
    wait_state(["failed"], seen)
    assert "preparing" in seen, f"In preparazione was shown: {seen}"
    caption = text("#migrate-caption")
    assert "Credenziali errate" in caption, caption
    assert STAMP.search(text("#migrate-since")), text("#migrate-since")
    assert text("#migrate-cause").startswith("Causa:")
    advice = text("#migrate-advice")
    assert '"$"' in advice and "Avvia" in advice, advice
    no_password_shown()
    d.save_screenshot(os.path.join(out, "migrate-failed.png"))

    step("the form again, to resume: the old address kept, never a password")
    assert find("#old-address").get_attribute("value") == old_address
    assert find("#old-password").get_attribute("value") == ""

    step("an old box whose server nobody knows: the server is asked for, nothing changes")
    find("#old-address").clear()
    find("#old-address").send_keys("altro@gestore-sconosciuto.test")
    find("#old-password").send_keys(wrong_password)
    find("#migrate-start").click()
    wait_text('id="migrate-error"')
    error = text("#migrate-error")
    assert "server del vecchio gestore sconosciuto per altro@gestore-sconosciuto.test" in error, error
    assert not absent("#old-server"), "the server field is shown"
    assert find("#old-address").get_attribute("value") == "altro@gestore-sconosciuto.test"
    assert find("#old-password").get_attribute("value") == ""
    assert state()[0] == "failed", "the job did not change"
    no_password_shown()

    step("the right password: Copiato, with its time stamp")
    find("#old-address").clear()
    find("#old-address").send_keys(old_address)
    find("#old-password").send_keys(old_password)
    find("#migrate-start").click()
    wait_url("/settings/migrate")
    seen = []
    wait_state(["copied"], seen)
    print("   seen:", seen, flush=True)
    assert "failed" not in seen, seen
    caption = text("#migrate-caption")
    assert caption == "Copiato. Manterremo periodicamente sincronizzato il tuo account.", caption
    assert STAMP.search(text("#migrate-since")), text("#migrate-since")
    assert f"{old_address}: {messages} (" in text("#migrate-copied"), text("#migrate-copied")
    note = text("#migrate-sync-note")
    assert note.startswith("Le e-mail inviate/ricevute successivamente alla prima copia verranno "
                           "sincronizzate automaticamente con cadenza giornaliera"), note
    assert absent("#migrate-form"), "no form while the copy is kept in step"
    assert absent('meta[http-equiv="refresh"]'), "no more reloading once copied"
    no_password_shown()
    d.save_screenshot(os.path.join(out, "migrate-copied.png"))

    step("the state as JSON, for scripts")
    d.get(url + "/settings/migrate/status")
    status = json.loads(find("body").text)
    assert status["state"] == "copied" and status["copied_messages"] == messages, status
    assert status["caption"].startswith("Copiato") and status["left_secs"] is None, status
    d.get(url + "/settings/migrate")

    step("Sincronizza ora")
    find("#migrate-sync").click()
    wait_text('id="migrate-notice"')
    assert "Sincronizzazione avviata" in text("#migrate-notice")

    step("the copied folder, named after the old address, with every message; no banner")
    d.get(url + "/")
    wait_text('id="new-mail"')
    folder = find(f'nav.folders a[data-folder="{old_address}"]')
    assert folder.text.startswith(old_address), folder.text
    assert absent("#migrate-banner"), "the banner goes once copied"
    d.get(url + "/?f=" + quote(old_address))
    rows = d.find_elements(By.CSS_SELECTOR, "table.messages tbody tr")
    assert len(rows) == min(messages, 50), len(rows)
    d.get(url + "/settings/cartelle")
    counts = {r.find_elements(By.TAG_NAME, "td")[0].text: r.find_elements(By.TAG_NAME, "td")[1].text
              for r in d.find_elements(By.CSS_SELECTOR, "table.folder-table tr")
              if r.find_elements(By.TAG_NAME, "td")}
    assert counts.get(old_address) == str(messages), counts
    d.save_screenshot(os.path.join(out, "migrate-folder.png"))

    step("in English: Copied")
    d.get(url + "/settings")
    find("#lang-en").click()
    find("#save-lang").click()
    wait_text("Settings saved")
    assert text("#migrate-link") == "PEC - Copy messages from an account"
    find("#migrate-link").click()
    wait_url("/settings/migrate")
    assert text("#migrate-title") == "PEC - Copy messages from an account"
    caption = text("#migrate-caption")
    assert caption.startswith("Copied"), caption
    assert STAMP.search(text("#migrate-since"))
    assert text("#migrate-sync") == "Sync now"
    assert text("#migrate-sync-note").startswith("Messages sent or received after the first copy")
    no_password_shown()
    d.save_screenshot(os.path.join(out, "migrate-english.png"))
    print("OK")
except Exception:
    b.failed(out)
    raise
finally:
    d.quit()
