"""Sets the box's rule for ordinary mail through the webmail's page, as its holder does
(issue 18 item 3), and prints the "Attuale Regola Impostata" the page then shows.

Usage: forwarding_rule.py PARAMS_JSON ACTION [ADDRESS]
  PARAMS: web, ca, box, password.  ACTION: salva | reset | bad (an invalid address: the page
  must refuse it with 400 and keep the rule) | nocsrf (a POST without the token: 403)
"""
import http.cookiejar, json, re, ssl, sys, urllib.error, urllib.parse, urllib.request

P = json.loads(sys.argv[1])
action = sys.argv[2]
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


status, _ = req("/login", {"address": P["box"], "password": P["password"]})
status, page = req("/settings/inoltro")
assert status == 200 and 'id="forwarding-current"' in page, status
csrf = re.search(r"csrf=([0-9a-f]+)", page).group(1)
before = re.search(r'data-rule="(\w+)"', page).group(1)
if action == "salva":
    status, page = req(f"/settings/inoltro?csrf={csrf}", {"azione": "salva", "indirizzo": sys.argv[3]})
    assert status == 200 and 'id="forwarding-notice"' in page, (status, page[:300])
elif action == "reset":
    status, page = req(f"/settings/inoltro?csrf={csrf}", {"azione": "reset"})
    assert status == 200 and 'id="forwarding-notice"' in page, status
elif action == "bad":
    status, page = req(f"/settings/inoltro?csrf={csrf}", {"azione": "salva", "indirizzo": "non un indirizzo"})
    assert status == 400 and 'id="forwarding-error"' in page, status
elif action == "nocsrf":
    status, page = req("/settings/inoltro", {"azione": "salva", "indirizzo": "x@example.org"})
    assert status == 403, status
status, page = req("/settings/inoltro")
rule = re.search(r'data-rule="(\w+)">([^<]*)<', page)
if action in ("bad", "nocsrf"):
    assert rule.group(1) == before, (before, rule.group(1))
print(rule.group(1), rule.group(2))
