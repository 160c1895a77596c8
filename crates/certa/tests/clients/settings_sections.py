"""Impostazioni's sections over HTTPS with Python's urllib (issue 18 item 1): each section
saves and its effect shows where it acts — the page size in the number of rows listed, the
default order, HTML or text first, marking as read, the default receipt type preselected in
compose, quoting in replies, the signature in the compose form — a bad value answers 400
and changes nothing, a POST without the CSRF token 403. Last, a PEC sent through the compose
form as a person would (the receipt as preselected): its From and receipt are checked by
the caller in the store.

Usage: settings_sections.py PARAMS_JSON
PARAMS: web, ca, imaps, box, password, recipient, name, signature
"""
import html
import http.cookiejar
import imaplib
import json
import re
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid

P = json.loads(sys.argv[1])
CTX = ssl.create_default_context(cafile=P["ca"])
CTX.check_hostname = False  # the certificate names the provider's host, we dial 127.0.0.1
op = urllib.request.build_opener(urllib.request.HTTPSHandler(context=CTX),
                                 urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


def step(msg):
    print("--", msg, flush=True)


def req(path, fields=None, body=None, ctype=None):
    data = body if body is not None else (
        None if fields is None else urllib.parse.urlencode(fields).encode())
    headers = {"Origin": P["web"]}
    if ctype:
        headers["Content-Type"] = ctype
    r = urllib.request.Request(P["web"] + path, data=data, headers=headers)
    try:
        with op.open(r, timeout=60) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def subjects(page):
    return re.findall(r'class="subject"><a [^>]*>([^<]*)</a>', page)


def textarea(page):
    """The compose form's text, as the browser holds it."""
    return html.unescape(
        re.search(r'<textarea name="body"[^>]*>\n?(.*?)</textarea>', page, re.S).group(1))


def checked(page, name):
    """The value of the checked radio `name` (or the selected option of select `name`)."""
    for tag in re.findall(r"<input[^>]*>", page):
        if f'name="{name}"' in tag and " checked" in tag:
            return re.search(r'value="([^"]*)"', tag).group(1)
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', page, re.S)
    if select:
        return re.search(r'<option value="([^"]*)" selected', select.group(1)).group(1)
    return None


status, _ = req("/login", {"address": P["box"], "password": P["password"]})
assert status == 200, status
status, page = req("/settings")
assert status == 200, status
csrf = re.search(r"csrf=([0-9a-f]+)", page).group(1)


def save(path, fields, expect=200):
    status, page = req(f"{path}?csrf={csrf}", fields)
    assert status == expect, (path, fields, status, page[:1500])
    if expect == 200:
        assert 'id="settings-notice"' in page, page[:1500]
    else:
        assert 'id="settings-error"' in page, page[:1500]
    return page


step("the frame: three tabs, the Sezione list with the seed's labels")
for tab in ("Preferenze", "Cartelle", "Identità"):
    assert f">{tab}</a>" in page, tab
labels = re.findall(r'<nav class="sections".*?</nav>', page, re.S)[0]
for label in ("Interfaccia Utente", "Impaginazione Messaggi", "Visualizzazione Messaggi",
              "Composizione Messaggi", "PEC - Modifica Password",
              "PEC - Abilita Messaggi di Notifica", "PEC - Inoltro Messaggi non Certificati",
              "PEC - Report Email giornaliero", "PEC - Report SMS giornaliero"):
    assert f">{label}</a>" in labels, label
for absent in ("Rubrica", "Archivio", "Fatture elettroniche"):
    assert absent not in labels, absent
assert 'href="/settings/report-email"' in labels and 'href="/settings/report-sms"' in labels
for path in ("/settings/notifiche", "/settings/inoltro", "/password", "/settings/client",
             "/settings/multiutenza", "/settings/identita", "/settings/cartelle"):
    status, other = req(path)
    assert status == 200 and 'id="tab-preferenze"' in other, path
    if path not in ("/settings/identita", "/settings/cartelle"):
        assert 'id="sections"' in other and 'aria-current="page"' in other, path

step("Impaginazione Messaggi: 30 messages, 50 a page, then 25")
imap = imaplib.IMAP4_SSL("127.0.0.1", int(P["imaps"]), ssl_context=CTX)
imap.login(P["box"], P["password"])
for i in range(1, 31):
    msg = (f"From: mittente{i:02}@pec.esempio.it\r\nTo: {P['box']}\r\n"
           f"Subject: Pratica {i:02}\r\nMessage-ID: <{uuid.uuid4()}@test>\r\n\r\nTesto {i}\r\n")
    typ, _ = imap.append("INBOX", None, None, msg.encode())
    assert typ == "OK", typ
status, page = req("/")
assert len(subjects(page)) == 30, len(subjects(page))
assert subjects(page)[0] == "Pratica 30", subjects(page)[:3]  # newest first by default
save("/settings/impaginazione", {"per_pagina": "25", "ordina_per": "subject", "verso": "asc"})
status, page = req("/")
assert len(subjects(page)) == 25, len(subjects(page))
assert subjects(page)[:2] == ["Pratica 01", "Pratica 02"], subjects(page)[:3]
status, page = req("/?f=INBOX&page=2&sort=subject&dir=asc")
assert subjects(page) == [f"Pratica {i}" for i in range(26, 31)], subjects(page)
status, page = req("/?f=INBOX&sort=date&dir=desc")
assert subjects(page)[0] == "Pratica 30", "a column header still sorts"

step("a bad page size or order answers 400 and changes nothing")
for bad in ({"per_pagina": "0", "ordina_per": "date", "verso": "desc"},
            {"per_pagina": "100000", "ordina_per": "date", "verso": "desc"},
            {"per_pagina": "50", "ordina_per": "colore", "verso": "desc"}):
    page = save("/settings/impaginazione", bad, expect=400)
assert "Numero di messaggi per pagina non valido" in req(
    f"/settings/impaginazione?csrf={csrf}", {"per_pagina": "0", "ordina_per": "date",
                                              "verso": "desc"})[1]
status, _ = req("/settings/impaginazione", {"per_pagina": "100", "ordina_per": "date",
                                             "verso": "desc"})
assert status == 403, status
status, page = req("/settings/impaginazione")
assert checked(page, "per_pagina") == "25" and checked(page, "ordina_per") == "subject", page
assert len(subjects(req("/")[1])) == 25

step("Visualizzazione Messaggi: HTML or text first, marking as read")
alternative = (
    f"From: web@pec.esempio.it\r\nTo: {P['box']}\r\nSubject: Alternativa\r\n"
    f"Message-ID: <{uuid.uuid4()}@test>\r\nMIME-Version: 1.0\r\n"
    "Content-Type: multipart/alternative; boundary=b1\r\n\r\n"
    "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nVERSIONE TESTO\r\n"
    "--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p><b>VERSIONE HTML</b></p>\r\n"
    "--b1--\r\n")
imap.append("INBOX", None, None, alternative.encode())
imap.select("INBOX")
typ, data = imap.uid("SEARCH", None, "SUBJECT", "Alternativa")
uid = data[0].split()[-1].decode()
status, body = req(f"/message/body?f=INBOX&uid={uid}")
assert "VERSIONE HTML" in body and "VERSIONE TESTO" not in body, body
save("/settings/visualizzazione", {"formato": "testo", "segna_letti": "no"})
status, body = req(f"/message/body?f=INBOX&uid={uid}")
assert "VERSIONE TESTO" in body and "VERSIONE HTML" not in body, body


def seen(uid):
    imap.noop()
    typ, data = imap.uid("FETCH", uid, "(FLAGS)")
    return b"\\Seen" in data[0]


status, _ = req(f"/?f=INBOX&uid={uid}")
assert status == 200 and not seen(uid), "opened, left unread"
save("/settings/visualizzazione", {"formato": "html", "segna_letti": "si"})
req(f"/?f=INBOX&uid={uid}")
assert seen(uid), "opened, marked read"
save("/settings/visualizzazione", {"formato": "pdf", "segna_letti": "si"}, expect=400)
status, page = req("/settings/visualizzazione")
assert checked(page, "formato") == "html" and "sempre bloccat" in page

step("Composizione Messaggi: the default receipt preselected, no quoting in replies")
status, page = req("/compose")
assert checked(page, "receipt") == "completa", "completa until chosen"
save("/settings/composizione", {"ricevuta": "sintetica", "citazione": "no"})
status, page = req("/compose")
assert checked(page, "receipt") == "sintetica", re.findall(r'<input[^>]*name="receipt"[^>]*>', page)
status, page = req(f"/compose?mode=reply&f=INBOX&uid={uid}")
assert "Re: Alternativa" in page and "> VERSIONE" not in textarea(page), textarea(page)
save("/settings/composizione", {"ricevuta": "sintetica", "citazione": "si"})
status, page = req(f"/compose?mode=reply&f=INBOX&uid={uid}")
assert textarea(page) == "\n\n> VERSIONE TESTO\n", repr(textarea(page))
assert checked(page, "receipt") == "sintetica"
save("/settings/composizione", {"ricevuta": "raccomandata", "citazione": "si"}, expect=400)
assert checked(req("/compose")[1], "receipt") == "sintetica"

step("Identità: the display name and the signature, in compose")
save("/settings/identita", {"nome": P["name"], "firma": P["signature"].replace("\n", "\r\n")})
status, page = req("/settings/identita")
assert f'value="{P["name"]}"' in page, page
status, page = req("/compose")
assert textarea(page) == "\n\n-- \n" + P["signature"] + "\n", repr(textarea(page))
status, page = req(f"/compose?mode=reply&f=INBOX&uid={uid}")
assert textarea(page) == "\n\n-- \n" + P["signature"] + "\n\n> VERSIONE TESTO\n", repr(textarea(page))
status, page = req("/settings/composizione")
assert P["signature"].split("\n")[0] in page, "Composizione shows Identità's signature"
for bad in ({"nome": "Mario\r\nBcc: spia@example.org", "firma": ""},
            {"nome": "x" * 65, "firma": ""},
            {"nome": "Mario", "firma": "riga\n" * 16}):
    save("/settings/identita", bad, expect=400)
status, _ = req("/settings/identita", {"nome": "Senza token", "firma": ""})
assert status == 403, status
status, page = req("/settings/identita")
assert f'value="{P["name"]}"' in page and "Bcc" not in page and "Senza token" not in page

step("a PEC from the compose form, as preselected")
status, page = req("/compose")
fields = {
    "to": P["recipient"], "cc": "", "subject": "Verbale del protocollo",
    "body": textarea(page),
    "receipt": checked(page, "receipt"), "forward": "", "keep": "", "replaces": "",
    "action": "send",
}
boundary = "----certa" + uuid.uuid4().hex
body = b"".join(
    f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n".encode()
    for k, v in fields.items()) + f"--{boundary}--\r\n".encode()
status, page = req(f"/compose/send?csrf={csrf}", body=body,
                   ctype=f"multipart/form-data; boundary={boundary}")
assert status == 200 and 'id="send-result"' in page and "Messaggio accettato" in page, page[:2000]
imap.logout()
print("OK")
