#!/usr/bin/env python3
"""Certa pipeline benchmark (a figure, not a test).

N PEC messages over SMTP (implicit TLS, persistent authenticated connections) from C
concurrent clients to local recipients. Prints PEC messages per second end to end (accepted,
enveloped, delivered, every receipt stored) and p50/p99 time to the acceptance (the `250`,
which is given once the acceptance is on disk). Beside it, in the same run, the anchor: the
same workload of plain mail through Debian's Postfix (implicit TLS, SMTP AUTH) into Dovecot
over LMTP (`plainmail.py`), delivered into maildirs; and the machine's raw RSA-2048 sign rate
(a local PEC message needs three signatures: acceptance, envelope, delivery receipt).

    cargo build --release -p certa && python3 bench/pipeline.py            # C = 10, 10 KB
    python3 bench/pipeline.py --table      # C = 1, 10, 50, 200; 10 KB and 1 MB
    python3 bench/pipeline.py --preload 1000000   # into a box that holds a million messages
"""
import argparse, os, re, shutil, socket, smtplib, ssl, subprocess, sys, tempfile, threading, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import plainmail

PASSWORD = "Rosso#Tramonto7"


def free_base():
    while True:
        s = socket.socket(); s.bind(("127.0.0.1", 0)); base = s.getsockname()[1]; s.close()
        if base > 65000:
            continue
        ok = True
        for i in range(10):
            t = socket.socket()
            try:
                t.bind(("127.0.0.1", base + i))
            except OSError:
                ok = False
            t.close()
        if ok:
            return base


def openssl_speed():
    out = subprocess.run(["openssl", "speed", "-seconds", "3", "rsa2048"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.strip().startswith("rsa 2048 bits"):
            return float(line.split()[5])
    return float("nan")


def wait_port(port):
    deadline = time.time() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.time() > deadline:
                raise RuntimeError(f"nothing listening on {port}")
            time.sleep(0.05)


def body_of(size):
    """A text body of about `size` bytes, in 80-byte lines."""
    return ("x" * 78 + "\r\n") * max(1, size // 80)


def send_all(port, ctx, senders, recipients, domain, n, size):
    """Each of C clients (one per sender, its own connection) sends n / C messages, one at a
    time, to its recipient; returns (latencies in s, errors, seconds until the last 250)."""
    conns = []
    for frm in senders:
        s = smtplib.SMTP_SSL("127.0.0.1", port, context=ctx, timeout=300)
        s.login(frm, PASSWORD)
        conns.append(s)
    latencies, errors = [], []
    lock = threading.Lock()
    per = n // len(senders)
    body = body_of(size)

    def client(i):
        s, frm, to = conns[i], senders[i], recipients[i]
        for k in range(per):
            msg = (f"From: {frm}\r\nTo: {to}\r\nSubject: bench {i}/{k}\r\n"
                   f"Message-ID: <b{i}.{k}@{domain}>\r\n\r\n{body}\r\n").encode()
            t0 = time.perf_counter()
            try:
                s.sendmail(frm, [to], msg)
                dt = time.perf_counter() - t0
                with lock:
                    latencies.append(dt)
            except smtplib.SMTPException as e:
                with lock:
                    errors.append(str(e))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(senders))]
    start = time.perf_counter()
    for t in threads: t.start()
    for t in threads: t.join()
    accepted = time.perf_counter() - start
    for s in conns:
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            pass
    return latencies, errors, start, accepted, per * len(senders)


def result(name, latencies, errors, total, accepted, end_to_end):
    lat = sorted(latencies) or [float("nan")]
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
    return {"name": name, "total": total, "errors": errors, "accepted": total / accepted,
            "rate": (total - len(errors)) / end_to_end, "p50": p(0.50), "p99": p(0.99)}


class Certa:
    def __init__(self, binary, work, clients, preload):
        self.binary = binary
        self.data = os.path.join(work, "certa")
        self.base = free_base()
        self.domain = "pec.bench.test"
        self.run("quickstart", "--domain", self.domain, "--port-base", str(self.base))
        self.senders = [f"s{i}@{self.domain}" for i in range(clients)]
        self.recipients = [f"r{i}@{self.domain}" for i in range(clients)]
        for a in self.senders + self.recipients:
            self.run("mailbox", "add", a, "--password", PASSWORD, "--quota", "1000GB")
        cfg = os.path.join(self.data, "certa.toml")
        text = open(cfg).read()
        # Throughput is the subject, not the per-mailbox sending limit (60 a minute by
        # default) nor the per-address connection cap (every client is 127.0.0.1).
        for key, default in [("messages_per_minute", 60), ("messages_per_hour", 1000),
                             ("max_connections_per_ip", 100)]:
            assert f"{key} = {default}" in text, key
            text = text.replace(f"{key} = {default}", f"{key} = 1000000000")
        text = text.replace("allow_plaintext_auth = false", "allow_plaintext_auth = true")
        # Delivered receipts are counted on /metrics, which does not depend on the backend.
        self.metrics = self.base + 8
        text = re.sub(r"(?m)^\[listen\]\n", f"[listen]\nmetrics = \"127.0.0.1:{self.metrics}\"\n", text, count=1)
        open(cfg, "w").write(text)
        log = open(os.path.join(self.data, "serve.log"), "ab")
        self.proc = subprocess.Popen([binary, "--data", self.data, "serve"],
                                     stdout=subprocess.DEVNULL, stderr=log)
        wait_port(self.base + 2)
        if preload:
            self.preload(preload)

    def run(self, *args):
        subprocess.run([self.binary, "--data", self.data, *args], check=True, capture_output=True, text=True)

    def preload(self, count):
        """`count` messages into the first recipient's box (IMAP MULTIAPPEND, 1,000 at a
        time), then waits for the search index to catch up: the rows after measure
        delivery into a full box, not the indexer."""
        import imap_vs_dovecot as b
        import random
        c = b.Client(self.base + 3)
        c.login(self.recipients[0])
        rnd = random.Random(7)
        batch = []
        for i in range(count):
            batch.append(b.make_message(i, rnd))
            if len(batch) == 1000:
                c.append_many(b"INBOX", batch)
                batch = []
        if batch:
            c.append_many(b"INBOX", batch)
        c.close()
        self.wait_delivered(0, timeout=3600, indexed=True)

    def delivered(self):
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics}/metrics", timeout=30).read().decode()
        m = re.search(r'^certa_messages_total\{outcome="delivered",kind="busta-trasporto"\} (\d+)$', text, re.M)
        return int(m.group(1)) if m else 0

    def unindexed(self):
        import sqlite3
        db = sqlite3.connect(f"file:{os.path.join(self.data, 'certa.db')}?mode=ro", uri=True, timeout=30)
        try:
            return db.execute("SELECT count(*) FROM messages WHERE text_id IS NULL").fetchone()[0]
        finally:
            db.close()

    def wait_delivered(self, count, timeout=600, indexed=False):
        deadline = time.time() + timeout
        while self.delivered() < count or (indexed and self.unindexed() > 0):
            if time.time() > deadline:
                raise RuntimeError("Certa did not deliver in time")
            time.sleep(0.05 if not indexed else 1)

    def measure(self, c, n, size):
        """n messages of `size` bytes from the first c senders."""
        ctx = ssl.create_default_context(cafile=os.path.join(self.data, "pki/ca.pem"))
        before = self.delivered()
        lat, errors, start, accepted, total = send_all(self.base + 2, ctx, self.senders[:c],
                                                       self.recipients[:c], self.domain, n, size)
        self.wait_delivered(before + total - len(errors))
        return result("Certa (PEC)", lat, errors, total, accepted, time.perf_counter() - start)

    def stop(self):
        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics}/metrics", timeout=30).read()
            open(os.path.join(self.data, "metrics.txt"), "wb").write(text)
        except OSError:
            pass
        self.proc.terminate()
        self.proc.wait()


class Plain:
    """Postfix → Dovecot LMTP."""

    def __init__(self, work, clients):
        self.dir = os.path.join(work, "plain-pki")
        os.makedirs(self.dir)
        cert, key = os.path.join(self.dir, "cert.pem"), os.path.join(self.dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
        os.chmod(key, 0o644)
        self.port = free_base()
        users = [f"s{i}" for i in range(clients)] + [f"r{i}" for i in range(clients)]
        self.server = plainmail.PostfixDovecot(work, self.port, users, cert, key)
        self.domain = self.server.domain
        self.senders = [f"s{i}@{self.domain}" for i in range(clients)]
        self.recipients = [f"r{i}@{self.domain}" for i in range(clients)]
        self.server.start()
        wait_port(self.port)

    def measure(self, c, n, size):
        """n messages of `size` bytes from the first c senders."""
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        before = self.server.delivered()
        lat, errors, start, accepted, total = send_all(self.port, ctx, self.senders[:c],
                                                       self.recipients[:c], self.domain, n, size)
        deadline = time.time() + 600
        while self.server.delivered() < before + total - len(errors):
            if time.time() > deadline:
                raise RuntimeError("Postfix did not deliver in time")
            time.sleep(0.05)
        return result("Postfix → Dovecot (plain)", lat, errors, total, accepted, time.perf_counter() - start)

    def stop(self):
        self.server.stop()


def size_label(size):
    return f"{size // (1 << 20)} MB" if size >= 1 << 20 else f"{size // 1024} KB"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--certa", default=os.environ.get("CERTA_BIN", "target/release/certa"))
    ap.add_argument("-n", type=int, default=2000, help="messages per row (10 KB)")
    ap.add_argument("-c", type=int, default=10, help="concurrent clients")
    ap.add_argument("--size", type=int, default=10 * 1024, help="message body bytes")
    ap.add_argument("--table", action="store_true",
                    help="rows for C = 1, 10, 50, 200 at 10 KB and C = 10 at 1 MB")
    ap.add_argument("--preload", type=int, default=0,
                    help="messages stored in the first recipient's box before measuring")
    ap.add_argument("--no-anchor", action="store_true", help="Certa only")
    ap.add_argument("--keep", action="store_true", help="keep the data and logs, print where")
    a = ap.parse_args()
    anchor = not a.no_anchor and plainmail.available()
    if not a.no_anchor and not anchor:
        print("(the Postfix → Dovecot anchor needs root, postfix, dovecot-lmtpd: not measured)")
    if a.table:
        rows = [(1, a.size, max(200, a.n // 10)), (10, a.size, a.n), (50, a.size, a.n),
                (200, a.size, max(a.n, 2000)), (10, 1 << 20, 200)]
    else:
        rows = [(a.c, a.size, a.n)]
    work = tempfile.mkdtemp(prefix="certa-bench-")
    clients = max(c for c, _, _ in rows)
    results = []

    def run_rows(server):
        try:
            for c, size, n in rows:
                results.append(((c, size), server.measure(c, n, size)))
        finally:
            server.stop()

    try:
        run_rows(Certa(a.certa, work, clients, a.preload))
        if anchor:
            run_rows(Plain(work, clients))
    finally:
        if a.keep:
            print(f"data and logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    speed = openssl_speed()
    box = f", into a box of {a.preload:,} messages" if a.preload else ""
    print(f"pipeline benchmark{box} (end to end = accepted, delivered and, for PEC, every receipt stored)")
    print(f"{'C':>4} {'size':>6}  {'server':28} {'msgs':>6} {'err':>4} {'250/s':>7} {'end-to-end/s':>13} {'p50 ms':>8} {'p99 ms':>8}")
    for (c, size), r in sorted(results, key=lambda x: (x[0][1], x[0][0])):
        print(f"{c:>4} {size_label(size):>6}  {r['name']:28} {r['total']:>6} {len(r['errors']):>4} "
              f"{r['accepted']:>7.0f} {r['rate']:>13.0f} {r['p50']:>8.1f} {r['p99']:>8.1f}")
    by_row = {}
    for key, r in results:
        by_row.setdefault(key, []).append(r)
    for (c, size), rs in sorted(by_row.items(), key=lambda x: (x[0][1], x[0][0])):
        if len(rs) == 2:
            print(f"  C={c} {size_label(size)}: Certa / Postfix end to end = {rs[0]['rate'] / rs[1]['rate']:.2f}")
    main_row = [r for (c, size), r in results if r["name"].startswith("Certa")]
    if main_row:
        rate = max(r["rate"] for r in main_row)
        print(f"raw RSA-2048 sign (openssl speed, one core) {speed:.0f} /s; "
              f"{rate * 3:.0f} signatures/s at the best PEC row = {rate * 3 / speed * 100:.0f} % of one core")
    for _, r in results:
        if r["errors"]:
            print(f"  {r['name']}: first error: {r['errors'][0]}")


main()
