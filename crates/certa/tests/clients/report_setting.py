"""Sets a box's daily report through the webmail's page, as its holder does (issue 18 item 4),
and prints the "Attuale Regola Impostata" the page then shows: "DESTINATION HOUR" or "none".

Usage: report_setting.py PARAMS_JSON KIND ACTION [DESTINATION HOUR]
  PARAMS: web, ca, box, password.  KIND: email | sms.
  ACTION: show | salva | reset | bad (an invalid destination: 400, nothing changed) |
          nocsrf (a POST without the token: 403, nothing changed)
"""
import http.cookiejar, json, re, ssl, sys, urllib.error, urllib.parse, urllib.request

P = json.loads(sys.argv[1])
kind, action = sys.argv[2], sys.argv[3]
PAGE = "/settings/report-" + kind
CTX = ssl.create_default_context(cafile=P["ca"])
op = urllib.request.build_opener(urllib.request.HTTPSHandler(context=CTX),
                                 urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


def req(path, fields=None):
    data = None if fields is None else urllib.parse.urlencode(fields).encode()
    r = urllib.request.Request(P["web"] + path, data=data, headers={"Origin": P["web"]})
    try:
        with op.open(r, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def current(page):
    m = re.search(r'id="report-current" data-to="([^"]*)" data-hour="(\d+)"', page)
    return f"{m.group(1)} {m.group(2)}" if m else "none"


status, _ = req("/login", {"address": P["box"], "password": P["password"]})
status, page = req(PAGE)
assert status == 200 and 'id="report-title"' in page, status
csrf = re.search(r"csrf=([0-9a-f]+)", page).group(1)
before = current(page)
if action == "salva":
    status, page = req(f"{PAGE}?csrf={csrf}",
                       {"azione": "salva", "destinatario": sys.argv[4], "ora": sys.argv[5]})
    assert status == 200 and 'id="report-notice"' in page, (status, page[:300])
elif action == "reset":
    status, page = req(f"{PAGE}?csrf={csrf}", {"azione": "reset"})
    assert status == 200 and 'id="report-notice"' in page, status
elif action == "bad":
    for dest, hour in (("non valido", "8"), ("+39 333 1234567" if kind == "sms" else "a@b.example", "24")):
        status, page = req(f"{PAGE}?csrf={csrf}", {"azione": "salva", "destinatario": dest, "ora": hour})
        assert status == 400 and 'id="report-error"' in page, (dest, hour, status)
elif action == "nocsrf":
    status, page = req(PAGE, {"azione": "salva", "destinatario": "x@example.org", "ora": "3"})
    assert status == 403, status
status, page = req(PAGE)
now = current(page)
if action in ("bad", "nocsrf"):
    assert now == before, (before, now)
print(now)
