"""mbsync (isync) against Certa: a 1,000-message mailbox synced both ways.

Usage: mbsync_sync.py WORKDIR IMAPS_PORT CA_PEM USER PASSWORD
Writes WORKDIR/mbsyncrc and runs `mbsync -c WORKDIR/mbsyncrc -a` (rerun it by hand the same
way). Checks: the first sync copies every message; then local changes (flags, deletions, a
new folder, new messages) and remote ones (flags, expunges, new messages) meet in both
places; a third sync changes nothing.
"""
import imaplib
import os
import re
import ssl
import subprocess
import sys

work, port, ca, user, password = sys.argv[1:6]
N = 1000
ctx = ssl.create_default_context(cafile=ca)
mail = os.path.join(work, "mail")
rc = os.path.join(work, "mbsyncrc")
with open(rc, "w") as f:
    f.write(f"""IMAPAccount certa
Host localhost
Port {port}
User {user}
Pass {password}
SSLType IMAPS
CertificateFile {ca}
AuthMechs PLAIN

IMAPStore remote
Account certa

MaildirStore local
Path {mail}/
Inbox {mail}/INBOX
SubFolders Verbatim

Channel certa
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
""")
os.chmod(rc, 0o600)


def mbsync():
    r = subprocess.run(["mbsync", "-c", rc, "-a"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout + r.stderr


def imap():
    m = imaplib.IMAP4_SSL("127.0.0.1", int(port), ssl_context=ctx)
    m.login(user, password)
    return m


def message(subject):
    return (f"From: mittente@pec.example.it\r\nTo: {user}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '-')}@test>\r\n\r\nCorpo di {subject}\r\n").encode()


def bulk_append(messages):
    """APPENDs pipelined with LITERAL+ (RFC 7888): one round trip for all of them."""
    import socket
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(port))), server_hostname="localhost")
    f = s.makefile("rb")
    f.readline()
    s.sendall(f"L LOGIN {user} {{{len(password)}+}}\r\n{password}\r\n".encode())
    assert f.readline().startswith(b"L OK")
    s.sendall(b"".join(b"A%d APPEND INBOX {%d+}\r\n%s\r\n" % (i, len(m), m)
                       for i, m in enumerate(messages)))
    done = 0
    while done < len(messages):
        line = f.readline()
        assert not line.startswith(b"A") or b" OK " in line, line
        done += line.startswith(b"A")
    s.close()


os.makedirs(mail, exist_ok=True)
bulk_append([message(f"msg {i}") for i in range(N)])

out = mbsync()


def local(folder="INBOX"):
    """subject -> (path, flags) of the local maildir."""
    res = {}
    for sub in ("cur", "new"):
        d = os.path.join(mail, folder, sub)
        for name in os.listdir(d):
            p = os.path.join(d, name)
            subj = re.search(rb"^Subject: (.*?)\r?$", open(p, "rb").read(), re.M).group(1).decode()
            flags = name.split(":2,")[1] if ":2," in name else ""
            res[subj] = (p, flags)
    return res


loc = local()
assert len(loc) == N, (len(loc), out)

# Local changes: seen+flagged 0-9, deleted 10-14, two new in INBOX, a new folder with three.
for i in range(10):
    p, flags = loc[f"msg {i}"]
    base = p.split(":2,")[0]
    os.rename(p, base.replace("/new/", "/cur/") + ":2,FS")
for i in range(10, 15):
    os.remove(loc[f"msg {i}"][0])
for i in range(2):
    with open(os.path.join(mail, "INBOX", "new", f"local{i}.certa"), "wb") as f:
        f.write(message(f"locale inbox {i}"))
for sub in ("cur", "new", "tmp"):
    os.makedirs(os.path.join(mail, "Locale", sub), exist_ok=True)
for i in range(3):
    with open(os.path.join(mail, "Locale", "new", f"l{i}.certa"), "wb") as f:
        f.write(message(f"locale cartella {i}"))

# Remote changes: flagged 20-26, expunged 30-33, six new.
m = imap()
m.select("INBOX")


def seq_of(subject):
    typ, data = m.search(None, "HEADER", "Message-ID", f'"<{subject.replace(" ", "-")}@test>"')
    ids = data[0].split()
    assert len(ids) == 1, (subject, ids)
    return ids[0].decode()


for i in range(20, 27):
    m.store(seq_of(f"msg {i}"), "+FLAGS", "(\\Flagged)")
for i in range(30, 34):
    m.store(seq_of(f"msg {i}"), "+FLAGS", "(\\Deleted)")
m.expunge()
for i in range(6):
    m.append("INBOX", None, None, message(f"remoto {i}"))
m.logout()

mbsync()

expected = N - 5 - 4 + 2 + 6
loc = local()
assert len(loc) == expected, len(loc)
for i in range(20, 27):
    assert "F" in loc[f"msg {i}"][1], ("remote flag reached the maildir", i)
assert all(f"remoto {i}" in loc for i in range(6))
assert len(local("Locale")) == 3

m = imap()
typ, data = m.select("INBOX")
assert int(data[0]) == expected, data
for i in range(10):
    typ, data = m.fetch(seq_of(f"msg {i}"), "(FLAGS)")
    assert b"\\Seen" in data[0] and b"\\Flagged" in data[0], data
for i in range(10, 15):
    typ, data = m.search(None, "HEADER", "Message-ID", f'"<msg-{i}@test>"')
    assert data[0] == b"", ("local deletion reached the server", i)
assert m.search(None, "SUBJECT", '"locale inbox"')[1][0].split().__len__() == 2
typ, data = m.select("Locale")
assert typ == "OK" and int(data[0]) == 3, data
m.logout()

again = mbsync()
assert len(local()) == expected
print("OK", expected)
