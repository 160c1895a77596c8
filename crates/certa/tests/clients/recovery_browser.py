"""'Hai dimenticato la password?' in headless Chromium (issue 18 acceptance): from the login
page, an unknown address and the box's own get the same page (a masked recovery address);
the link mailed to the recovery address (aiosmtpd) sets the new password once, and is
refused the second time; the new password logs in. A screenshot of each page.

Usage: recovery_browser.py PARAMS_JSON   PARAMS: web, box, recovery, sink, out
"""
import email, email.policy, json, os, re, sys, time
from webmail_driver import Browser

P = json.loads(sys.argv[1])
NEW = "Azzurro#Mare58"
b = Browser(P["web"], P["out"])
d, find, text = b.d, b.find, b.text


def step(msg):
    print("--", msg, flush=True)


def shot(name):
    d.save_screenshot(os.path.join(P["out"], f"{name}.png"))


def link_mail():
    end = time.time() + 30
    while time.time() < end:
        for name in os.listdir(P["sink"]):
            m = email.message_from_bytes(open(os.path.join(P["sink"], name), "rb").read(),
                                         policy=email.policy.default)
            body = m.get_body(("plain",)).get_content()
            hit = re.search(r"https?://\S+/recupero/reimposta\?t=[0-9a-f]{64}", body)
            if hit and P["recovery"] in str(m["To"]):
                return hit.group(0)
        time.sleep(0.2)
    raise AssertionError("no link at the recovery address")


def ask(address):
    d.get(b.url + "/login")
    find("#forgot-password").click()
    b.wait_text('id="recovery-address"')
    find("#recovery-address").send_keys(address)
    find("#recovery-send").click()
    b.wait_text('id="recovery-sent"')
    return text("#recovery-masked")


try:
    step("an unknown address and the box get the same page")
    decoy = ask("nessuno@" + P["box"].split("@")[1])
    shot("r1-unknown")
    masked = ask(P["box"])
    shot("r2-known")
    assert masked == "t***e@e***e.org", masked
    assert re.fullmatch(r"[a-z]\*\*\*[a-z]@[a-z]\*\*\*[a-z]\.[a-z]+", decoy), decoy

    step("the mailed link sets the new password, once")
    link = link_mail()
    d.get(link)
    b.wait_text('id="recovery-box"')
    assert text("#recovery-box") == P["box"]
    shot("r3-new-password")
    find("#recovery-password").send_keys(NEW)
    find("#recovery-password2").send_keys(NEW)
    find("#recovery-button").click()
    b.wait_text('id="recovery-done"')
    assert "completata con successo" in text("#recovery-done")
    shot("r4-done")
    d.get(link)
    b.wait_text('id="recovery-invalid"')
    shot("r5-used")

    step("the new password logs in")
    b.login(P["box"], NEW)
    b.wait_text('id="new-mail"')
    print("OK")
except Exception:
    b.failed(P["out"])
    raise
finally:
    d.quit()
