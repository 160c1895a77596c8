"""Drives Certa's IMAP server with Python's imaplib, command by command, over real sockets.

Usage: imap_commands.py HOST IMAP_PORT IMAPS_PORT CA_PEM USER PASSWORD
Every check is an assert; the first failure exits non-zero with the reason.
"""
import email.utils
import imaplib
import re
import socket
import ssl
import sys
import time

host, imap_port, imaps_port, ca, user, password = sys.argv[1:7]
imap_port, imaps_port = int(imap_port), int(imaps_port)
ctx = ssl.create_default_context(cafile=ca)


def ok(res, what=""):
    typ, data = res
    assert typ == "OK", f"{what}: {typ} {data}"
    return data


def untagged(m, name):
    return m.untagged_responses.pop(name, [])


def connect():
    m = imaplib.IMAP4_SSL(host, imaps_port, ssl_context=ctx)
    ok(m.login(user, password), "login")
    return m


# --- STARTTLS, LOGINDISABLED, LOGIN refused in clear, AUTHENTICATE PLAIN -----------------
m = imaplib.IMAP4(host, imap_port)
caps = m.capabilities
assert "STARTTLS" in caps and "LOGINDISABLED" in caps, caps
try:
    m.login(user, password)
    raise AssertionError("LOGIN accepted without TLS")
except imaplib.IMAP4.error as e:
    assert "PRIVACYREQUIRED" in str(e), e
ok(m.starttls(ssl_context=ctx), "starttls")
caps = ok(m.capability())[0].decode()
assert "AUTH=PLAIN" in caps and "LOGINDISABLED" not in caps, caps
for c in ["IMAP4rev2", "IDLE", "UIDPLUS", "MOVE", "CONDSTORE", "QRESYNC", "ESEARCH", "SORT",
          "THREAD=REFERENCES", "THREAD=ORDEREDSUBJECT", "SPECIAL-USE", "LIST-STATUS", "QUOTA", "BINARY", "LITERAL+"]:
    assert c in caps, (c, caps)
ok(m.authenticate("PLAIN", lambda _: f"\0{user}\0{password}".encode()), "authenticate")
ok(m.logout() and ("OK", []))

bad = imaplib.IMAP4_SSL(host, imaps_port, ssl_context=ctx)
try:
    bad.login(user, "sbagliata")
    raise AssertionError("wrong password accepted")
except imaplib.IMAP4.error as e:
    assert "AUTHENTICATIONFAILED" in str(e), e
bad.logout()

a = connect()
b = connect()

# --- ID, NAMESPACE, ENABLE, quota ----------------------------------------------------------
typ, data = a.xatom("ID", "NIL")
assert typ == "OK" and b"Certa" in untagged(a, "ID")[0], data
ok(a.namespace())
assert ok(a.namespace())[0] == b'(("" "/")) NIL NIL'
typ, data = a.getquotaroot("INBOX")
assert typ == "OK", data
quota = [d for d in data[1] if d]
assert re.match(rb'"" \(STORAGE \d+ 1048576\)', quota[0]), quota

# --- LIST, special-use folders, CREATE with parents, modified UTF-7 ------------------------
listing = ok(a.list('""', '"*"'))
names = {re.search(rb'"/" (.*)$', l).group(1): l for l in listing}
assert b"INBOX" in names, listing
assert b"\\Sent" in names[b'"Posta inviata"'], listing
assert b"\\Drafts" in names[b"Bozze"] and b"\\Trash" in names[b"Cestino"], listing
assert b"\\Junk" in names[b'"Posta indesiderata"'], listing
ok(a.create('"Progetti/2026"'), "create with parent")
listing = ok(a.list('""', '"Progetti/%"'))
assert listing == [b'(\\HasNoChildren) "/" Progetti/2026'], listing
assert b"\\HasChildren" in ok(a.list('""', "Progetti"))[0]
ok(a.create('"Perch&AOk-"'), "create mutf7")
assert any(b"Perch&AOk-" in l for l in ok(a.list('""', '"*"')))
special = ok(a._simple_command("LIST", "(SPECIAL-USE)", '""', '"*"'))
special = untagged(a, "LIST")
assert len(special) == 4 and not any(b"Progetti" in l for l in special), special
ok(a._simple_command("LIST", '""', '"%"', "RETURN", "(CHILDREN STATUS (MESSAGES UNSEEN))"))
statuses = untagged(a, "STATUS")
assert any(b"INBOX (MESSAGES" in s for s in statuses), statuses
untagged(a, "LIST")

u8 = connect()
ok(u8._simple_command("ENABLE", "UTF8=ACCEPT"))
ok(u8._simple_command("LIST", '""', '"Perch*"'))
assert "Perché".encode() in untagged(u8, "LIST")[0]
u8.logout()

# --- APPEND with flags and date; SELECT; FETCH ----------------------------------------------
def msg(subject, body, extra=""):
    return (f"From: Mario Rossi <mario@pec.example.it>\r\nTo: {user}\r\nSubject: {subject}\r\n"
            f"Date: Mon, 23 Nov 2026 10:00:00 +0100\r\nMessage-ID: <{subject.replace(' ', '.')}@x>\r\n"
            f"{extra}\r\n{body}\r\n").encode()


multipart = (b"From: Anna <anna@x.it>\r\nTo: " + user.encode() + b"\r\nSubject: allegato\r\n"
             b"Date: Tue, 24 Nov 2026 09:00:00 +0100\r\nMessage-ID: <allegato@x>\r\n"
             b"In-Reply-To: <primo@x>\r\nReferences: <primo@x>\r\n"
             b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n"
             b"--zz\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
             b"Il caff=C3=A8 =C3=A8 pronto\r\n--zz\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\n"
             b"Content-Disposition: attachment; filename=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
             b"JVBERi0xLjQK\r\n--zz--\r\n")
date = '"20-Nov-2026 12:00:00 +0100"'
typ, data = a.append("INBOX", "(\\Flagged)", date, msg("primo", "testo uno"))
assert typ == "OK" and b"APPENDUID" in data[0], data
ok(a.append("INBOX", None, None, msg("secondo", "testo due ZEBRA")))
typ, data = a.append("INBOX", "(\\Seen)", None, multipart)
uidvalidity, last_uid = re.search(rb"APPENDUID (\d+) (\d+)", data[0]).groups()
typ, data = a.append("Inesistente", None, None, msg("x", "y"))
assert typ == "NO" and b"TRYCREATE" in data[0], data

data = ok(a.select("INBOX"))
assert data == [b"3"], data
assert untagged(a, "UIDVALIDITY") == [uidvalidity]
assert untagged(a, "HIGHESTMODSEQ"), "HIGHESTMODSEQ at SELECT"
data = ok(a.fetch("1:*", "(UID FLAGS INTERNALDATE RFC822.SIZE)"))
assert len(data) == 3 and b"\\Flagged" in data[0] and b"20-Nov-2026 12:00:00" in data[0], data
env = ok(a.fetch("1", "(ENVELOPE)"))[0]
assert b'"primo"' in env and b'(("Mario Rossi" NIL "mario" "pec.example.it"))' in env, env
bs = ok(a.fetch("3", "(BODYSTRUCTURE)"))[0]
assert b'("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE"' in bs, bs
assert b'("ATTACHMENT" ("FILENAME" "a.pdf"))' in bs and b'"MIXED" ("BOUNDARY" "zz")' in bs, bs
data = ok(a.fetch("3", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[1] BINARY.PEEK[2] BINARY.SIZE[2] BODY.PEEK[]<0.6>)"))
parts = [d for d in data if isinstance(d, tuple)]
assert parts[0][1] == b"Subject: allegato\r\n\r\n", parts
assert parts[1][1] == b"Il caff=C3=A8 =C3=A8 pronto", parts
assert parts[2][1] == b"%PDF-1.4\n", parts
assert parts[3][1] == b"From: ", parts
assert b"BINARY.SIZE[2] 9" in b"".join(p[0] for p in parts) + b"".join(d for d in data if isinstance(d, bytes)), data
flags = ok(a.fetch("2", "(FLAGS)"))[0]
assert b"\\Seen" not in flags
ok(a.fetch("2", "(BODY[TEXT])"))
assert b"\\Seen" in ok(a.fetch("2", "(FLAGS)"))[0], "BODY[] sets \\Seen"

# --- STORE, CONDSTORE UNCHANGEDSINCE ------------------------------------------------------
data = ok(a.store("1", "+FLAGS", "(\\Answered $Etichetta)"))
assert b"\\Answered" in data[0] and b"$Etichetta" in data[0], data
ok(a.store("1", "-FLAGS.SILENT", "($Etichetta)"))
assert b"$Etichetta" not in ok(a.fetch("1", "(FLAGS)"))[0]
modseq = int(re.search(rb"MODSEQ \((\d+)\)", ok(a.fetch("1", "(MODSEQ)"))[0]).group(1))
typ, data = a._simple_command("STORE", "1", f"(UNCHANGEDSINCE {modseq - 1})", "+FLAGS", "(\\Draft)")
assert typ == "OK" and b"[MODIFIED 1]" in data[0], data
ok(a._simple_command("STORE", "1", f"(UNCHANGEDSINCE {modseq})", "+FLAGS", "(\\Draft)"))

# --- SEARCH, ESEARCH, SORT, THREAD ---------------------------------------------------------
def search(*keys):
    return ok(a.search(None, *keys))[0].split()

assert search("SUBJECT", "secondo") == [b"2"]
assert search("FROM", "anna") == [b"3"]
assert search("BODY", "zebra") == [b"2"], "case-insensitive body search"
a.literal = "caffè".encode()
assert ok(a.search("UTF-8", "BODY"))[0].split() == [b"3"], "UTF-8 literal, decoded QP body"
assert search("TEXT", "allegato") == [b"3"]
assert search("FLAGGED") == [b"1"]
assert search("NOT", "SEEN") == [b"1"]
assert search("OR", "SUBJECT", "primo", "SUBJECT", "secondo") == [b"1", b"2"]
assert search("SENTSINCE", "24-Nov-2026") == [b"3"]
assert search("SINCE", "21-Nov-2026") == [b"2", b"3"]
assert search("LARGER", "400") == [b"3"]
assert search("HEADER", "Message-ID", "secondo") == [b"2"]
assert ok(a.uid("SEARCH", "UID", last_uid.decode()))[0] == last_uid
ok(a._simple_command("SEARCH", "RETURN", "(MIN MAX COUNT ALL)", "ALL"))
es = untagged(a, "ESEARCH")[0]
assert b"MIN 1 MAX 3 COUNT 3 ALL 1:3" in es, es
typ, data = a.sort("(REVERSE DATE)", "UTF-8", "ALL")
assert typ == "OK" and data[0].split() == [b"3", b"1", b"2"], "ties in sequence order"
typ, data = a.thread("REFERENCES", "UTF-8", "ALL")
assert typ == "OK" and data[0] == b"(1 3)(2)", data
typ, data = a.thread("ORDEREDSUBJECT", "UTF-8", "ALL")
assert typ == "OK" and data[0] == b"(1)(2)(3)", data

# --- Two sessions: EXISTS, FETCH FLAGS, EXPUNGE told to the other; \Recent in one only -----
ok(b.select("INBOX"))
for m_ in (a, b):  # imaplib keeps SELECT's untagged data; start clean
    untagged(m_, "RECENT")
    untagged(m_, "EXISTS")
ok(a.append("INBOX", None, None, msg("quarto", "testo quattro")))
ok(b.noop())
assert untagged(b, "EXISTS") == [b"4"], "EXISTS to the other session"
ok(a.noop())
assert untagged(a, "EXISTS") == [b"4"]
# a, which appended with INBOX selected, heard of it first: \Recent there only.
assert untagged(b, "RECENT") == [b"0"]
assert untagged(a, "RECENT") == [b"4"]

ok(a.store("4", "+FLAGS", "(\\Deleted)"))
ok(b.noop())
fetches = untagged(b, "FETCH")
assert any(b"\\Deleted" in f for f in fetches), fetches
ok(a.expunge())
ok(b.noop())
assert untagged(b, "EXPUNGE") == [b"4"], "EXPUNGE to the other session"

# --- IDLE wakes within a second of an APPEND elsewhere -------------------------------------
b.send(b"I1 IDLE\r\n")
assert b.readline().startswith(b"+"), "IDLE continuation"
ok(a.append("INBOX", None, None, msg("quinto", "testo cinque")))
b.sock.settimeout(1.5)
t0 = time.time()
line = b.readline()
assert line == b"* 4 EXISTS\r\n", line
assert time.time() - t0 < 1.0, time.time() - t0
b.sock.settimeout(None)
b.send(b"DONE\r\n")
while not (line := b.readline()).startswith(b"I1 "):
    pass
assert line.startswith(b"I1 OK"), line

# --- COPY (COPYUID), MOVE, UID EXPUNGE, CLOSE, UNSELECT ---------------------------------------
typ, data = a.copy("1:2", '"Progetti/2026"')
assert typ == "OK" and b"COPYUID" in data[0], data
ok(a._simple_command("MOVE", "2", "Cestino"))
assert untagged(a, "EXPUNGE") == [b"2"]
moved = untagged(a, "OK")
assert any(b"COPYUID" in x for x in moved), moved
st = ok(a.status("Cestino", "(MESSAGES UIDNEXT UNSEEN HIGHESTMODSEQ RECENT)"))[0]
assert b"MESSAGES 1" in st, st
assert b"RECENT 1" in st, "no session has selected Cestino since: " + st.decode()
ok(a.select('"Progetti/2026"'))
ok(a.store("1", "+FLAGS", "(\\Deleted)"))
ok(a.uid("EXPUNGE", "1:*"))
assert ok(a.status('"Progetti/2026"', "(MESSAGES)"))[0].endswith(b"(MESSAGES 1)")
ok(a.store("1", "+FLAGS", "(\\Deleted)"))
st = ok(a.status('"Progetti/2026"', "(MESSAGES DELETED)"))[0]
assert st.endswith(b"(MESSAGES 1 DELETED 1)"), st
ok(a.close())
assert ok(a.status('"Progetti/2026"', "(MESSAGES)"))[0].endswith(b"(MESSAGES 0)")
ok(a.select("INBOX", readonly=True))
typ, data = a.store("1", "+FLAGS", "(\\Seen)")
assert typ == "NO", data
ok(a._simple_command("UNSELECT"))

# --- QRESYNC: VANISHED (EARLIER) and changed flags since a MODSEQ ----------------------------
q = connect()
ok(q._simple_command("ENABLE", "QRESYNC"))
ok(q.select("INBOX"))
hms = int(untagged(q, "HIGHESTMODSEQ")[0])
ok(q._simple_command("UNSELECT"))
ok(a.select("INBOX"))
ok(a.store("1", "+FLAGS", "(\\Seen)"))
ok(a.store("2", "+FLAGS", "(\\Deleted)"))
ok(a.expunge())
ok(q._simple_command("SELECT", "INBOX", f"(QRESYNC ({uidvalidity.decode()} {hms}))"))
vanished = untagged(q, "VANISHED")
assert vanished and vanished[0].startswith(b"(EARLIER)"), vanished
assert any(b"\\Seen" in f for f in untagged(q, "FETCH"))
ok(q.uid("FETCH", "1:*", "(FLAGS)", f"(CHANGEDSINCE {hms} VANISHED)"))
assert untagged(q, "VANISHED"), "UID FETCH VANISHED"
q.logout()

# --- IMAP4rev2: ESEARCH answers, no \Recent, UTF-8 names, LIST in SELECT --------------------
r2 = connect()
ok(r2._simple_command("ENABLE", "IMAP4rev2"))
assert b"IMAP4REV2" in untagged(r2, "ENABLED")[0]
ok(r2.select("INBOX"))
assert untagged(r2, "RECENT") == [], "no RECENT in IMAP4rev2"
assert untagged(r2, "LIST"), "SELECT tells the mailbox name"
ok(r2._simple_command("SEARCH", "ALL"))
assert untagged(r2, "ESEARCH"), "SEARCH answers ESEARCH in IMAP4rev2"
ok(r2._simple_command("CHECK"))
ok(r2._simple_command("GETQUOTA", '""'))
assert untagged(r2, "QUOTA")
r2.logout()

# --- SUBSCRIBE/LSUB, RENAME, DELETE ---------------------------------------------------------
ok(a.unsubscribe('"Perch&AOk-"'))
assert not any(b"Perch" in l for l in ok(a.lsub('""', '"*"')) if l)
ok(a.subscribe('"Perch&AOk-"'))
assert any(b"Perch" in l for l in ok(a.lsub('""', '"*"')) if l)
ok(a.rename("Progetti", "Archivio"))
assert ok(a.list('""', '"Archivio/*"')) == [b'(\\HasNoChildren) "/" Archivio/2026']
typ, data = a.delete("Archivio")
assert typ == "NO", "a folder with children is not deleted"
ok(a.delete('"Archivio/2026"'))
typ, data = a.delete("Cestino")
assert typ == "NO", "special folders stay"

# --- Bad input: BAD, never a crash; long lines; literals too big -----------------------------
raw = socket.create_connection((host, imaps_port))
s = ctx.wrap_socket(raw, server_hostname=host)
f = s.makefile("rb")
assert f.readline().startswith(b"* OK")
for line in [b"\x00\x01\x02\r\n", b"a FROB\r\n", b"a FETCH 0 FLAGS\r\n", b"a SELECT\r\n",
             b"a LOGIN x\r\n", b"a SEARCH (((\r\n"]:
    s.sendall(line)
    reply = f.readline()
    assert b" BAD " in reply or reply.startswith(b"* BAD"), (line, reply)
s.sendall(b"a LOGIN {999999999}\r\n")
assert b"TOOBIG" in f.readline()
s.sendall(b"a NOOP\r\n")
assert f.readline().startswith(b"a OK"), "still serving after bad input"
s.sendall(b"x" * 70000 + b"\r\n")
assert f.readline().startswith(b"* BYE")
s.close()

a.logout()
b.logout()

# --- Login throttling (last: it blocks this address for a while) ------------------------------
codes = []
for _ in range(12):
    t = imaplib.IMAP4_SSL(host, imaps_port, ssl_context=ctx)
    try:
        t.login(user, "ancora-sbagliata")
    except imaplib.IMAP4.error as e:
        codes.append("UNAVAILABLE" if "UNAVAILABLE" in str(e) else "AUTHENTICATIONFAILED")
    t.logout()
assert codes[0] == "AUTHENTICATIONFAILED" and codes[-1] == "UNAVAILABLE", codes
t = imaplib.IMAP4_SSL(host, imaps_port, ssl_context=ctx)
try:
    t.login(user, password)
    raise AssertionError("a throttled address logged in")
except imaplib.IMAP4.error as e:
    assert "UNAVAILABLE" in str(e), e
print("OK")
