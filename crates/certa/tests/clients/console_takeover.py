"""A whole domain taken over (issue 16), as its people and its operator do it, in headless
Chromium (Selenium).

usage: console_takeover.py PARAMS.json copy|console

copy:    boxes start their copy — some from the webmail (welcome password, forced change,
         "Copia messaggi da account"), some from the public start page (current password at
         the old provider, then the one valid after the switch).
console: the operator logs in to the console (password + TOTP, a wrong code refused), reads
         the domain's board (counters, the "non avviate" filter, the CSV), sends the
         reminders, records the decertification, adds a plan, suspends and resumes a box,
         activates the domain; a POST without the CSRF token is refused; the legal log shows
         each action under the operator's name.
PARAMS: {"webmail", "console", "domain", "operator", "password", "totp_secret", "out",
         "webmail_boxes": [[address, welcome, new, old]], "start_boxes": [[address, old, new]],
         "not_started": [address], "started": N}
"""
import base64, csv, re, hashlib, hmac, io, json, os, ssl, struct, sys, time, urllib.error, urllib.request
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from webmail_driver import Browser

params = json.load(open(sys.argv[1]))
phase = sys.argv[2]
out = params["out"]


def step(msg):
    print("--", msg, flush=True)


def eventually(read, ok, timeout=10):
    """`read()` until `ok` holds of it: after a click the URL may change before the new
    page replaced the old one's elements (stale, or still the old rows)."""
    end = time.time() + timeout
    while True:
        try:
            value = read()
            if ok(value):
                return value
        except StaleElementReferenceException:
            value = "(stale)"
        assert time.time() < end, value
        time.sleep(0.1)


def totp(secret_b32, at=None):
    """RFC 6238 with SHA-1, 30 s, 6 digits (what an authenticator app shows)."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    counter = int((at or time.time()) // 30)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    o = mac[-1] & 0x0F
    value = (struct.unpack(">I", mac[o:o + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{value:06d}"


def copy_phase():
    b = Browser(params["webmail"], out, profile="people")
    d, find, text, wait_url, wait_text = b.d, b.find, b.text, b.wait_url, b.wait_text
    try:
        for address, welcome, new, old in params["webmail_boxes"]:
            step(f"webmail: {address} changes the welcome password and starts the copy")
            b.login(address, welcome)
            wait_url("/password")
            assert "forced-change" in d.page_source
            find("#current").send_keys(welcome)
            find("#new").send_keys(new)
            find("#confirm").send_keys(new)
            find("#change").click()
            wait_text('id="password-done"')
            find("#to-webmail").click()
            wait_text('id="new-mail"')
            banner = text("#migrate-banner")
            assert "Per copiare tutti i tuoi messaggi clicca qui" in banner, banner
            find("#migrate-banner-link").click()
            wait_url("/settings/migrate")
            find("#old-address").clear()
            find("#old-address").send_keys(address)
            find("#old-password").send_keys(old)
            find("#migrate-start").click()
            wait_url("/settings/migrate")
            # The same URL before and after the form, and the page reloads itself while the
            # copy runs: poll its source until it names a started copy.
            end = time.time() + 20
            while True:
                page = d.page_source
                assert 'id="migrate-error"' not in page, page
                state = re.search(r'id="migrate-state" data-state="([a-z]+)"', page)
                if state and state.group(1) in ("preparing", "copying", "copied"):
                    break
                assert time.time() < end, state
                time.sleep(0.2)
            assert old not in d.page_source and welcome not in d.page_source
            find("#logout").click()
            wait_url("/login")
        for address, old, new in params["start_boxes"]:
            step(f"start page: {address} checks its current password and sets the next one")
            d.get(b.url + "/attivazione")
            find("#start-address").send_keys(address)
            find("#start-password").send_keys(old)
            find("#start-continue").click()
            wait_text('id="start-new"')
            assert "solo dopo il passaggio al nuovo gestore" in text("#start-warning")
            find("#start-new").send_keys(new)
            find("#start-confirm").send_keys(new)
            find("#start-set").click()
            wait_text('id="start-done"')
            assert text("#start-done") == "L'importazione dei suoi messaggi PEC è iniziata."
            assert "non modificare la sua password" in text("#start-keep")
            assert old not in d.page_source and new not in d.page_source
        print("OK")
    except Exception:
        b.failed(out)
        raise
    finally:
        d.quit()


def console_phase():
    b = Browser(params["console"], out, profile="operator")
    d, find, text, wait_url, wait_text = b.d, b.find, b.text, b.wait_url, b.wait_text
    domain = params["domain"]
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE

    def fetch(path, data=None, headers=None):
        """The console with the browser's session cookie, outside the browser."""
        cookie = "; ".join(f"{c['name']}={c['value']}" for c in d.get_cookies())
        req = urllib.request.Request(b.url + path, data=data,
                                     headers={"Cookie": cookie, **(headers or {})})
        try:
            with urllib.request.urlopen(req, context=ctx) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def login(code):
        d.get(b.url + "/accesso")
        find("#name").send_keys(params["operator"])
        find("#password").send_keys(params["password"])
        find("#code").send_keys(code)
        find("#login-button").click()

    def board_addresses():
        return sorted(r.get_attribute("data-address")
                      for r in d.find_elements(By.CSS_SELECTOR, "#board tbody tr"))

    try:
        step("login: a wrong code is refused, the authenticator's code lets in")
        right = totp(params["totp_secret"])
        wrong = f"{(int(right) + 1) % 1_000_000:06d}"
        login(wrong)
        wait_text('id="login-error"')
        assert "Accesso non riuscito" in text("#login-error")
        assert not d.get_cookies(), "no session after a refusal"
        login(totp(params["totp_secret"]))
        wait_url("/domini")
        assert text("#operator") == params["operator"]

        step("the domains: the one in migration, 15 of 20 started")
        row = find(f'#domains tr[data-domain="{domain}"]')
        assert row.find_element(By.CSS_SELECTOR, ".state").text == "in migrazione"
        assert row.find_element(By.CSS_SELECTOR, ".started").text == f"{params['started']} / 20"

        step("the board: counters, the filter, the CSV")
        row.find_element(By.TAG_NAME, "a").click()
        wait_text('id="board"')
        counters = text("#counters")
        expected = (f"{params['started']} avviate · {len(params['not_started'])} non avviate · "
                    f"0 in errore · 20 in tutto")
        assert counters == expected, counters
        assert len(board_addresses()) == 20
        find("#filter-not-started").click()
        wait_url("?filtro=non-avviate")
        eventually(board_addresses, lambda a: a == sorted(params["not_started"]))
        eventually(lambda: {r.text for r in d.find_elements(By.CSS_SELECTOR, "#board td.progress")},
                   lambda states: states == {"Non avviata"})
        status, body = fetch(find("#csv").get_attribute("href").replace(b.url, ""))
        assert status == 200, status
        rows = list(csv.reader(io.StringIO(body), delimiter=";"))
        assert rows[0][:4] == ["indirizzo", "nome", "piano", "stato"], rows[0]
        assert sorted(r[0] for r in rows[1:]) == sorted(params["not_started"]), rows
        find("#filter-started").click()
        wait_url("?filtro=avviate")
        eventually(lambda: [r.text for r in d.find_elements(By.CSS_SELECTOR, "#board td.progress")],
                   lambda started: len(started) == params["started"] and all(
                       s.startswith(("Copiato", "Copia in corso", "In preparazione")) for s in started))
        d.save_screenshot(os.path.join(out, "console-board.png"))
        status, entry = fetch(f"/domini/{domain}/indice.ldif")
        assert status == 200 and f"{domain}" in entry and "dn:" in entry, (status, entry[:500])

        step("a POST without the CSRF token, or from another origin, changes nothing")
        status, _ = fetch(f"/domini/{domain}/promemoria", data=b"")
        assert status == 403, status
        csrf = find("#remind").find_element(By.XPATH, "..").get_attribute("action").split("csrf=")[1]
        status, _ = fetch(f"/domini/{domain}/promemoria?csrf={csrf}", data=b"",
                          headers={"Origin": "https://altro.example"})
        assert status == 403, status

        step("reminders to the boxes not started")
        find("#remind").click()
        wait_text("Promemoria inviati")
        assert text("#notice") == f"Promemoria inviati: {len(params['not_started'])}.", text("#notice")

        step("the decertification at the old provider")
        Select(find("#decert-state")).select_by_value("confermata")
        find("#decert-note").send_keys("PEC prot. 123")
        find("#decert-save").click()
        wait_text("Decertificazione registrata")
        line = [r.text for r in d.find_elements(By.CSS_SELECTOR, "#checklist tr")
                if "decertificazione" in r.text]
        assert line and "confermata (PEC prot. 123)" in line[0] and " ok " in f" {line[0]} ", line

        step("a plan; a box suspended and resumed")
        find("#nav-plans").click()
        wait_url("/piani")
        find("#plan-name").send_keys("scuole-plus")
        find("#plan-quota").send_keys("6GB")
        find("#plan-archive").click()
        find("#plan-add").click()
        wait_text("Piano aggiunto")
        assert "scuole-plus" in text("#plans") and "6.0 GB" in text("#plans"), text("#plans")
        box = params["not_started"][0]
        find("#nav-boxes").click()
        wait_url("/caselle")
        find("#box-search").send_keys(box)
        find("#box-search").submit()
        wait_text(f'data-address="{box}"')
        assert text("#box-count").startswith("1 di "), text("#box-count")
        find(f'#boxes tr[data-address="{box}"] button.suspend').click()
        wait_text("Casella sospesa.")
        assert find(f'#boxes tr[data-address="{box}"] .box-state').text == "sospesa"
        find(f'#boxes tr[data-address="{box}"] button.resume').click()
        wait_text("Casella riattivata.")
        assert find(f'#boxes tr[data-address="{box}"] .box-state').text != "sospesa"

        step("Attiva ora: the confirmation, then the domain is active")
        d.get(f"{b.url}/domini/{domain}")
        find("#switch-now").click()
        wait_text('id="confirm-switch"')
        find("#confirm-switch").click()
        wait_text("Dominio attivato")
        assert text("#domain-state") == "attivo", text("#domain-state")

        step("the legal log: each action under the operator's name")
        find("#nav-log").click()
        find("#log-q").send_keys("operatore:" + params["operator"])
        find("#log-search").click()
        wait_url("?q=operatore%3A" + params["operator"])
        events = [r.text for r in d.find_elements(By.CSS_SELECTOR, "#log td.event")]
        for e in ["operatore-accesso", "promemoria-copia", "decertificazione", "piano-creato",
                  "casella-sospesa", "casella-riattivata", "passaggio-dominio"]:
            assert e in events, (e, events)
        d.save_screenshot(os.path.join(out, "console-log.png"))

        step("logout: the session is gone")
        find("#logout").click()
        wait_url("/accesso")
        status, page = fetch("/domini")
        assert "login-button" in page, status
        print("OK")
    except Exception:
        b.failed(out)
        raise
    finally:
        d.quit()


if phase == "copy":
    copy_phase()
else:
    console_phase()
