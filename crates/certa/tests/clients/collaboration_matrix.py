"""Multiutenza (issue 17) over real sockets: the holder invites three collaborators from the
webmail (HTTP), the invitations arrive as PEC at an ordinary mailbox (aiosmtpd), each
registers by its link; then every delegation x IMAP (raw IMAPS, for exact response codes),
POP3 (poplib), SMTP submission (smtplib) and the webmail (HTTP) — what is allowed, and what is
refused with which code; a revoked collaborator's open IDLE ends, its login is refused; a
link used twice is refused; the 31st invitation is refused.

Usage: collaboration_matrix.py PARAMS_JSON   (rerun by hand with the same argument)
PARAMS: web, ca, imaps, pop3s, submissions, box, password, colleague, sink, work (mbsync's)
"""
import email
import email.policy
import http.cookiejar
import json
import os
import poplib
import re
import smtplib
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

P = json.loads(sys.argv[1])
CTX = ssl.create_default_context(cafile=P["ca"])
BOX, PW = P["box"], P["password"]
COLLAB_PW = "Verde#Prato42"


def step(msg):
    print("--", msg, flush=True)


class Web:
    """One browser: a cookie jar, same-origin POSTs."""

    def __init__(self):
        self.jar = http.cookiejar.CookieJar()
        self.op = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=CTX),
            urllib.request.HTTPCookieProcessor(self.jar))

    def req(self, path, data=None):
        headers = {}
        body = None
        if data is not None:
            body = urllib.parse.urlencode(data).encode()
            headers = {"Origin": P["web"], "Content-Type": "application/x-www-form-urlencoded"}
        r = urllib.request.Request(P["web"] + path, data=body, headers=headers)
        try:
            with self.op.open(r, timeout=60) as resp:
                return resp.status, resp.read().decode("utf-8", "replace"), resp.url
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace"), e.url

    def login(self, name, password):
        return self.req("/login", {"address": name, "password": password})

    def csrf(self):
        status, page, _ = self.req("/settings")
        assert status == 200, (status, page[:300])
        return re.search(r"csrf=([0-9a-f]+)", page).group(1)


class Imap:
    """A raw IMAPS connection: exact tagged responses and response codes."""

    def __init__(self):
        raw = socket.create_connection(("127.0.0.1", P["imaps"]), timeout=90)
        self.s = CTX.wrap_socket(raw, server_hostname="localhost")
        self.f = self.s.makefile("rb")
        self.n = 0
        self.greeting = self.f.readline()

    def cmd(self, text, literal=None):
        self.n += 1
        tag = f"t{self.n}"
        if literal is None:
            self.s.sendall(f"{tag} {text}\r\n".encode())
        else:
            self.s.sendall(f"{tag} {text} {{{len(literal)}}}\r\n".encode())
            cont = self.f.readline()
            if not cont.startswith(b"+"):
                return cont.decode(errors="replace").strip(), []
            self.s.sendall(literal + b"\r\n")
        untagged = []
        while True:
            line = self.f.readline()
            assert line, f"connection closed during {text}"
            line = line.decode(errors="replace").rstrip("\r\n")
            if line.startswith(tag + " "):
                return line[len(tag) + 1:], untagged
            untagged.append(line)


def login_imap(name):
    c = Imap()
    status, _ = c.cmd(f'LOGIN "{name}" "{COLLAB_PW}"')
    return c, status


def pop3(name):
    c = poplib.POP3_SSL("127.0.0.1", P["pop3s"], context=CTX, timeout=60)
    c.user(name)
    c.pass_(COLLAB_PW)
    return c


def submit(name, subject):
    msg = (f"From: {BOX}\r\nTo: {P['colleague']}\r\nSubject: {subject}\r\n"
           f"Message-ID: <{subject.replace(' ', '-')}@mua>\r\n\r\nTesto.\r\n")
    with smtplib.SMTP_SSL("127.0.0.1", P["submissions"], context=CTX, timeout=60) as s:
        s.login(name, COLLAB_PW)
        s.sendmail(BOX, [P["colleague"]], msg.encode())


def invitation_token(address, after=0):
    """The link of the newest invitation the ordinary mailbox got for `address`."""
    deadline = time.time() + 60
    while time.time() < deadline:
        found = []
        for name in sorted(os.listdir(P["sink"]), key=lambda n: int(n.split(".")[0])):
            if int(name.split(".")[0]) < after:
                continue
            raw = open(os.path.join(P["sink"], name), "rb").read()
            m = email.message_from_bytes(raw, policy=email.policy.default)
            if address not in str(m.get("To", "")):
                continue
            for part in m.walk():
                if part.get_content_type() == "text/plain":
                    text = part.get_content()
                    hit = re.search(r"collaborazione\?t=([0-9a-f]{64})", text)
                    if hit:
                        found.append(hit.group(1))
        if found:
            return found[-1]
        time.sleep(0.3)
    raise AssertionError(f"no invitation reached {address}: {os.listdir(P['sink'])}")


def sink_count():
    return len(os.listdir(P["sink"]))


owner = Web()
status, page, url = owner.login(BOX, PW)
assert status == 200 and not url.endswith("/login"), (status, url)
csrf = owner.csrf()

step("the holder invites three collaborators from Multiutenza Titolare")
status, page, _ = owner.req("/settings/multiutenza")
assert status == 200 and 'id="invite-form"' in page, status
people = {"lettore": "consultazione", "pieno": "completo", "app": "invio"}
for user, kind in people.items():
    before = sink_count()
    status, page, url = owner.req(f"/settings/multiutenza?csrf={csrf}", {
        "email": f"{user}@example.org", "name": user.capitalize(), "delega": kind,
        "durata": "illimitata", "data": ""})
    assert status == 200 and "fatto=invito" in url, (status, url, page[:500])
    assert f'data-email="{user}@example.org"' in page
    people[user] = invitation_token(f"{user}@example.org", before)

step("an invitation without the CSRF token changes nothing")
status, _, _ = owner.req("/settings/multiutenza", {
    "email": "intruso@example.org", "name": "X", "delega": "completo", "durata": "3"})
assert status == 403, status

step("each registers by the link; the link works once")
for user, token in list(people.items()):
    anon = Web()
    status, page, _ = anon.req(f"/collaborazione?t={token}")
    assert status == 200 and 'id="register-form"' in page, (status, page[:400])
    assert BOX in page
    status, page, _ = anon.req(f"/collaborazione/registra?t={token}", {
        "username": user, "password": COLLAB_PW, "password2": COLLAB_PW,
        "mobile": "+39 333 1234567"})
    assert status == 200 and f"{user}/{BOX}" in page, (status, page[:600])
    status, page, _ = anon.req(f"/collaborazione/registra?t={token}", {
        "username": user + "2", "password": COLLAB_PW, "password2": COLLAB_PW,
        "mobile": "+39 333 1234567"})
    assert status == 404 and 'id="invitation-invalid"' in page, status
status, _, _ = Web().req("/collaborazione?t=" + "0" * 64)
assert status == 404, status
status, _, _ = Web().req("/collaborazione?t=../../etc")
assert status == 404, status

L, F, A = (f"{u}/{BOX}" for u in ("lettore", "pieno", "app"))
MSG = b"From: x@pec.other.test\r\nTo: " + BOX.encode() + b"\r\nSubject: appeso\r\n\r\nx\r\n"

step("Solo consultazione: IMAP reads, every change NO [NOPERM]")
c, status = login_imap(L)
assert status.startswith("OK"), status
status, untagged = c.cmd("SELECT INBOX")
assert status.startswith("OK [READ-ONLY]"), status
exists = next(int(u.split()[1]) for u in untagged if u.endswith(" EXISTS"))
assert exists >= 3, untagged  # the acceptance receipts of the three invitations
status, untagged = c.cmd("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
assert status.startswith("OK"), status
for command, literal in [("STORE 1 +FLAGS (\\Seen)", None), ("COPY 1 INBOX", None),
                         ("MOVE 1 INBOX", None), ("EXPUNGE", None),
                         ("APPEND INBOX", MSG), ("CREATE Lettore", None)]:
    status, _ = c.cmd(command, literal)
    assert status.startswith("NO [NOPERM]"), (command, status)
c.cmd("LOGOUT")

step("Solo consultazione: mbsync pulls the box read-only, without errors, twice")
work = P["work"]
os.makedirs(os.path.join(work, "mail"), exist_ok=True)
rc = os.path.join(work, "mbsyncrc")
with open(rc, "w") as f:
    f.write(f"""IMAPAccount certa
Host localhost
Port {P['imaps']}
User {L}
Pass {COLLAB_PW}
SSLType IMAPS
CertificateFile {P['ca']}
AuthMechs PLAIN

IMAPStore remote
Account certa

MaildirStore local
Path {work}/mail/
Inbox {work}/mail/INBOX
SubFolders Verbatim

Channel certa
Far :remote:
Near :local:
Patterns *
Sync Pull
Create Near
Expunge None
SyncState *
""")
os.chmod(rc, 0o600)
c, _ = login_imap(L)
_, untagged = c.cmd("EXAMINE INBOX")
on_server = next(int(u.split()[1]) for u in untagged if u.endswith(" EXISTS"))
_, before_flags = c.cmd("FETCH 1:* (FLAGS)")
c.cmd("LOGOUT")
for run in (1, 2):
    r = subprocess.run(["mbsync", "-c", rc, "-a"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "rror" not in r.stdout + r.stderr, (run, r.stdout, r.stderr)
pulled = os.listdir(os.path.join(work, "mail", "INBOX", "cur")) + \
    os.listdir(os.path.join(work, "mail", "INBOX", "new"))
assert len(pulled) == on_server, (len(pulled), on_server)
c, _ = login_imap(L)
c.cmd("EXAMINE INBOX")
_, after_flags = c.cmd("FETCH 1:* (FLAGS)")
assert after_flags == before_flags, (before_flags, after_flags)
c.cmd("LOGOUT")

step("Solo consultazione: POP3 reads, DELE -ERR")
p = pop3(L)
count, _ = p.stat()
assert count >= 3
assert p.retr(1)[0].startswith(b"+OK")
try:
    p.dele(1)
    raise AssertionError("DELE allowed")
except poplib.error_proto as e:
    assert str(e).startswith("b'-ERR"), e
p.quit()

step("Solo consultazione: SMTP submission refused with 5.7.x")
try:
    submit(L, "da lettore")
    raise AssertionError("a reader sent")
except smtplib.SMTPAuthenticationError as e:
    assert e.smtp_code == 535 and e.smtp_error.startswith(b"5.7"), e

step("Solo consultazione: the webmail without the actions, refused if forced")
reader = Web()
status, page, url = reader.login(L, COLLAB_PW)
assert status == 200 and not url.endswith("/login"), (status, url)
assert f'id="login-name">{L}<' in page and 'id="new-mail"' not in page, page[:800]
assert 'id="action-delete"' not in page
rcsrf = reader.csrf()
status, _, _ = reader.req(f"/actions?csrf={rcsrf}", {"action": "empty-trash"})
assert status == 403, status
status, _, _ = reader.req("/compose")
assert status == 403, status
status, _, _ = reader.req("/settings/multiutenza")
assert status == 403, status


def box_settings_refused(web, csrf):
    """Impostazioni's sections are the holder's: Access::set_setting needs the Settings
    right, which no delegation has; the pages show the values, read-only."""
    for path, fields in (("/settings/impaginazione",
                          {"per_pagina": "25", "ordina_per": "date", "verso": "desc"}),
                         ("/settings/identita", {"nome": "Collaboratore", "firma": ""})):
        status, _, _ = web.req(f"{path}?csrf={csrf}", fields)
        assert status == 403, (path, status)
    status, page, _ = web.req("/settings/identita")
    assert status == 200 and 'id="holder-only"' in page and "Collaboratore" not in page
    assert 'id="save-identity"' not in page


box_settings_refused(reader, rcsrf)

step("Accesso completo: IMAP changes, POP3 deletes, SMTP sends; no collaborators page")
c, status = login_imap(F)
assert status.startswith("OK"), status
status, _ = c.cmd("SELECT INBOX")
assert status.startswith("OK [READ-WRITE]"), status
for command, literal in [("STORE 1 +FLAGS (\\Flagged)", None), ("APPEND INBOX", MSG),
                         ("CREATE Pieno", None)]:
    status, _ = c.cmd(command, literal)
    assert status.startswith("OK"), (command, status)
c.cmd("LOGOUT")
p = pop3(F)
assert p.dele(p.stat()[0]).startswith(b"+OK")
p.quit()
submit(F, "da pieno")
full = Web()
status, page, url = full.login(F, COLLAB_PW)
assert status == 200 and 'id="new-mail"' in page, (status, url)
status, _, _ = full.req("/settings/multiutenza")
assert status == 403, status
box_settings_refused(full, full.csrf())
status, mbox, _ = full.req(f"/actions?csrf={full.csrf()}",
                           {"action": "mbox", "apply": "everything", "f": "INBOX", "back": "/"})
assert status == 200 and mbox.startswith("From "), (status, mbox[:200])

step("Solo invio: IMAP, POP3 and the webmail refused with a clear message; SMTP sends")
c = Imap()
status, _ = c.cmd(f'LOGIN "{A}" "{COLLAB_PW}"')
assert status.startswith("NO [AUTHORIZATIONFAILED]") and "Solo invio" in status, status
try:
    pop3(A)
    raise AssertionError("POP3 allowed")
except poplib.error_proto as e:
    assert "Solo invio" in str(e), e
status, page, _ = Web().login(A, COLLAB_PW)
assert status == 401 and "Solo invio" in page, status
submit(A, "da app")

step("wrong password and unknown collaborator: refused alike")
c = Imap()
status, _ = c.cmd(f'LOGIN "{L}" "Sbagliata#123"')
assert status.startswith("NO [AUTHENTICATIONFAILED]"), status
status, _ = c.cmd(f'LOGIN "nessuno/{BOX}" "{COLLAB_PW}"')
assert status.startswith("NO [AUTHENTICATIONFAILED]"), status

step("revoked: the reader's open IDLE ends within a minute, its logins are refused")
idle, status = login_imap(L)
status, _ = idle.cmd("SELECT INBOX")
idle.n += 1
idle.s.sendall(f"t{idle.n} IDLE\r\n".encode())
assert idle.f.readline().startswith(b"+")
status, page, _ = owner.req("/settings/multiutenza")
rid = re.search(r'data-id="(\d+)" data-email="lettore@example.org"', page).group(1)
started = time.time()
status, page, url = owner.req(f"/settings/multiutenza/{rid}/revoca?csrf={csrf}", {})
assert status == 200 and "fatto=revoca" in url, (status, url)
lines = []
while True:
    line = idle.f.readline()
    if not line:
        break
    lines.append(line.decode(errors="replace").strip())
    if line.startswith(b"* BYE"):
        break
waited = time.time() - started
assert lines and lines[-1].startswith("* BYE") and "revocata" in lines[-1], lines
assert waited < 60, waited
c = Imap()
status, _ = c.cmd(f'LOGIN "{L}" "{COLLAB_PW}"')
assert status.startswith("NO [AUTHORIZATIONFAILED]") and "revocata" in status, status
status, page, url = reader.req("/")
assert url.endswith("/login"), url

step("at most 30 collaborations per box: the 31st invitation is refused")
status, page, _ = owner.req("/settings/multiutenza")
open_now = len(re.findall(r'data-state="(?:attiva|invitata)"', page))
for i in range(open_now, 30):
    status, page, url = owner.req(f"/settings/multiutenza?csrf={csrf}", {
        "email": f"c{i}@example.org", "name": f"C{i}", "delega": "consultazione",
        "durata": "6", "data": ""})
    assert status == 200 and "fatto=invito" in url, (i, status, page[:300])
status, page, _ = owner.req(f"/settings/multiutenza?csrf={csrf}", {
    "email": "trentuno@example.org", "name": "Trentuno", "delega": "consultazione",
    "durata": "3", "data": ""})
assert status == 400 and 'id="multiutenza-error"' in page and "al massimo 30" in page, status

step("the holder reads what the collaborators did, and its CSV")
status, page, _ = owner.req("/settings/attivita")
assert status == 200 and 'id="activity"' in page, status
for who in ("lettore", "pieno", "app"):
    assert f'<td class="who">{who}</td>' in page, who
status, csv, _ = owner.req("/settings/attivita?collaboratore=pieno&formato=csv")
assert status == 200 and csv.startswith("data;collaboratore"), csv[:200]
rows = [r.split(";") for r in csv.strip().splitlines()[1:]]
assert rows and all(r[1] == "pieno" for r in rows), rows
assert {"accesso", "aggiunta", "flag", "invio", "eliminazione", "esportazione"} <= {r[4] for r in rows}, rows
print(json.dumps({"invites": 30}))
print("OK")
