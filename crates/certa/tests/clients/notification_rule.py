"""Sets the box's notification rules through the webmail's page, as its holder does (issue
18 item 2), and prints the rules the page then shows, one per line: "TO SENDERS".

Usage: notification_rule.py PARAMS_JSON ACTION [ARGS]
  PARAMS: web, ca, box, password
  ACTION: add TO [SENDER] | reset INDEX | bad (an invalid address: 400, nothing changes) | show
"""
import http.cookiejar, json, re, ssl, sys, urllib.error, urllib.parse, urllib.request

P = json.loads(sys.argv[1])
action, args = sys.argv[2], sys.argv[3:]
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


def rules(page):
    return [f"{to} {sender}" for to, sender in
            re.findall(r'<tr data-to="([^"]+)"><td>[^<]*</td><td class="sender">([^<]*)</td>', page)]


req("/login", {"address": P["box"], "password": P["password"]})
status, page = req("/settings/notifiche")
assert status == 200 and 'id="notifications-title"' in page, status
csrf = re.search(r"csrf=([0-9a-f]+)", page).group(1)
before = rules(page)
if action == "add":
    fields = {"azione": "salva", "indirizzo": args[0], "mittenti": "tutti"}
    if len(args) > 1:
        fields.update(mittenti="uno", mittente=args[1])
    status, page = req(f"/settings/notifiche?csrf={csrf}", fields)
    assert status == 200 and 'id="notifications-notice"' in page, (status, page[:300])
elif action == "reset":
    status, page = req(f"/settings/notifiche?csrf={csrf}", {"azione": "reset", "regola": args[0]})
    assert status == 200 and 'id="notifications-notice"' in page, status
elif action == "bad":
    status, page = req(f"/settings/notifiche?csrf={csrf}",
                       {"azione": "salva", "indirizzo": "x@example.org", "mittenti": "uno",
                        "mittente": "non <valido>"})
    assert status == 400 and 'id="notifications-error"' in page, status
status, page = req("/settings/notifiche")
after = rules(page)
if action == "bad":
    assert after == before, (before, after)
print("\n".join(after))
