"""'Hai dimenticato la password?' over HTTP (issue 18 item 6): the same answer for a known
and an unknown address, the link mailed to the recovery address (aiosmtpd), refused
passwords leave it working, it works once, the old password stops working, a confirmation
mail follows, and a second request within minutes mails nothing.

Usage: password_recovery.py PARAMS_JSON   PARAMS: web, ca, box, password, recovery, sink
"""
import email, email.policy, http.cookiejar, json, os, re, ssl, sys, time
import urllib.error, urllib.parse, urllib.request

P = json.loads(sys.argv[1])
CTX = ssl.create_default_context(cafile=P["ca"])
NEW = "Azzurro#Mare58"


def post(path, fields, jar=None):
    op = urllib.request.build_opener(urllib.request.HTTPSHandler(context=CTX),
                                     urllib.request.HTTPCookieProcessor(jar or http.cookiejar.CookieJar()))
    r = urllib.request.Request(P["web"] + path, data=urllib.parse.urlencode(fields).encode(),
                               headers={"Origin": P["web"]})
    try:
        with op.open(r, timeout=30) as resp:
            return resp.status, resp.read().decode(), resp.url
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.url


def get(path):
    try:
        with urllib.request.urlopen(P["web"] + path, context=CTX, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def mails():
    out = []
    for name in sorted(os.listdir(P["sink"]), key=lambda n: int(n.split(".")[0])):
        m = email.message_from_bytes(open(os.path.join(P["sink"], name), "rb").read(),
                                     policy=email.policy.default)
        out.append((str(m["To"]), str(m["Subject"]), m.get_body(("plain",)).get_content()))
    return out


def wait_mails(n):
    deadline = time.time() + 30
    while len(mails()) < n:
        assert time.time() < deadline, mails()
        time.sleep(0.2)
    return mails()


print("-- the login page links the reset; a known and an unknown address get the same page")
status, page = get("/login")
assert 'href="/recupero?lang=it"' in page
status, known, _ = post("/recupero", {"address": P["box"]})
assert status == 200 and 'id="recovery-sent"' in known, status
masked = re.search(r'id="recovery-masked">([^<]+)<', known).group(1)
assert masked == "t***e@e***e.org", masked
status, unknown, _ = post("/recupero", {"address": "nessuno@" + P["box"].split("@")[1]})
other = re.search(r'id="recovery-masked">([^<]+)<', unknown).group(1)
assert status == 200 and re.fullmatch(r"[a-z]\*\*\*[a-z]@[a-z]\*\*\*[a-z]\.[a-z]+", other), other
assert unknown.replace(other, "X") == known.replace(masked, "X")
status, again, _ = post("/recupero", {"address": "nessuno@" + P["box"].split("@")[1]})
assert other in again, "the decoy is stable"

print("-- the link, at the recovery address only")
box_mails = wait_mails(1)
time.sleep(1)
assert len(mails()) == 1, mails()
to, subject, body = box_mails[0]
assert to == P["recovery"] and "Reimpostazione" in subject, (to, subject)
link = re.search(r"https?://\S+/recupero/reimposta\?t=([0-9a-f]{64})", body).group(1)
status, _, _ = post("/recupero", {"address": P["box"]})
time.sleep(1)
assert status == 200 and len(mails()) == 1, "a second request within minutes mails nothing"

print("-- refused passwords leave the link working; it works once")
path = f"/recupero/reimposta?t={link}"
status, page = get(path)
assert status == 200 and P["box"] in page, status
status, page, _ = post(path, {"password": NEW, "password2": NEW + "x"})
assert status == 400 and "non coincidono" in page, status
status, page, _ = post(path, {"password": "debole", "password2": "debole"})
assert status == 400 and "password non valida" in page, status
status, page, _ = post(path, {"password": NEW, "password2": NEW})
assert status == 200 and "completata con successo" in page, (status, page[:400])
status, page, _ = post(path, {"password": NEW, "password2": NEW})
assert status == 404 and 'id="recovery-invalid"' in page, status
status, _ = get(path)
assert status == 404, status
status, _ = get("/recupero/reimposta?t=" + "0" * 64)
assert status == 404, status

print("-- the new password opens the box, the old one no longer; a confirmation mail")
status, page, url = post("/login", {"address": P["box"], "password": P["password"]})
assert status == 401, status
status, page, url = post("/login", {"address": P["box"], "password": NEW})
assert status == 200 and not url.endswith("/login"), (status, url)
confirm = wait_mails(2)[1]
assert confirm[0] == P["recovery"] and "modificata" in confirm[1], confirm
print("-- one address asking again and again is refused (the login throttle's allowance)")
statuses = [post("/recupero", {"address": f"casella{i}@" + P["box"].split("@")[1]})[0]
            for i in range(12)]
assert 200 in statuses and statuses[-1] == 429, statuses
status, page, _ = post("/recupero", {"address": P["box"]})
assert status == 429 and 'id="recovery-error"' in page, status
print("OK")
