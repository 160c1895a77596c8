"""Impostazioni in headless Chromium (issue 18 item 1): the header's link opens Preferenze;
every section of the Sezione list opens in the same frame, its own entry marked; each of
Impaginazione, Visualizzazione and Composizione Messaggi saves; the Cartelle tab creates a
folder; Identità saves the display name and signature, which the compose form then shows
with the default receipt preselected; the frame in English. A screenshot of each page.

Usage: settings_browser.py PARAMS_JSON
PARAMS: web, box, password, out
"""
import json
import os
import sys
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from webmail_driver import Browser

P = json.loads(sys.argv[1])
OUT = P["out"]
b = Browser(P["web"], OUT)
d, find, text = b.d, b.find, b.text


def step(msg):
    print("--", msg, flush=True)


def shot(name):
    d.save_screenshot(os.path.join(OUT, f"{name}.png"))


def current_section():
    return find("nav.sections a.current").get_attribute("id")


def current_tab():
    return find("nav.tabs a.current").get_attribute("id")


def saved():
    b.wait_text('id="settings-notice"')
    assert "Impostazioni salvate" in text("#settings-notice"), text("#settings-notice")


try:
    step("Impostazioni from the header: Preferenze, Interfaccia Utente")
    b.login(P["box"], P["password"])
    b.wait_text('id="new-mail"')
    find('header.top a[href="/settings"]').click()
    b.wait_url("/settings")
    assert [a.text for a in d.find_elements(By.CSS_SELECTOR, "nav.tabs a")] == [
        "Preferenze", "Cartelle", "Identità"]
    assert current_tab() == "tab-preferenze" and current_section() == "section-interfaccia"
    listed = [a.text for a in d.find_elements(By.CSS_SELECTOR, "nav.sections a")]
    assert listed[:9] == [
        "Interfaccia Utente", "Impaginazione Messaggi", "Visualizzazione Messaggi",
        "Composizione Messaggi", "PEC - Modifica Password", "PEC - Abilita Messaggi di Notifica",
        "PEC - Inoltro Messaggi non Certificati", "PEC - Report Email giornaliero",
        "PEC - Report SMS giornaliero"], listed
    shot("01-interfaccia-utente")

    step("every built section opens in the same frame, its entry marked")
    for n, link in enumerate(["change-password", "notifications-link", "forwarding-link",
                              "report-email-link", "report-sms-link",
                              "multiutenza-link", "activity-link", "clients-link"]):
        find(f"#{link}").click()
        b.wait_text('id="sections"')
        assert current_section() == link, (link, current_section())
        assert current_tab() == "tab-preferenze"
        shot(f"02-{n}-{link}")

    step("PEC - Report Email giornaliero: set, shown, reset; the SMS one without a gateway")
    find("#report-email-link").click()
    b.wait_text('id="report-form"')
    find("#report-to").send_keys("ufficio@example.org")
    Select(find("#report-hour")).select_by_value("7")
    find("#report-save").click()
    b.wait_text('id="report-current"')
    assert find("#report-current").get_attribute("data-hour") == "7"
    assert "ufficio@example.org" in text("#report-current")
    assert current_section() == "report-email-link"
    shot("02b-report-email")
    find("#report-reset").click()
    b.wait_text('id="report-none"')
    find("#report-sms-link").click()
    b.wait_text('id="report-unavailable"')
    assert not d.find_elements(By.CSS_SELECTOR, "#report-form")

    step("PEC - Abilita Messaggi di Notifica: a rule saved, shown, reset")
    find("#notifications-link").click()
    b.wait_text('id="notifications-form"')
    find("#notify-to").send_keys("avvisi@example.org")
    find("#notifications-save").click()
    b.wait_text('id="notifications-notice"')
    assert "avvisi@example.org" in text("#rules"), text("#rules")
    shot("02c-notifiche")
    find("#rules button.reset").click()
    b.wait_text('id="no-rules"')

    step("PEC - Inoltro Messaggi non Certificati: set, shown, reset")
    find("#forwarding-link").click()
    b.wait_text('id="forwarding-form"')
    find("#forwarding-address").send_keys("ufficio@example.org")
    find("#forwarding-save").click()
    b.wait_text('id="forwarding-notice"')
    assert find("#forwarding-current").get_attribute("data-rule") == "inoltra"
    assert "ufficio@example.org" in text("#forwarding-current")
    shot("02d-inoltro")
    find("#forwarding-reset").click()
    b.wait_text('id="forwarding-notice"')
    assert find("#forwarding-current").get_attribute("data-rule") == "rifiuta"

    step("Impaginazione Messaggi: 25 a page, by subject")
    find("#section-impaginazione").click()
    b.wait_url("/settings/impaginazione")
    Select(find("#page-size")).select_by_value("25")
    Select(find("#sort-key")).select_by_value("subject")
    find("#sort-asc").click()
    find("#save-paging").click()
    saved()
    assert Select(find("#page-size")).first_selected_option.text == "25"
    assert current_section() == "section-impaginazione"
    shot("03-impaginazione")

    step("Visualizzazione Messaggi: plain text first")
    find("#section-visualizzazione").click()
    find("#show-text").click()
    find("#save-display").click()
    saved()
    assert find("#show-text").is_selected() and find("#mark-read").is_selected()
    assert "sempre bloccati" in text("#remote-images")
    shot("04-visualizzazione")

    step("Composizione Messaggi: breve by default")
    find("#section-composizione").click()
    find("#default-receipt-breve").click()
    find("#save-composition").click()
    saved()
    assert find("#default-receipt-breve").is_selected()
    shot("05-composizione")

    step("Cartelle: a new folder")
    find("#tab-cartelle").click()
    b.wait_url("/settings/cartelle")
    assert current_tab() == "tab-cartelle" and not d.find_elements(By.CSS_SELECTOR, "nav.sections")
    find("#new-folder").send_keys("Delibere")
    find("#create-folder").click()
    b.wait_text(">Delibere<")
    shot("06-cartelle")

    step("Identità: name and signature, shown in Composizione and in compose")
    find("#tab-identita").click()
    b.wait_url("/settings/identita")
    find("#display-name").send_keys("Ufficio Protocollo – Comune di Forlì")
    find("#signature").send_keys("Mario Rossi\nUfficio protocollo")
    find("#save-identity").click()
    saved()
    assert text("#identity-sender") == f"Ufficio Protocollo – Comune di Forlì <{P['box']}>"
    shot("07-identita")
    find("#tab-preferenze").click()
    find("#section-composizione").click()
    assert text("#composition-signature") == "Mario Rossi\nUfficio protocollo"
    find("#new-mail").click()
    b.wait_text('id="compose-form"')
    assert find("#receipt-breve").is_selected()
    body = find("#body").get_attribute("value")
    assert body == "\n\n-- \nMario Rossi\nUfficio protocollo\n", repr(body)
    shot("08-compose")

    step("the frame in English")
    d.get(b.url + "/settings")
    find("#lang-en").click()
    find("#save-lang").click()
    b.wait_text("Settings saved")
    assert [a.text for a in d.find_elements(By.CSS_SELECTOR, "nav.tabs a")] == [
        "Preferences", "Folders", "Identity"]
    assert text("#section-impaginazione") == "Message paging"
    shot("09-english")
    Select(find("#lang")).select_by_value("it")
    find("#save-lang").click()
    b.wait_text("Impostazioni salvate")
    print("OK")
except Exception:
    b.failed(OUT)
    raise
finally:
    d.quit()
