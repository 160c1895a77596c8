"""The "old provider" of the migration tests and benchmark: Debian's Dovecot over IMAPS with a
CA of its own, and what the tests do to it and read from it.

  old_provider.py setup DIR                      writes certs, users and dovecot.conf; prints
                                                 {"conf", "ca", "imaps", "user", "password"}
  old_provider.py seed DIR PEC_DIR               APPENDs real PEC files and generated mail
  old_provider.py bulk DIR N SIZE                writes N messages of SIZE bytes into the maildir
  old_provider.py append DIR N TAG               APPENDs N small messages (new arrivals)
  old_provider.py folders DIR                    adds folders Archivio, Archivio.2020, Perché
  old_provider.py expunge DIR UID                deletes one message at the source
  old_provider.py uidl HOST PORT USER PASS CA       prints [[size, uidl], …] by POP3S
  old_provider.py dump HOST PORT USER PASS CA FOLDER
                                                 prints {"uidvalidity", "messages": [{"uid",
                                                 "sha256", "size", "flags", "date"}]}
Dovecot runs as its own user when we are root; the test starts `dovecot -F -c conf` itself.
"""
import calendar, hashlib, imaplib, json, os, re, shutil, socket, ssl, subprocess, sys, time

USER = "vecchio@pec.vecchio.test"
# A `$` on purpose: the seed's users had such characters in their old passwords.
PASSWORD = "Vecchia$Pass1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def box_users(domain, n):
    """The boxes of a whole domain at the old provider: casella01@DOMAIN… with the
    password Vecchia$Pass01…"""
    return [(f"casella{i:02d}@{domain}", f"Vecchia$Pass{i:02d}") for i in range(1, n + 1)]


def setup(d, domain=None, n=0):
    os.makedirs(os.path.join(d, "mail"), exist_ok=True)
    ca_key, ca = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
    key, csr, cert = (os.path.join(d, n) for n in ("key.pem", "req.csr", "cert.pem"))
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
            "-days", "30", "-subj", "/CN=Vecchio Gestore CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
            "-subj", "/CN=localhost")
    ext = os.path.join(d, "san.ext")
    open(ext, "w").write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
            "-out", cert, "-days", "30", "-extfile", ext)
    users = [(USER, PASSWORD)] + (box_users(domain, int(n)) if domain else [])
    open(os.path.join(d, "users"), "w").write(
        "".join(f"{u}:{{PLAIN}}{p}\n" for u, p in users))
    mail_user = "dovecot" if os.getuid() == 0 else os.environ.get("USER", "nobody")
    port = free_port()
    pop3 = free_port()
    conf = f"""
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
auth_mechanisms = plain login
mail_location = maildir:{d}/mail/%u
first_valid_uid = 1
default_internal_user = dovecot
default_login_user = dovenull
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {port}
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {pop3}
  }}
}}
protocol imap {{
  mail_max_userip_connections = 100
}}
protocol pop3 {{
  pop3_uidl_format = %08Xu%08Xv
}}
passdb {{
  driver = passwd-file
  args = {d}/users
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_user} home={d}/mail/%u
}}
"""
    path = os.path.join(d, "dovecot.conf")
    open(path, "w").write(conf)
    if os.getuid() == 0:
        for root, dirs, files in os.walk(os.path.join(d, "mail")):
            shutil.chown(root, mail_user, mail_user)
        os.chmod(d, 0o755)
    print(json.dumps({"conf": path, "ca": ca, "imaps": port, "pop3s": pop3, "user": USER,
                      "password": PASSWORD}))


def info(d):
    conf = open(os.path.join(d, "dovecot.conf")).read()
    port = int(re.search(r"inet_listener imaps \{\s*address = 127.0.0.1\s*port = (\d+)", conf).group(1))
    return port, os.path.join(d, "ca.pem")


def connect(host, port, ca, user, password):
    ctx = ssl.create_default_context(cafile=ca)
    m = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx)
    m.login(user, password)
    return m


def old(d):
    port, ca = info(d)
    return connect("127.0.0.1", port, ca, USER, PASSWORD)


def date_of(year, i):
    return calendar.timegm((year, 1 + i % 12, 1 + i % 27, 8 + i % 10, i % 60, i % 60, 0, 0, 0))


def generated(i):
    """Mail that tests the copy's exactness: attachments, 8-bit without MIME, odd MIME."""
    kinds = [
        b"From: mario@esempio.test\r\nTo: " + USER.encode() + b"\r\nSubject: con allegato %d\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nIn allegato.\r\n--b1\r\n"
        b"Content-Type: application/pdf; name=\"atto.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + __import__("base64").encodebytes(bytes(range(256)) * 8).replace(b"\n", b"\r\n")
        + b"--b1--\r\n",
        b"From: lucia@esempio.test\r\nTo: " + USER.encode() + b"\r\nSubject: 8 bit %d\r\n\r\n"
        b"Citt\xe0, perch\xe9, \xc3\xa8 gi\xc3\xa0 \xff\xfe fine\r\n",
        b"From: x@esempio.test\r\nSubject: MIME strano %d\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/alternative; boundary=zz\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\n"
        b"senza chiusura\r\n--zz\r\nContent-Type: message/rfc822\r\n\r\nSubject: annidato\r\n\r\ncorpo\r\n",
        b"Subject: riga lunga %d\r\n\r\n" + b"a" * 5000 + b"\r\n",
    ]
    body = kinds[i % len(kinds)]
    return body.replace(b"%d", str(i).encode()) if b"%d" in body else body


def seed(d, pec_dir):
    m = old(d)
    flags = ["(\\Seen)", "(\\Seen \\Flagged)", "()", "(\\Answered $Etichetta1)"]
    i = 0
    for root, _, files in sorted(os.walk(pec_dir)):
        for name in sorted(files):
            if name == "SOURCES.txt":
                continue
            data = open(os.path.join(root, name), "rb").read()
            typ, _ = m.append("INBOX", flags[i % 4], date_of(2014 + i % 7, i), data)
            assert typ == "OK", typ
            i += 1
    for k in range(12):
        typ, _ = m.append("INBOX", flags[k % 4], date_of(2016 + k % 5, k), generated(k))
        assert typ == "OK", typ
    m.logout()


def bulk(d, n, size):
    """n messages straight into the maildir (Dovecot indexes them on first access)."""
    cur = os.path.join(d, "mail", USER, "cur")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(d, "mail", USER, sub), exist_ok=True)
    line = b"x" * 78 + b"\n"
    for i in range(n):
        head = (f"From: mittente{i % 50}@esempio.test\nTo: {USER}\nSubject: messaggio {i}\n"
                f"Message-ID: <bulk{i}@esempio.test>\nDate: Mon, 1 Jun 2020 10:00:00 +0200\n\n").encode()
        body = line * max(1, (size - len(head)) // len(line))
        path = os.path.join(cur, f"{1590000000 + i}.M{i}P1.bench:2,S")
        with open(path, "wb") as f:
            f.write(head + body)
        t = 1590000000 + i
        os.utime(path, (t, t))
    if os.getuid() == 0:
        for root, dirs, files in os.walk(os.path.join(d, "mail")):
            shutil.chown(root, "dovecot", "dovecot")
            for f in files:
                shutil.chown(os.path.join(root, f), "dovecot", "dovecot")


def append(d, n, tag):
    m = old(d)
    for i in range(n):
        msg = f"From: nuovo@esempio.test\r\nSubject: arrivato dopo {tag} {i}\r\n\r\nnuovo {tag} {i}\r\n"
        typ, _ = m.append("INBOX", "()", date_of(2021, i), msg.encode())
        assert typ == "OK", typ
    m.logout()


def fill(d, domain, n, per_box):
    """`per_box` messages into the INBOX of each box of the domain."""
    port, ca = info(d)
    for user, password in box_users(domain, int(n)):
        m = connect("127.0.0.1", port, ca, user, password)
        for i in range(int(per_box)):
            msg = (f"From: mittente{i}@esempio.test\r\nTo: {user}\r\n"
                   f"Subject: messaggio {i} di {user}\r\n\r\ntesto {i}\r\n")
            typ, _ = m.append("INBOX", "()", date_of(2022, i), msg.encode())
            assert typ == "OK", typ
        m.logout()


def folders(d):
    """Two more folders, one inside the other (Dovecot's maildir separator is "."), with a
    non-ASCII name in modified UTF-7, and a few messages in each."""
    m = old(d)
    for name, n in (("Archivio", 3), ("Archivio.2020", 2), ("Perch&AOk-", 1)):
        typ, _ = m.create(name)
        assert typ == "OK", (typ, name)
        for i in range(n):
            msg = f"From: a@esempio.test\r\nSubject: {name} {i}\r\n\r\ncartella {name} {i}\r\n"
            typ, _ = m.append(name, "(\\Seen)", date_of(2019, i), msg.encode())
            assert typ == "OK", typ
    m.logout()


def expunge(d, uid):
    m = old(d)
    m.select("INBOX")
    m.uid("STORE", uid, "+FLAGS.SILENT", "(\\Deleted)")
    m.expunge()
    m.logout()


MONTHS = {m: i for i, m in enumerate(
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1)}


def unix_of(internaldate):
    dd, mon, rest = internaldate.strip().split("-", 2)
    yyyy, hms, zone = rest.split(" ")
    h, mi, s = (int(x) for x in hms.split(":"))
    t = calendar.timegm((int(yyyy), MONTHS[mon], int(dd), h, mi, s, 0, 0, 0))
    sign = 1 if zone[0] == "+" else -1
    return t - sign * (int(zone[1:3]) * 3600 + int(zone[3:5]) * 60)


def dump(host, port, user, password, ca, folder):
    m = connect(host, port, ca, user, password)
    typ, _ = m.select(f'"{folder}"', readonly=True)
    assert typ == "OK", (typ, folder)
    uidvalidity = int(m.untagged_responses.get("UIDVALIDITY", [b"0"])[0])
    out = []
    typ, data = m.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE BODY.PEEK[])")
    for i, part in enumerate(data):
        if not isinstance(part, tuple):
            continue
        # The items may come before or after the literal: imaplib leaves those after it in
        # the next element.
        head, body = part
        rest = data[i + 1] if i + 1 < len(data) and isinstance(data[i + 1], bytes) else b""
        head = (head + b" " + rest).decode()
        uid = int(re.search(r"UID (\d+)", head).group(1))
        flags = re.search(r"FLAGS \(([^)]*)\)", head).group(1).split()
        date = re.search(r'INTERNALDATE "([^"]+)"', head).group(1)
        out.append({"uid": uid, "sha256": hashlib.sha256(body).hexdigest(), "size": len(body),
                    "flags": sorted(f for f in flags if f != "\\Recent"), "date": unix_of(date)})
    m.logout()
    print(json.dumps({"uidvalidity": uidvalidity, "messages": sorted(out, key=lambda x: x["uid"])}))


def uidl(host, port, user, password, ca):
    import poplib
    ctx = ssl.create_default_context(cafile=ca)
    p = poplib.POP3_SSL(host, int(port), context=ctx)
    p.user(user)
    p.pass_(password)
    _, lines, _ = p.uidl()
    _, sizes, _ = p.list()
    p.quit()
    ids = dict(l.decode().split(" ", 1) for l in lines)
    out = []
    for l in sizes:
        n, size = l.decode().split(" ", 1)
        out.append([int(size), ids[n]])
    print(json.dumps(out))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "setup":
        setup(*args)
    elif cmd == "fill":
        fill(*args)
    elif cmd == "seed":
        seed(args[0], args[1])
    elif cmd == "bulk":
        bulk(args[0], int(args[1]), int(args[2]))
    elif cmd == "append":
        append(args[0], int(args[1]), args[2])
    elif cmd == "folders":
        folders(args[0])
    elif cmd == "expunge":
        expunge(args[0], args[1])
    elif cmd == "uidl":
        uidl(*args)
    elif cmd == "dump":
        dump(*args)
    else:
        sys.exit(f"unknown command {cmd}")
