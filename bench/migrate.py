#!/usr/bin/env python3
"""Migration benchmark (issue 15): an old provider's box copied into Certa, beside mbsync.

A figure, not a test. One Dovecot (the "old provider" of the migration tests: Debian's Dovecot
over IMAPS with a CA of its own) seeded once with N messages of SIZE bytes; one Certa with a
fresh destination mailbox per row; every tool copies the old INBOX over IMAPS, on loopback, in
one run:

  Certa          `certa migrate start` → `certa serve`'s engine, timed from the command to
                 the job's `copied` (polled every 50 ms); the engine's own run time beside it
  mbsync         isync, Far = Dovecot INBOX, Near = a folder on Certa's IMAPS (`Sync Pull`,
                 `Create Near`, `Expunge None`, `CopyArrivalDate yes` as Certa keeps the
                 dates too, default pipelining)
  mbsync→Maildir the same channel into a local Maildir: the upper bound of the reading side
                 (no server writes on the other end); a reference, not the goal
  imapsync       if installed (not packaged in Debian 12): `--folder INBOX` into a folder
  no-op sync     `certa migrate sync` on the copied job: the engine's run time (goal < 0.5 s)
                 and the wall time to the new run (which includes the engine's ~1 s poll)

Each destination is counted afterwards over IMAPS (SELECT → EXISTS; the Maildir by its files):
a row that did not copy all N messages says so and gets no figure against the goal.
Goal: Certa ≥ 1.5 × mbsync's messages/s, and a no-op re-sync of N messages under 0.5 s.

    cargo build --release -p certa && sudo python3 bench/migrate.py      # 10,000 × 10 KB
    CERTA_BIN=/path/to/certa python3 bench/migrate.py --messages 2000 --keep --json out.json
    python3 bench/migrate.py --rows certa --batch-messages 512     # tuning: Certa's row alone

Needs root (Dovecot runs the mail processes as its own user), dovecot-imapd and isync.
"""
import argparse, contextlib, imaplib, io, json, os, re, shutil, signal, socket, ssl, \
    statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "crates", "certa", "tests", "clients"))
import old_provider

PASSWORD = "Rosso#Tramonto7"
DOMAIN = "pec.nuovo.test"
MBSYNC = "/usr/bin/mbsync"
# The destination boxes, one per row that writes into Certa.
BOX = {"certa": f"copia-certa@{DOMAIN}", "mbsync": f"copia-mbsync@{DOMAIN}",
       "imapsync": f"copia-imapsync@{DOMAIN}"}
MBSYNC_FOLDER = "mbsync-copy"
# The rows, by their --rows names; each row's tool as the table shows it.
ROWS = {"maildir": "mbsync → local Maildir (bound)", "mbsync": "mbsync → Certa IMAPS",
        "imapsync": "imapsync → Certa IMAPS", "certa": "Certa migrate"}
IMAPSYNC_FOLDER = "imapsync-copy"


def free_base():
    """A base port with the 8 ports after it free (Certa's listeners)."""
    while True:
        s = socket.socket(); s.bind(("127.0.0.1", 0)); base = s.getsockname()[1]; s.close()
        if base > 65000:
            continue
        ok = True
        for i in range(8):
            t = socket.socket()
            try:
                t.bind(("127.0.0.1", base + i))
            except OSError:
                ok = False
            t.close()
        if ok:
            return base


def wait_port(port, timeout=60):
    deadline = time.time() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.time() > deadline:
                raise RuntimeError(f"nothing listening on {port}")
            time.sleep(0.05)


def imaps(port, ca, user, password):
    ctx = ssl.create_default_context(cafile=ca)
    m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx, timeout=600)
    m.login(user, password)
    return m


def quoted(folder):
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def folder_figures(port, ca, user, password, folder):
    """(messages, bytes) of an IMAP folder: SELECT's EXISTS and the sum of RFC822.SIZE;
    (0, 0) when the folder does not exist."""
    m = imaps(port, ca, user, password)
    try:
        typ, data = m.select(quoted(folder), readonly=True)
        if typ != "OK":
            return 0, 0
        count = int(data[0])
        size = 0
        if count:
            typ, data = m.fetch("1:*", "(RFC822.SIZE)")
            for line in data:
                if isinstance(line, tuple):
                    line = line[0]
                s = re.search(rb"RFC822\.SIZE (\d+)", line or b"")
                if s:
                    size += int(s.group(1))
        return count, size
    finally:
        try:
            m.logout()
        except (imaplib.IMAP4.error, OSError):
            pass


def tail(path, lines=30):
    try:
        with open(path, "rb") as f:
            return b"\n".join(f.read().splitlines()[-lines:]).decode(errors="replace")
    except OSError:
        return f"({path} unreadable)"


class OldProvider:
    """Dovecot over IMAPS with its own CA (tests/clients/old_provider.py), N messages in INBOX."""

    def __init__(self, work, n, size):
        self.dir = os.path.join(work, "old")
        os.makedirs(self.dir)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):  # setup prints its figures as JSON
            old_provider.setup(self.dir)
        info = json.loads(out.getvalue().strip().splitlines()[-1])
        self.conf, self.ca, self.port = info["conf"], info["ca"], int(info["imaps"])
        self.user, self.password = old_provider.USER, old_provider.PASSWORD
        t = time.perf_counter()
        old_provider.bulk(self.dir, n, size)
        self.seed_s = time.perf_counter() - t
        self.proc = subprocess.Popen(["/usr/sbin/dovecot", "-F", "-c", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)
        self.warm()

    def warm(self):
        """Dovecot indexes a maildir on its first access and the files come from disk on the
        first read: both paid here, once, so that no row pays them for the others. The
        source's message count and bytes (as IMAP gives them, CRLF) are the rows' reference."""
        t = time.perf_counter()
        m = imaps(self.port, self.ca, self.user, self.password)
        typ, data = m.select("INBOX", readonly=True)
        assert typ == "OK", (typ, data)
        self.messages = int(data[0])
        self.bytes = 0
        if self.messages:
            typ, data = m.fetch("1:*", "(UID FLAGS INTERNALDATE RFC822.SIZE)")
            for line in data:
                s = re.search(rb"RFC822\.SIZE (\d+)", line if isinstance(line, bytes) else line[0])
                if s:
                    self.bytes += int(s.group(1))
        m.logout()
        cur = os.path.join(self.dir, "mail", self.user, "cur")
        for name in os.listdir(cur):
            with open(os.path.join(cur, name), "rb") as f:
                f.read()
        self.warm_s = time.perf_counter() - t

    def listing_ms(self, repeat=5):
        """What the old server alone takes for what a no-op sync must ask at least: connect,
        TLS, LOGIN, EXAMINE INBOX, UID FETCH 1:* (RFC822.SIZE), LOGOUT; a bare client that
        reads the answers without parsing them. (total ms, UID FETCH ms), best of `repeat`."""
        def q(text):
            return b'"' + text.replace("\\", "\\\\").replace('"', '\\"').encode() + b'"'
        best = (float("inf"), float("inf"))
        ctx = ssl.create_default_context(cafile=self.ca)
        for _ in range(repeat):
            t = time.perf_counter()
            s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.port)),
                                server_hostname="127.0.0.1")
            f = s.makefile("rb")
            f.readline()

            def cmd(tag, text):
                s.sendall(tag + b" " + text + b"\r\n")
                while True:
                    line = f.readline()
                    if not line:
                        raise RuntimeError("Dovecot closed the connection")
                    if line.startswith(tag + b" "):
                        if not line.startswith(tag + b" OK"):
                            raise RuntimeError(line)
                        return
            cmd(b"a", b"LOGIN " + q(self.user) + b" " + q(self.password))
            cmd(b"b", b"EXAMINE INBOX")
            t_fetch = time.perf_counter()
            cmd(b"c", b"UID FETCH 1:* (RFC822.SIZE)")
            fetch = time.perf_counter() - t_fetch
            cmd(b"d", b"LOGOUT")
            s.close()
            total = time.perf_counter() - t
            best = min(best, (total * 1000, fetch * 1000))
        return best

    def version(self):
        r = subprocess.run(["/usr/sbin/dovecot", "--version"], capture_output=True, text=True)
        return "Dovecot " + (r.stdout.split()[0] if r.stdout.split() else "?")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def set_toml_key(text, section, key, value):
    """`key = value` in `[section]` of a TOML text (added, or replaced if there)."""
    head = re.search(rf"(?m)^\[{re.escape(section)}\]\s*$", text)
    if not head:
        return text.rstrip("\n") + f"\n\n[{section}]\n{key} = {value}\n"
    start = head.end()
    nxt = re.search(r"(?m)^\[", text[start:])
    end = start + nxt.start() if nxt else len(text)
    body = text[start:end]
    line = re.compile(rf"(?m)^{re.escape(key)}\s*=.*$")
    if line.search(body):
        body = line.sub(f"{key} = {value}", body, count=1)
    else:
        body = f"\n{key} = {value}" + body
    return text[:start] + body + text[end:]


class Certa:
    """A provider made by `certa quickstart`, a box per row, `certa serve` running."""

    def __init__(self, binary, work, batch_messages, batch_bytes):
        self.binary = binary
        self.data = os.path.join(work, "certa")
        self.base = free_base()
        self.run("quickstart", "--domain", DOMAIN, "--port-base", str(self.base))
        self.imaps = self.base + 4
        self.ca = os.path.join(self.data, "pki", "ca.pem")
        for address in BOX.values():
            self.run("mailbox", "add", address, "--password", PASSWORD, "--quota", "10GB")
        cfg = os.path.join(self.data, "certa.toml")
        text = open(cfg).read()
        if batch_messages:
            text = set_toml_key(text, "migration", "batch_messages", batch_messages)
        if batch_bytes:
            text = set_toml_key(text, "migration", "batch_bytes", batch_bytes)
        open(cfg, "w").write(text)
        self.log_path = os.path.join(self.data, "serve.log")
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([binary, "--data", self.data, "serve"],
                                     stdout=subprocess.DEVNULL, stderr=log)
        wait_port(self.base + 7)
        wait_port(self.imaps)

    def run(self, *args):
        r = subprocess.run([self.binary, "--data", self.data, *args], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"certa {' '.join(args)}: exit {r.returncode}\n{r.stdout}{r.stderr}")
        return r.stdout

    def job(self, address):
        jobs = json.loads(self.run("migrate", "status", address, "--json"))
        return jobs[0] if isinstance(jobs, list) else jobs

    def alive(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"certa serve exited ({self.proc.returncode}); its log:\n{tail(self.log_path)}")

    def unindexed(self):
        """Messages the background indexer has not reached yet (it competes for the CPU)."""
        import sqlite3
        db = sqlite3.connect(f"file:{os.path.join(self.data, 'certa.db')}?mode=ro", uri=True, timeout=30)
        try:
            return db.execute("SELECT count(*) FROM messages WHERE text_id IS NULL").fetchone()[0]
        except sqlite3.Error:
            return 0
        finally:
            db.close()

    def settle(self, timeout=600):
        """Waits until the indexer has caught up, so that the next row has the CPU to itself."""
        deadline = time.time() + timeout
        while self.unindexed() > 0 and time.time() < deadline:
            time.sleep(0.5)

    def store_sizes(self):
        """Bytes of the database, its WAL and the blob directory (while serve runs)."""
        out = {}
        for name in ("certa.db", "certa.db-wal"):
            path = os.path.join(self.data, name)
            out[name] = os.path.getsize(path) if os.path.exists(path) else 0
        out["blobs"] = sum(os.path.getsize(os.path.join(r, f))
                           for r, _, files in os.walk(os.path.join(self.data, "blobs")) for f in files)
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def row(tool, n_expected, copied, seconds, nbytes, note="", **extra):
    r = {"tool": tool, "expected": n_expected, "copied": copied, "seconds": seconds,
         "msg_s": copied / seconds if seconds else float("nan"),
         "mb_s": nbytes / seconds / 1e6 if seconds else float("nan"),
         "complete": copied == n_expected, "note": note}
    r.update(extra)
    return r


def measure_certa(certa, old, poll):
    """`migrate start` → the job `copied` after its first run; time from the command."""
    address = BOX["certa"]
    pw = os.path.join(certa.data, "old-password.txt")
    open(pw, "w").write(old.password + "\n")
    t0 = time.perf_counter()
    certa.run("migrate", "start", address, "--old-address", old.user, "--password-file", pw,
              "--server", f"127.0.0.1:{old.port}", "--ca", old.ca, "--into", "folder")
    polls, poll_s = 0, 0.0
    while True:
        p0 = time.perf_counter()
        job = certa.job(address)
        poll_s += time.perf_counter() - p0
        polls += 1
        if job["state"] == "copied" and job["runs"] >= 1:
            break
        if job["state"] in ("failed", "stopped", "finished"):
            raise RuntimeError(f"Certa's copy ended {job['state']}: {job.get('error_kind')}: "
                               f"{job.get('error_detail')}\nserve log:\n{tail(certa.log_path)}")
        certa.alive()
        time.sleep(poll)
    wall = time.perf_counter() - t0
    # The destination: the folder named after the old address.
    folder = old.user.lower()
    copied, nbytes = folder_figures(certa.imaps, certa.ca, address, PASSWORD, folder)
    engine_s = (job.get("last_run_ms") or 0) / 1000
    return row(ROWS["certa"], old.messages, copied, wall, old.bytes,
               f"engine run {engine_s:.2f} s = {copied / engine_s if engine_s else 0:.0f} msg/s; "
               f"status {poll_s / polls * 1000:.0f} ms/poll",
               engine_s=engine_s, dest_bytes=nbytes, job=job, polls=polls)


def measure_noop(certa, old, poll, repeat):
    """`migrate sync` on the copied job, until the run after it is recorded; `repeat` times."""
    address = BOX["certa"]
    runs = []
    for _ in range(repeat):
        before = certa.job(address)
        t0 = time.perf_counter()
        certa.run("migrate", "sync", address)
        while True:
            job = certa.job(address)
            if job["runs"] > before["runs"] and job["state"] not in ("preparing", "copying"):
                break
            certa.alive()
            if time.perf_counter() - t0 > 300:
                raise RuntimeError(f"no run within 300 s of `migrate sync`: {job}")
            time.sleep(poll)
        wall = time.perf_counter() - t0
        if job["state"] != "copied":
            raise RuntimeError(f"the re-sync ended {job['state']}: {job.get('error_kind')}: "
                               f"{job.get('error_detail')}\nserve log:\n{tail(certa.log_path)}")
        runs.append({"engine_ms": job["last_run_ms"], "wall_s": wall,
                     "copied_before": before["copied_messages"], "copied_after": job["copied_messages"]})
    copied, _ = folder_figures(certa.imaps, certa.ca, address, PASSWORD, old.user.lower())
    return {"runs": runs, "messages_after": copied,
            "max_engine_ms": max(r["engine_ms"] for r in runs),
            "median_engine_ms": statistics.median(r["engine_ms"] for r in runs)}


def mbsync_conf(path, old, near, state_dir):
    """An mbsync configuration: Far = the old INBOX, Near = `near` (a config block naming a
    store `near` and the folder), pull only, nothing expunged. Host `localhost`: mbsync
    checks the certificate's DNS names, not its IP addresses (both certificates name
    localhost)."""
    def q(s):
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    store, folder, block = near
    text = f"""# bench/migrate.py
IMAPAccount old
Host localhost
Port {old.port}
User {q(old.user)}
Pass {q(old.password)}
SSLType IMAPS
CertificateFile {old.ca}
AuthMechs LOGIN

IMAPStore old
Account old

{block}
Channel copy
Far :old:INBOX
Near :{store}:{folder}
Sync Pull
Create Near
Expunge None
CopyArrivalDate yes
SyncState {state_dir}/
"""
    open(path, "w").write(text)
    return path


def run_mbsync(work, name, old, near):
    state = os.path.join(work, f"{name}-state")
    os.makedirs(state)
    conf = mbsync_conf(os.path.join(work, f"{name}.mbsyncrc"), old, near, state)
    log = os.path.join(work, f"{name}.log")
    t0 = time.perf_counter()
    with open(log, "wb") as f:
        r = subprocess.run([MBSYNC, "-c", conf, "copy"], stdout=f, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        print(f"  mbsync ({name}) exited {r.returncode}; its output:\n{tail(log)}")
    return seconds, r.returncode


def measure_mbsync_certa(work, old, certa):
    block = f"""IMAPAccount new
Host localhost
Port {certa.imaps}
User "{BOX['mbsync']}"
Pass "{PASSWORD}"
SSLType IMAPS
CertificateFile {certa.ca}
AuthMechs LOGIN

IMAPStore new
Account new
"""
    seconds, rc = run_mbsync(work, "mbsync-certa", old, ("new", MBSYNC_FOLDER, block))
    copied, nbytes = folder_figures(certa.imaps, certa.ca, BOX["mbsync"], PASSWORD, MBSYNC_FOLDER)
    return row(ROWS["mbsync"], old.messages, copied, seconds, old.bytes,
               f"exit {rc}" if rc else "", dest_bytes=nbytes)


def measure_mbsync_maildir(work, old):
    root = os.path.join(work, "maildir")
    os.makedirs(root)
    block = f"""MaildirStore local
Path {root}/
Inbox {root}/INBOX
SubFolders Verbatim
"""
    seconds, rc = run_mbsync(work, "mbsync-maildir", old, ("local", MBSYNC_FOLDER, block))
    copied = 0
    for sub in ("cur", "new"):
        d = os.path.join(root, MBSYNC_FOLDER, sub)
        if os.path.isdir(d):
            copied += len(os.listdir(d))
    return row(ROWS["maildir"], old.messages, copied, seconds, old.bytes,
               (f"exit {rc}; " if rc else "") + "reference: no server write")


def find_imapsync(explicit):
    for candidate in (explicit, shutil.which("imapsync"),
                      os.path.join(ROOT, "..", "shared", "vendor", "imapsync", "imapsync")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def measure_imapsync(work, old, certa, binary):
    if not binary:
        return {"tool": ROWS["imapsync"], "skipped": "not installed (not packaged in Debian 12)"}
    log = os.path.join(work, "imapsync.log")
    # imapsync does not verify certificates unless asked; the copy is over TLS all the same.
    args = [binary, "--host1", "127.0.0.1", "--port1", str(old.port), "--ssl1",
            "--user1", old.user, "--password1", old.password,
            "--host2", "127.0.0.1", "--port2", str(certa.imaps), "--ssl2",
            "--user2", BOX["imapsync"], "--password2", PASSWORD,
            "--folder", "INBOX", "--regextrans2", f"s/INBOX/{IMAPSYNC_FOLDER}/",
            "--noreleasecheck", "--nolog"]
    t0 = time.perf_counter()
    with open(log, "wb") as f:
        r = subprocess.run(args, stdout=f, stderr=subprocess.STDOUT, cwd=work)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        print(f"  imapsync exited {r.returncode}; its output:\n{tail(log)}")
    copied, nbytes = folder_figures(certa.imaps, certa.ca, BOX["imapsync"], PASSWORD, IMAPSYNC_FOLDER)
    return row(ROWS["imapsync"], old.messages, copied, seconds, old.bytes,
               f"exit {r.returncode}" if r.returncode else "", dest_bytes=nbytes)


def print_table(rows, old, size, noop, ratio):
    print()
    print(f"migration benchmark: {old.messages:,} messages × {size // 1024} KB "
          f"({old.bytes / 1e6:.1f} MB as IMAP sends them) from {old.version()} over IMAPS, loopback")
    print(f"{'tool':32} {'copied':>7} {'seconds':>8} {'msg/s':>8} {'MB/s':>7}  note")
    for r in rows:
        if "skipped" in r:
            print(f"{r['tool']:32} {'-':>7} {'-':>8} {'-':>8} {'-':>7}  {r['skipped']}")
            continue
        note = r["note"]
        if not r["complete"]:
            note = f"!!! INCOMPLETE: {r['copied']} of {r['expected']} copied, no figure !!! " + note
            print(f"{r['tool']:32} {r['copied']:>7} {r['seconds']:>8.2f} {'-':>8} {'-':>7}  {note}")
            continue
        if r.get("dest_bytes") is not None and r["dest_bytes"] != old.bytes:
            # mbsync adds an X-TUID header to every message it stores (22 bytes).
            extra = (r["dest_bytes"] - old.bytes) / max(1, r["copied"])
            note += f"{'; ' if note else ''}bytes here {extra:+.0f} per message"
        print(f"{r['tool']:32} {r['copied']:>7} {r['seconds']:>8.2f} {r['msg_s']:>8.0f} {r['mb_s']:>7.2f}  {note}")
    print()
    if not any(r["tool"] == ROWS["certa"] for r in rows):
        print("(no Certa rows)")
    elif ratio:
        print(f"Certa / mbsync (messages/s): {ratio['wall']:.2f} from the command to `copied` "
              f"(includes up to ~1 s until the engine's poll picks the job up), "
              f"{ratio['engine']:.2f} by the engine's run time; "
              f"goal ≥ 1.5: {'met' if ratio['wall'] >= 1.5 else 'NOT met'}")
    else:
        print("Certa / mbsync: no ratio (a row is missing or incomplete)")
    if noop:
        engine = ", ".join(f"{r['engine_ms']} ms" for r in noop["runs"])
        walls = ", ".join(f"{r['wall_s']:.2f} s" for r in noop["runs"])
        print(f"no-op re-sync of {old.messages:,}: engine run {engine}, median {noop['median_engine_ms']:.0f} ms "
              f"(goal < 500 ms: {'met' if noop['max_engine_ms'] < 500 else 'NOT met'}, by the slowest); "
              f"wall from `migrate sync` to the run recorded {walls} "
              f"(includes the engine's ~1 s poll for due jobs)")
        total, fetch = noop["source_listing_ms"]
        print(f"  for reference, the old server alone (a bare client): connect, TLS, LOGIN, EXAMINE, "
              f"UID FETCH 1:* (RFC822.SIZE) of {old.messages:,}, LOGOUT in {total:.0f} ms "
              f"(the UID FETCH {fetch:.0f} ms)")
        if noop["messages_after"] != old.messages:
            print(f"!!! after the re-syncs the folder holds {noop['messages_after']} messages, "
                  f"not {old.messages} !!!")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--certa", default=os.environ.get("CERTA_BIN", os.path.join(ROOT, "target", "release", "certa")))
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--size", type=int, default=10 * 1024, help="bytes per message")
    ap.add_argument("--imapsync", help="the imapsync script (default: on PATH)")
    ap.add_argument("--batch-messages", type=int, help="[migration] batch_messages (default 256)")
    ap.add_argument("--batch-bytes", type=int, help="[migration] batch_bytes")
    ap.add_argument("--resyncs", type=int, default=3, help="no-op re-syncs after Certa's copy")
    ap.add_argument("--poll", type=float, default=0.05, help="seconds between `migrate status` polls")
    ap.add_argument("--rows", default=",".join(ROWS),
                    help=f"which rows, in this order, comma-separated (default: all: {','.join(ROWS)}); "
                         "`maildir` alone needs no Certa binary")
    ap.add_argument("--keep", action="store_true", help="keep the work directory, print where")
    ap.add_argument("--json", help="write the figures to this file")
    a = ap.parse_args()
    wanted = [r.strip() for r in a.rows.split(",") if r.strip()]
    if not wanted or any(r not in ROWS for r in wanted):
        sys.exit(f"--rows: a comma-separated list of {', '.join(ROWS)}")
    needs_certa = any(r != "maildir" for r in wanted)
    if not os.path.exists(MBSYNC):
        sys.exit("install isync first: apt-get install isync")
    if not os.path.exists("/usr/sbin/dovecot"):
        sys.exit("install Dovecot first: apt-get install dovecot-imapd")
    if needs_certa and not os.path.exists(a.certa):
        sys.exit(f"no Certa binary at {a.certa}: cargo build --release -p certa, or set CERTA_BIN")
    if os.getuid() != 0:
        print("(not root: Dovecot may refuse to run its mail processes)")
    work = tempfile.mkdtemp(prefix="certa-bench-migrate-")
    os.chmod(work, 0o755)  # Dovecot's processes (user dovecot) read below it
    old = certa = None
    rows, noop, ratio, store = [], None, None, None
    try:
        print(f"seeding {a.messages:,} × {a.size} bytes into Dovecot's maildir …", flush=True)
        old = OldProvider(work, a.messages, a.size)
        print(f"  written in {old.seed_s:.1f} s; Dovecot indexed and the files read once in "
              f"{old.warm_s:.1f} s; the source holds {old.messages:,} messages, {old.bytes:,} bytes", flush=True)
        if needs_certa:
            certa = Certa(a.certa, work, a.batch_messages, a.batch_bytes)
        # By default mbsync first, Certa last: Certa's own copy goes into a store that already
        # holds the other rows' messages (not the easier, empty one). After each row the
        # indexer is let catch up, so no row shares the CPU with the previous row's indexing.
        for name in wanted:
            print(f"{ROWS[name]} …", flush=True)
            if name == "maildir":
                rows.append(measure_mbsync_maildir(work, old))
            elif name == "mbsync":
                rows.append(measure_mbsync_certa(work, old, certa))
            elif name == "imapsync":
                rows.append(measure_imapsync(work, old, certa, find_imapsync(a.imapsync)))
            elif name == "certa":
                rows.append(measure_certa(certa, old, a.poll))
                certa.settle()
                if a.resyncs > 0:
                    print("no-op re-sync …", flush=True)
                    noop = measure_noop(certa, old, a.poll, a.resyncs)
                    noop["source_listing_ms"] = old.listing_ms()
            if certa:
                certa.settle()
        mine = next((r for r in rows if r["tool"] == ROWS["certa"]), None)
        theirs = next((r for r in rows if r["tool"] == ROWS["mbsync"]), None)
        if mine and theirs and mine["complete"] and theirs["complete"] and mine["engine_s"]:
            ratio = {"wall": mine["msg_s"] / theirs["msg_s"],
                     "engine": (mine["copied"] / mine["engine_s"]) / theirs["msg_s"]}
        if certa:
            store = certa.store_sizes()
    finally:
        if certa:
            certa.stop()
        if old:
            old.stop()
        if a.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print_table(rows, old, a.size, noop, ratio)
    if store:
        print("Certa's store after the run: " + ", ".join(f"{k} {v / 1e6:.0f} MB" for k, v in store.items()))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"messages": old.messages, "size": a.size, "source_bytes": old.bytes,
                       "rows": rows, "ratio_certa_mbsync": ratio, "noop": noop, "store": store,
                       "goal_ratio_met": bool(ratio and ratio["wall"] >= 1.5),
                       "goal_noop_met": bool(noop and noop["max_engine_ms"] < 500)}, f, indent=2)
    if any(not r.get("complete", True) for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
