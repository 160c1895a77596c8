"""Issue 11 in the webmail, over HTTPS with Python's urllib and imaplib.

M4: a header injection in the subject (CR LF then From:/Subject:) cannot give the submitted
message a second From or Subject: the webmail folds it into one field, and the access point
it submits through refuses repeated fields anyway.
L3: a transaction's per-recipient status is shown to its sender only; a copy of its receipt
appended by another mailbox into its own Posta inviata shows none.

usage: webmail_trust.py URL CA IMAPS_PORT A A_PW B B_PW
"""
import imaplib, re, ssl, sys, uuid, urllib.error, urllib.parse, urllib.request, http.cookiejar

url, ca, imaps_port, a, a_pw, b, b_pw = sys.argv[1:8]
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def call(opener, path, data=None, headers=None):
    req = urllib.request.Request(url + path, data=data, headers=headers or {})
    try:
        with opener.open(req, timeout=60) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


def login(address, password):
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=ctx),
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
        NoRedirect,
    )
    body = urllib.parse.urlencode({"address": address, "password": password}).encode()
    status, _, _ = call(opener, "/login", body)
    assert status == 303, status
    status, page, _ = call(opener, "/")
    token = re.search(rb"csrf=([0-9a-f]{64})", page).group(1).decode()
    return opener, token


def send(opener, token, to, subject):
    boundary = uuid.uuid4().hex
    fields = {"to": to, "cc": "", "subject": subject, "body": "Testo.", "receipt": "completa", "action": "send"}
    body = b""
    for k, v in fields.items():
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").encode()
    body += f"--{boundary}--\r\n".encode()
    return call(opener, "/compose/send?csrf=" + token, body,
                {"Content-Type": f"multipart/form-data; boundary={boundary}"})


def wait(pred, what):
    import time
    for _ in range(200):
        r = pred()
        if r:
            return r
        time.sleep(0.1)
    raise AssertionError("timed out: " + what)


A, a_token = login(a, a_pw)
print("-- M4: a header injection in the subject gives no second From or Subject")
status, page, _ = send(A, a_token, b, "Prova\r\nFrom: direttore@pec.alpha.test\r\nSubject: Bonifico urgente")
assert status in (200, 303), (status, page[:500])
sent = "Posta%20inviata"


def sent_source():
    st, src, _ = call(A, f"/message/source?f={sent}&uid=1")
    return src if st == 200 and src else None


src = wait(sent_source, "the sent copy")
head = src.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in src else src.split(b"\n\n", 1)[0]
lines = re.findall(rb"(?im)^(from|subject):", head)
assert [l.lower() for l in lines].count(b"from") == 1, head
assert [l.lower() for l in lines].count(b"subject") == 1, head

print("-- L3: the sender sees the per-recipient status")
def status_shown():
    st, page, _ = call(A, f"/message?f={sent}&uid=1")
    return page if st == 200 and b"pec-status" in page else None
wait(status_shown, "status for the sender")

# The acceptance receipt, with the transaction's identificativo, from A's INBOX.
def acceptance():
    st, eml, _ = call(A, "/message/eml?f=INBOX&uid=1")
    return eml if st == 200 and b"X-Ricevuta: accettazione" in eml else None
eml = wait(acceptance, "acceptance in A's INBOX")

print("-- L3: B appends it to its own Posta inviata and sees no status")
imap = imaplib.IMAP4_SSL("127.0.0.1", int(imaps_port), ssl_context=ctx)
imap.login(b, b_pw)
typ, _ = imap.append('"Posta inviata"', None, None, eml)
assert typ == "OK", typ
imap.logout()
B, _ = login(b, b_pw)
st, page, _ = call(B, f"/message?f={sent}&uid=1")
assert st == 200, st
assert b"accettazione" in page.lower() or b"ACCETTAZIONE" in page, page[:2000]
assert b"pec-status" not in page, "another mailbox's transaction status is shown"
print("OK")
