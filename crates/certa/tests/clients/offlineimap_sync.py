"""offlineimap3 against Certa: a first sync, then changes on both sides meet.

Usage: offlineimap_sync.py WORKDIR IMAPS_PORT CA_PEM USER PASSWORD
Writes WORKDIR/offlineimaprc and runs `offlineimap -c WORKDIR/offlineimaprc -o -u basic`.
"""
import imaplib
import os
import re
import ssl
import subprocess
import sys

work, port, ca, user, password = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=ca)
mail = os.path.join(work, "mail")
rc = os.path.join(work, "offlineimaprc")
with open(rc, "w") as f:
    f.write(f"""[general]
accounts = certa
metadata = {work}/meta

[Account certa]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = {mail}

[Repository remote]
type = IMAP
remotehost = localhost
remoteport = {port}
remoteuser = {user}
remotepass = {password}
ssl = yes
sslcacertfile = {ca}
""")


def offlineimap():
    r = subprocess.run(["offlineimap", "-c", rc, "-o", "-u", "basic"],
                       capture_output=True, text=True, timeout=600)
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "ERROR" not in out, out
    return out


def imap():
    m = imaplib.IMAP4_SSL("127.0.0.1", int(port), ssl_context=ctx)
    m.login(user, password)
    return m


def message(subject):
    return (f"From: mittente@pec.example.it\r\nTo: {user}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '-')}@test>\r\n\r\nCorpo\r\n").encode()


m = imap()
for i in range(50):
    assert m.append("INBOX", None, None, message(f"msg {i}"))[0] == "OK"
m.logout()
offlineimap()


def local():
    res = {}
    for sub in ("cur", "new"):
        d = os.path.join(mail, "INBOX", sub)
        for name in os.listdir(d):
            p = os.path.join(d, name)
            subj = re.search(rb"^Subject: (.*?)\r?$", open(p, "rb").read(), re.M).group(1).decode()
            res[subj] = (p, name.split(":2,")[1] if ":2," in name else "")
    return res


loc = local()
assert len(loc) == 50, len(loc)
for sub in ("Posta inviata", "Bozze", "Cestino"):
    assert any(sub in d for d in os.listdir(mail)), os.listdir(mail)
for i in range(5):
    p, _ = loc[f"msg {i}"]
    os.rename(p, p.split(":2,")[0].replace("/new/", "/cur/") + ":2,S")
with open(os.path.join(mail, "INBOX", "new", "nuovo.certa"), "wb") as f:
    f.write(message("locale"))
m = imap()
m.select("INBOX")
for i in range(3):
    m.append("INBOX", None, None, message(f"remoto {i}"))
m.logout()

offlineimap()
loc = local()
assert len(loc) == 54 and all(f"remoto {i}" in loc for i in range(3)), sorted(loc)
m = imap()
typ, data = m.select("INBOX")
assert int(data[0]) == 54, data
typ, data = m.search(None, "SEEN")
assert len(data[0].split()) == 5, data
assert m.search(None, "SUBJECT", "locale")[1][0] != b""
m.logout()
print("OK")
