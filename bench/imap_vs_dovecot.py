#!/usr/bin/env python3
"""IMAP benchmark: the same workload against Certa and Debian's Dovecot, on loopback, in one
run (a figure, not a test). Both get the same messages, the same client (raw sockets,
pipelined where the protocol allows) and argon2id password hashes; both over plain TCP so
TLS costs do not blur the comparison (Certa with `allow_plaintext_auth`).

Rows: login (connect + LOGIN + LOGOUT), SELECT of the 10,000-message folder, FETCH of the
headers of 1,000 messages, FETCH of 100 full bodies, SEARCH BODY over 10,000 messages,
APPEND of 1,000 messages, and memory per idle connection with 1,000 logged-in idle
connections (Certa: RSS growth of its process; Dovecot: RSS of its imap processes and the
growth of the rest).

    apt-get install dovecot-imapd
    cargo build --release -p certa && python3 bench/imap_vs_dovecot.py
"""
import argparse
import os
import random
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# CERTA_BIN runs another build (an older one, for a before/after figure).
CERTA = os.environ.get("CERTA_BIN", os.path.join(ROOT, "target", "release", "certa"))
PASSWORD = "Rosso#Tramonto7"
WORDS = ("protocollo determina allegato fattura scadenza comune regione ufficio pratica "
         "raccomandata notifica delibera contratto verbale").split()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def make_message(i, rnd):
    body = "\r\n".join(" ".join(rnd.choice(WORDS) for _ in range(12)) for _ in range(30))
    if i % 1000 == 7:
        body += "\r\nparola rarissima: zanzibar\r\n"
    return (f"From: Ufficio {i % 37} <ufficio{i % 37}@pec.example.it>\r\n"
            f"To: utente@pec.bench.test\r\nSubject: Pratica n. {i}\r\n"
            f"Date: Mon, 23 Nov 2026 10:{i % 60:02d}:00 +0100\r\n"
            f"Message-ID: <{i}.bench@pec.example.it>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()


class Client:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.s.makefile("rb")
        self.n = 0
        self.f.readline()

    def cmd(self, text, literal=None):
        self.n += 1
        tag = f"T{self.n}".encode()
        if literal is not None:
            self.s.sendall(tag + b" " + text + b" {%d+}\r\n" % len(literal) + literal + b"\r\n")
        else:
            self.s.sendall(tag + b" " + text + b"\r\n")
        return self.until(tag)

    def until(self, tag):
        size = 0
        while True:
            line = self.f.readline()
            if not line:
                raise RuntimeError("connection closed")
            m = re.search(rb"\{(\d+)\}\r\n$", line)
            if m:
                size += int(m.group(1))
                self.f.read(int(m.group(1)))
                continue
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise RuntimeError(line)
                return size

    def login(self, user):
        self.cmd(b"LOGIN " + user.encode() + b' "' + PASSWORD.encode() + b'"')

    def append_many(self, folder, messages):
        data = b"".join(b"A%d APPEND %s {%d+}\r\n%s\r\n" % (i, folder, len(m), m)
                        for i, m in enumerate(messages))
        self.s.sendall(data)
        for i in range(len(messages)):
            self.until(b"A%d" % i)

    def close(self):
        try:
            self.s.sendall(b"Z LOGOUT\r\n")
        except OSError:
            pass
        self.s.close()


def rss_kb(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def descendants(pid):
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,comm="], capture_output=True, text=True).stdout
    rows = [l.split(None, 2) for l in out.splitlines()]
    kids, frontier = set(), {pid}
    while frontier:
        new = {int(r[0]) for r in rows if int(r[1]) in frontier} - kids
        kids |= new
        frontier = new
    return kids


class Certa:
    name = "Certa"

    def __init__(self, work):
        self.data = os.path.join(work, "certa")
        base = free_port()
        while any(not self._free(base + i) for i in range(8)) or base > 65000:
            base = free_port()
        subprocess.run([CERTA, "quickstart", "--data", self.data, "--domain", "pec.bench.test",
                        "--port-base", str(base)], check=True, capture_output=True)
        cfg = os.path.join(self.data, "certa.toml")
        text = open(cfg).read().replace("allow_plaintext_auth = false", "allow_plaintext_auth = true")
        # Every client comes from 127.0.0.1: the per-address cap must let the idle row in.
        text = text.replace("max_connections_per_ip = 100", "max_connections_per_ip = 5000")
        open(cfg, "w").write(text)
        self.user = "utente@pec.bench.test"
        subprocess.run([CERTA, "--data", self.data, "mailbox", "passwd", self.user, "--password", PASSWORD],
                       check=True, capture_output=True)
        subprocess.run([CERTA, "--data", self.data, "mailbox", "quota", self.user, "10GB"],
                       check=True, capture_output=True)
        self.port = base + 3
        self.start()

    def start(self):
        log = open(os.path.join(self.data, "serve.log"), "ab")
        self.proc = subprocess.Popen([CERTA, "--data", self.data, "serve"],
                                     stdout=subprocess.DEVNULL, stderr=log)
        wait_port(self.port)

    def restart(self):
        self.stop()
        self.start()

    @staticmethod
    def _free(p):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
            return True
        except OSError:
            return False
        finally:
            s.close()

    def memory_pids(self):
        return [self.proc.pid]

    def wait_indexed(self, timeout=300):
        """Waits until the background indexer has indexed every stored message (searches
        are right before too, reading what is not indexed; this times the index)."""
        import sqlite3
        deadline = time.time() + timeout
        while time.time() < deadline:
            db = sqlite3.connect(f"file:{os.path.join(self.data, 'certa.db')}?mode=ro", uri=True)
            try:
                left = db.execute("SELECT count(*) FROM messages WHERE text_id IS NULL").fetchone()[0]
            finally:
                db.close()
            if left == 0:
                return
            time.sleep(0.2)
        raise RuntimeError("the search index did not catch up")

    def stop(self):
        self.proc.kill()
        self.proc.wait()


class Dovecot:
    name = "Dovecot"

    def __init__(self, work):
        self.dir = os.path.join(work, "dovecot")
        os.makedirs(os.path.join(self.dir, "mail"))
        self.port = free_port()
        self.user = "utente"
        hashed = subprocess.run(["doveadm", "pw", "-s", "ARGON2ID", "-p", PASSWORD],
                                capture_output=True, text=True, check=True).stdout.strip()
        with open(os.path.join(self.dir, "users"), "w") as f:
            f.write(f"utente:{hashed}\n")
        # Dovecot will not run mail processes as root: the mail belongs to its own user.
        mail_user = "dovecot" if os.getuid() == 0 else os.environ.get("USER", "nobody")
        if os.getuid() == 0:
            shutil.chown(os.path.join(self.dir, "mail"), mail_user, mail_user)
        conf = f"""
base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = {self.dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{self.dir}/mail/%u
first_valid_uid = 1
default_internal_user = dovecot
default_login_user = dovenull
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  process_limit = 2000
  client_limit = 2000
}}
service imap {{
  process_limit = 2000
}}
protocol imap {{
  mail_max_userip_connections = 2000
}}
passdb {{
  driver = passwd-file
  args = scheme=ARGON2ID {self.dir}/users
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_user} home={self.dir}/mail/%u
}}
"""
        self.conf = os.path.join(self.dir, "dovecot.conf")
        open(self.conf, "w").write(conf)
        self.start()

    def start(self):
        self.proc = subprocess.Popen(["/usr/sbin/dovecot", "-F", "-c", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def restart(self):
        self.stop()
        time.sleep(0.5)
        self.start()

    def memory_pids(self):
        return [self.proc.pid] + sorted(descendants(self.proc.pid))

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def wait_port(port):
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def timed(f, repeat=1):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best


def workload(server, messages, idle):
    rows = {}
    c = Client(server.port)
    c.login(server.user)
    c.append_many(b"INBOX", messages)  # the 10,000-message folder
    c.close()
    if hasattr(server, "wait_indexed"):
        server.wait_indexed()

    def login():
        for _ in range(20):
            k = Client(server.port)
            k.login(server.user)
            k.close()
    rows["login ×20"] = timed(login)

    c = Client(server.port)
    c.login(server.user)
    rows["select 10,000"] = timed(lambda: c.cmd(b"SELECT INBOX"), 3)
    rows["fetch headers ×1,000"] = timed(lambda: c.cmd(b"FETCH 1:1000 (UID FLAGS BODY.PEEK[HEADER])"), 3)
    first = max(1, min(2001, len(messages) - 99))
    bodies = b"FETCH %d:%d BODY.PEEK[]" % (first, first + 99)
    rows["fetch 100 bodies"] = timed(lambda: c.cmd(bodies), 3)
    rows["search body ×10,000"] = timed(lambda: c.cmd(b'SEARCH BODY "zanzibar"'), 3)
    c.cmd(b"CREATE Nuova")
    rows["append ×1,000"] = timed(lambda: c.append_many(b"Nuova", messages[:1000]))
    c.close()

    # Memory on a freshly started server, so that memory freed by the rows above does not
    # hide what the connections take; one connection first, so one-time costs are paid.
    server.restart()
    warm = Client(server.port)
    warm.login(server.user)
    warm.cmd(b"SELECT INBOX")
    time.sleep(0.5)
    before = rss_kb(server.memory_pids())
    conns = []
    for _ in range(idle):
        k = Client(server.port)
        k.login(server.user)
        k.cmd(b"SELECT INBOX")
        conns.append(k)
    time.sleep(1)
    after = rss_kb(server.memory_pids())
    rows[f"KB per idle connection ({idle})"] = (after - before) / idle
    for k in conns + [warm]:
        k.close()
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--idle", type=int, default=1000)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    if not os.path.exists(CERTA):
        sys.exit("build first: cargo build --release -p certa")
    if not shutil.which("doveadm"):
        sys.exit("install Dovecot first: apt-get install dovecot-imapd")
    rnd = random.Random(7)
    messages = [make_message(i, rnd) for i in range(args.messages)]
    work = tempfile.mkdtemp(prefix="certa-bench-")
    os.chmod(work, 0o755)  # Dovecot's auth process (user dovecot) reads its users file
    results = {}
    for kind in (Certa, Dovecot):
        server = kind(work)
        try:
            results[kind.name] = workload(server, messages, args.idle)
        finally:
            server.stop()
    print(f"{'operation':34} {'Certa':>10} {'Dovecot':>10} {'ratio':>7}")
    for row in results["Certa"]:
        c, d = results["Certa"][row], results["Dovecot"][row]
        unit = "" if row.startswith("KB") else " s"
        ratio = c / d if d else float("nan")
        print(f"{row:34} {c:10.3f}{unit} {d:10.3f}{unit} {ratio:7.2f}")
    print("(ratio = Certa / Dovecot: below 1 is Certa faster or smaller)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
