"""The webmail's request checks, over HTTPS with Python's urllib: every state-changing
request without the session's CSRF token is refused and changes nothing; one mailbox's
session never reaches another's messages by changing the folder or UID in a URL; cookies
are Secure, HttpOnly, SameSite=Strict.

usage: webmail_security.py URL CA IMAPS_PORT A A_PW B B_PW
"""
import http.cookiejar, imaplib, re, ssl, sys, urllib.error, urllib.parse, urllib.request

url, ca, imaps_port, a, a_pw, b, b_pw = sys.argv[1:8]
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False  # the certificate names the provider's host, we dial 127.0.0.1


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def client():
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=ctx),
        urllib.request.HTTPCookieProcessor(jar),
        NoRedirect,
    )
    return opener, jar


def call(opener, path, data=None, headers=None):
    body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
    req = urllib.request.Request(url + path, data=body, headers=headers or {})
    try:
        with opener.open(req, timeout=30) as r:
            return r.status, r.read().decode("utf-8", "replace"), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace"), e.headers


def login(address, password):
    opener, jar = client()
    status, _, headers = call(opener, "/login", {"address": address, "password": password})
    assert status == 303, status
    cookie = headers["Set-Cookie"]
    for attr in ("HttpOnly", "SameSite=Strict", "Secure"):
        assert attr in cookie, cookie
    status, page, _ = call(opener, "/")
    assert status == 200, status
    token = re.search(r"csrf=([0-9a-f]{64})", page).group(1)
    return opener, token


# B receives a private message (IMAP APPEND, the same ingestion path as delivery).
imap = imaplib.IMAP4_SSL("127.0.0.1", int(imaps_port), ssl_context=ctx)
imap.login(b, b_pw)
secret = b"From: x@pec.esempio.it\r\nTo: " + b.encode() + b"\r\nSubject: segreto di B\r\n\r\nsolo per B\r\n"
typ, _ = imap.append("INBOX", None, None, secret)
assert typ == "OK"
imap.logout()

A, a_token = login(a, a_pw)
B, b_token = login(b, b_pw)
assert a_token != b_token

print("-- without a session every page goes to the login")
anon, _ = client()
status, _, headers = call(anon, "/")
assert status == 303 and headers["Location"] == "/login", (status, headers)
status, _, _ = call(anon, "/message/eml?f=INBOX&uid=1")
assert status == 303

print("-- state-changing requests without the right token are refused and change nothing")
create = {"op": "create", "name": "Fatture", "parent": ""}
for path in ("/settings/folders", "/settings/folders?csrf=", "/settings/folders?csrf=" + b_token,
             "/settings/folders?csrf=" + "0" * 64, "/settings/folders?csrf=" + a_token[:-1]):
    status, body, _ = call(A, path, create)
    assert status == 403 and "CSRF" in body, (path, status)
status, page, _ = call(A, "/settings/cartelle")
assert "Fatture" not in page
for path, data in (("/actions", {"action": "empty-trash"}), ("/logout", {}),
                   ("/password", {"current": a_pw, "new": "Nuova#Chiave81", "confirm": "Nuova#Chiave81"}),
                   ("/settings/layout", {"layout": "columns"}), ("/settings/lang", {"lang": "en"}),
                   ("/compose/send", {"to": b, "subject": "x", "action": "send"})):
    status, _, _ = call(A, path, data)
    assert status == 403, (path, status)
status, page, _ = call(A, "/")
assert status == 200 and "Posta in arrivo" in page, "still logged in, still Italian"
status, page, _ = call(A, "/settings")
assert 'value="list" checked' in page, "layout unchanged"
# The login form from another site.
opener, _ = client()
status, _, _ = call(opener, "/login", {"address": a, "password": a_pw}, {"Origin": "https://evil.example"})
assert status == 403, status
# With the token, the same request works.
status, _, _ = call(A, "/settings/folders?csrf=" + a_token, create)
assert status == 303, status
status, page, _ = call(A, "/settings/cartelle")
assert "Fatture" in page

print("-- English on request, remembered for the mailbox; Italian again")
status, _, _ = call(A, "/settings/lang?csrf=" + a_token, {"lang": "en"})
assert status == 303, status
status, page, _ = call(A, "/")
assert "Refresh" in page and "Inbox" in page and "Aggiorna" not in page, page[:2000]
A2, _ = login(a, a_pw)  # a new session starts in the mailbox's language
status, page, _ = call(A2, "/settings")
assert "Message layout" in page and 'lang="en"' in page
status, _, _ = call(A, "/settings/lang?csrf=" + a_token, {"lang": "it"})
status, page, _ = call(A, "/")
assert "Aggiorna" in page

print("-- A cannot read or change B's messages by editing URLs")
for path in ("/message/eml?f=INBOX&uid=1", "/message/source?f=INBOX&uid=1",
             "/message/body?f=INBOX&uid=1", "/message/part?f=INBOX&uid=1&n=0",
             "/message?f=INBOX&uid=1", "/?f=INBOX&uid=1", "/compose?mode=forward&f=INBOX&uid=1"):
    status, body, _ = call(A, path)
    assert status == 404, (path, status)
    assert "segreto" not in body and "solo per B" not in body, path
status, body, _ = call(A, "/search?q=segreto&scope=all&field=all")
assert 'id="result-count">0 messaggi trovati' in body, "search sees only A's mailbox"
status, _, _ = call(A, "/actions?csrf=" + a_token, {"action": "delete", "sel": "1:INBOX", "back": "/"})
assert status in (303, 404), status
status, _, _ = call(A, "/actions?csrf=" + a_token, {"action": "zip", "sel": "1:INBOX"})
status, body, _ = call(B, "/message/eml?f=INBOX&uid=1")
assert status == 200 and "solo per B" in body, "B's message untouched"
status, body, _ = call(B, "/?f=Cestino")
assert "segreto" not in body

print("-- bulk actions apply to the ticked rows, this page, every message, or the unread")
imap = imaplib.IMAP4_SSL("127.0.0.1", int(imaps_port), ssl_context=ctx)
imap.login(b, b_pw)
for i in (2, 3, 4):
    imap.append("INBOX", None, None, b"Subject: lotto %d\r\n\r\nx\r\n" % i)
imap.select("INBOX")


def flags():
    imap.noop()
    typ, data = imap.uid("FETCH", "1:*", "(FLAGS)")
    out = {}
    for line in data:
        uid = int(re.search(rb"UID (\d+)", line).group(1))
        out[uid] = re.search(rb"FLAGS \(([^)]*)\)", line).group(1).decode().split()
    return out


act = "/actions?csrf=" + b_token
call(B, "/?f=INBOX&uid=1")  # B reads its first message
# "unread" flags 2, 3, 4 only.
status, _, _ = call(B, act, {"apply": "unread", "f": "INBOX", "action": "flag", "back": "/"})
assert status == 303, status
f = flags()
assert "\\Flagged" not in f[1] and all("\\Flagged" in f[u] for u in (2, 3, 4)), f
# "this page": the rows the page listed, ticked or not.
status, _, _ = call(B, act, {"apply": "page", "row": ["2:INBOX", "3:INBOX"], "sel": ["4:INBOX"], "action": "read"})
f = flags()
assert "\\Seen" in f[2] and "\\Seen" in f[3] and "\\Seen" not in f[4], f
# "ticked": only the checkbox.
status, _, _ = call(B, act, {"apply": "checked", "row": ["2:INBOX", "3:INBOX"], "sel": ["4:INBOX"], "action": "unflag"})
f = flags()
assert "\\Flagged" not in f[4] and "\\Flagged" in f[2], f
# "every message" of the folder, all pages: move them all.
status, _, _ = call(B, act, {"apply": "everything", "f": "INBOX", "action": "copy", "target": "Bozze"})
status, page, _ = call(B, "/settings/cartelle")
assert re.search(r"Bozze</td><td>4</td>", page), "four copied"
imap.logout()

print("-- sorting, reply prefill, folders renamed and deleted")
status, page, _ = call(B, "/?f=Bozze&sort=subject&dir=asc")
subjects = re.findall(r'class="subject"><a [^>]*>([^<]*)</a>', page)
assert subjects == ["lotto 2", "lotto 3", "lotto 4", "segreto di B"], subjects
status, page, _ = call(B, "/?f=Bozze&sort=subject&dir=desc")
assert re.findall(r'class="subject"><a [^>]*>([^<]*)</a>', page)[0] == "segreto di B"
status, page, _ = call(B, "/compose?mode=reply&f=INBOX&uid=1")
assert 'value="x@pec.esempio.it"' in page and "Re: segreto di B" in page, page[:3000]
folders = "/settings/folders?csrf=" + a_token
status, _, _ = call(A, folders, {"op": "create", "name": "2026", "parent": "Fatture"})
status, _, _ = call(A, folders, {"op": "rename", "name": "Fatture", "new_name": "Fornitori"})
assert status == 303, status
status, page, _ = call(A, "/settings/cartelle")
assert "Fatture" not in page and "Fornitori" in page and 'value="Fornitori/2026"' in page
status, _, _ = call(A, folders, {"op": "delete", "name": "Cestino"})
assert status == 400, "system folders stay"
# The same rule as IMAP's DELETE (services::mailbox): subfolders go first.
status, page, _ = call(A, folders, {"op": "delete", "name": "Fornitori"})
assert status == 400 and "sottocartelle" in page, (status, page[:500])
status, _, _ = call(A, folders, {"op": "delete", "name": "Fornitori/2026"})
assert status == 303, status
status, page, _ = call(A, "/settings/cartelle")
assert "Fornitori/2026" not in page and "Fornitori" in page

print("-- repeated wrong passwords are throttled with a clear message")
# Different accounts, so no account's progressive delay applies: the client address is
# refused after its 10 failures.
for i in range(12):
    opener, _ = client()
    status, page, _ = call(opener, "/login", {"address": f"intruso{i}@" + a.split("@")[1], "password": "x"})
    assert status == 401, status
assert "Troppi tentativi" in page, page
print("OK")
