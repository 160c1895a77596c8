"""Webmail sessions kept in the store, over HTTPS with Python's urllib.

usage: webmail_sessions.py URL CA ADDRESS PASSWORD STATE_JSON PHASE
  login    two logins (two browsers); both sessions work; their cookies go to STATE_JSON
  survive  after a restart both sessions still work; then the first browser changes the
           password: it gets a new session, the other browser's session ends
  ended    (after the operator reset the password) the remaining session has ended
Prints OK at the end of each phase; every check is an assert.
"""
import json, re, ssl, sys, urllib.error, urllib.parse, urllib.request

url, ca, address, password, state_path, phase = sys.argv[1:7]
NEW_PASSWORD = "Nuova#Chiave42"
RESET_PASSWORD = "Reimpostata#77"  # what the test's operator sets with `mailbox passwd`
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False  # the certificate names the provider's host, we dial 127.0.0.1


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx), NoRedirect)


def call(path, cookie=None, data=None, origin=None):
    headers = {}
    if cookie:
        headers["Cookie"] = cookie
    if origin:
        headers["Origin"] = origin
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url + path, data=body, headers=headers)
    try:
        with opener.open(req, timeout=30) as r:
            return r.status, r.read().decode("utf-8", "replace"), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace"), e.headers


def cookie_of(headers):
    return headers["Set-Cookie"].split(";")[0]


def login(pw):
    status, _, headers = call("/login", data={"address": address, "password": pw})
    assert status == 303 and headers["Location"] == "/", (status, dict(headers))
    return cookie_of(headers)


def works(cookie):
    status, page, headers = call("/", cookie)
    if status == 200:
        return re.search(r"csrf=([0-9a-f]{64})", page).group(1)
    assert status == 303 and headers["Location"] == "/login", (status, dict(headers))
    return None


if phase == "login":
    first, second = login(password), login(password)
    assert first != second
    assert works(first) and works(second)
    json.dump({"first": first, "second": second}, open(state_path, "w"))
elif phase == "survive":
    state = json.load(open(state_path))
    csrf = works(state["first"])
    assert csrf, "the first session did not survive the restart"
    assert works(state["second"]), "the second session did not survive the restart"
    status, _, headers = call("/password?csrf=" + csrf, state["first"],
                              {"current": password, "new": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert status == 303 and headers["Location"] == "/settings?notice=password", status
    renewed = cookie_of(headers)
    assert renewed != state["first"]
    assert works(renewed), "the browser that changed the password stays logged in"
    assert works(state["first"]) is None, "its old session token is void"
    assert works(state["second"]) is None, "another browser's session ends with the password"
    json.dump({"renewed": renewed}, open(state_path, "w"))
elif phase == "ended":
    state = json.load(open(state_path))
    assert works(state["renewed"]) is None, "a reset by the operator ends the session"
    assert works(login(RESET_PASSWORD)), "the operator's new password logs in"
else:
    sys.exit("unknown phase " + phase)
print("OK", phase)
