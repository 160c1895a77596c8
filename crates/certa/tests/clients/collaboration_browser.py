"""Multiutenza in headless Chromium (issue 17 acceptance): the holder invites mario from
Multiutenza Titolare → the invitation reaches an ordinary mailbox (aiosmtpd) and the box
holds its acceptance receipt → mario registers by the link and logs in as mario/box →
sends a PEC with an attachment → the holder sees it in Posta inviata "inviato da mario" and
in Attività dei collaboratori → a second box invites mario, who only accepts (in his panel)
→ the panel lists both → a password reset by the e-mailed link.

Usage: collaboration_browser.py PARAMS_JSON
PARAMS: web, box, box2, password, colleague, sink, out
"""
import email
import email.policy
import json
import os
import re
import sys
import time
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from webmail_driver import Browser

P = json.loads(sys.argv[1])
MARIO_PW = "Verde#Prato42"
NEW_PW = "Giallo#Sole77"


def step(msg):
    print("--", msg, flush=True)


def mails_to(address, after=0):
    """The texts of the mails the ordinary mailbox got for `address`, oldest first."""
    texts = []
    for name in sorted(os.listdir(P["sink"]), key=lambda n: int(n.split(".")[0])):
        if int(name.split(".")[0]) < after:
            continue
        m = email.message_from_bytes(open(os.path.join(P["sink"], name), "rb").read(),
                                     policy=email.policy.default)
        if address not in str(m.get("To", "")):
            continue
        texts.append("\n".join(part.get_content() for part in m.walk()
                               if part.get_content_type() == "text/plain"))
    return texts


def wait_link(address, pattern, after=0):
    deadline = time.time() + 60
    while time.time() < deadline:
        for text in reversed(mails_to(address, after)):
            hit = re.search(pattern, text)
            if hit:
                return hit.group(0)
        time.sleep(0.3)
    raise AssertionError(f"no mail to {address} with {pattern}")


def sink_count():
    return len(os.listdir(P["sink"]))


b = Browser(P["web"], P["out"])
d, find, text = b.d, b.find, b.text


def logout():
    find("#logout").click()
    b.wait_url("/login")


def invite(box):
    b.login(box, P["password"])
    b.wait_text('id="new-mail"')
    d.get(b.url + "/settings")
    find("#multiutenza-link").click()
    b.wait_text('id="invite-form"')
    before = sink_count()
    find("#invite-email").send_keys("mario@example.org")
    find("#invite-name").send_keys("Mario Rossi")
    find("#delega-completo").click()
    Select(find("#invite-duration")).select_by_value("6")
    find("#invite-send").click()
    b.wait_text('id="multiutenza-notice"')
    row = find('#collaborations tr[data-email="mario@example.org"]')
    assert row.get_attribute("data-state") == "invitata", row.text
    return before


try:
    step("the holder invites mario with Accesso completo")
    before = invite(P["box"])
    d.save_screenshot(os.path.join(P["out"], "multiutenza.png"))
    link = wait_link("mario@example.org", r"https?://\S+/collaborazione\?t=[0-9a-f]{64}", before)
    step("the box holds the invitation's acceptance receipt")
    d.get(b.url + "/")
    b.wait_text("ACCETTAZIONE: Invito a collaborare")
    logout()

    step("mario registers by the link and logs in as mario/box")
    d.get(b.url + "/collaborazione?" + link.split("?", 1)[1])
    assert P["box"] in text("#invitation-mailbox")
    assert find("#register-email").get_attribute("value") == "mario@example.org"
    find("#register-mobile").send_keys("+39 333 1234567")
    find("#register-username").send_keys("mario")
    find("#register-password").send_keys(MARIO_PW)
    find("#register-password2").send_keys(MARIO_PW)
    find("#register-button").click()
    b.wait_text('id="invitation-done"')
    assert text("#collaborator-login") == f"mario/{P['box']}"
    b.login(f"mario/{P['box']}", MARIO_PW)
    b.wait_text('id="new-mail"')
    assert text("#login-name") == f"mario/{P['box']}"

    step("mario sends a PEC with an attachment")
    find("#new-mail").click()
    pdf = os.path.join(P["out"], "verbale.pdf")
    with open(pdf, "wb") as f:
        f.write(b"%PDF-1.4\n" + b"verbale " * 200)
    find("#to").send_keys(P["colleague"])
    find("#subject").send_keys("Verbale di mario")
    find("#body").send_keys("In allegato il verbale.")
    find("#attachment").send_keys(pdf)
    find("#send").click()
    assert text("#send-result") == "Messaggio accettato", d.page_source[:2000]
    logout()

    step("the holder sees it in Posta inviata, inviato da mario, and in the activity")
    b.login(P["box"], P["password"])
    b.wait_text('id="new-mail"')
    d.get(b.url + "/?f=Posta%20inviata")
    row = [r for r in d.find_elements(By.CSS_SELECTOR, "table.messages tbody tr")
           if "Verbale di mario" in r.text]
    assert row, d.page_source[:2000]
    row[0].find_element(By.CSS_SELECTOR, "td.subject a").click()
    b.wait_text('id="sent-by"')
    assert text("#sent-by") == "inviato da mario", text("#sent-by")
    d.save_screenshot(os.path.join(P["out"], "inviato-da.png"))
    d.get(b.url + "/settings")
    find("#activity-link").click()
    b.wait_text('id="activity"')
    actions = [(r.find_element(By.CSS_SELECTOR, ".who").text,
                r.find_element(By.CSS_SELECTOR, ".action").text)
               for r in d.find_elements(By.CSS_SELECTOR, "#activity tbody tr")]
    assert ("mario", "invio") in actions and ("mario", "accesso") in actions, actions
    d.save_screenshot(os.path.join(P["out"], "attivita.png"))
    logout()

    step("a second box invites mario, who only accepts in his panel")
    invite(P["box2"])
    logout()
    d.get(b.url + "/collaboratore")
    find("#panel-username").send_keys("mario")
    find("#panel-password").send_keys(MARIO_PW)
    find("#panel-login").click()
    b.wait_text('id="panel-user"')
    pending = find(f'#panel-invitations tr[data-mailbox="{P["box2"]}"]')
    pending.find_element(By.CSS_SELECTOR, "button.accept").click()
    b.wait_text('id="panel-notice"')
    listed = sorted(r.get_attribute("data-mailbox")
                    for r in d.find_elements(By.CSS_SELECTOR, "#panel-collaborations tbody tr"))
    assert listed == sorted([P["box"], P["box2"]]), listed
    d.save_screenshot(os.path.join(P["out"], "pannello.png"))
    find("#panel-logout").click()
    b.wait_text('id="panel-login"')

    step("password reset by the e-mailed link: once, and the new password works")
    find("#panel-forgot").click()
    before = sink_count()
    find("#recover-username").send_keys("mario")
    Select(find("#recover-which")).select_by_value("entrambe")
    find("#recover-send").click()
    b.wait_text('id="recover-sent"')
    assert text("#recover-masked") == "m***o@e***e.org", text("#recover-masked")
    reset = wait_link("mario@example.org", r"https?://\S+/collaboratore/reimposta\?t=[0-9a-f]{64}", before)
    # An unknown name gets an answer of the same shape, and no mail.
    d.get(b.url + "/collaboratore/recupero")
    find("#recover-username").send_keys("nessuno")
    find("#recover-send").click()
    b.wait_text('id="recover-sent"')
    assert re.fullmatch(r"[a-z]\*\*\*[a-z]@[a-z]\*\*\*[a-z]\.[a-z]+", text("#recover-masked"))
    reset_path = "/collaboratore/reimposta?" + reset.split("?", 1)[1]
    d.get(b.url + reset_path)
    find("#reset-password").send_keys(NEW_PW)
    find("#reset-password2").send_keys(NEW_PW)
    find("#reset-button").click()
    b.wait_text('id="reset-done"')
    d.get(b.url + reset_path)
    b.wait_text('id="reset-invalid"')
    b.login(f"mario/{P['box2']}", MARIO_PW)
    b.wait_text('id="login-error"')
    b.login(f"mario/{P['box2']}", NEW_PW)
    b.wait_text('id="new-mail"')
    assert text("#login-name") == f"mario/{P['box2']}"
    print("OK")
except Exception:
    b.failed(P["out"])
    raise
finally:
    b.d.quit()
