#!/usr/bin/env python3
"""What hostile IMAP clients cost a release `certa serve` (security review H3, M1): the
server's RSS (VmRSS of /proc/PID/status) before and after

  1. 100 unauthenticated connections, each announcing a 100 MB APPEND literal (half
     synchronising, half LITERAL+): the literals are refused before they are read, so the
     connections must add less than 10 MB in all;
  2. 1,000 idle logged-in connections with INBOX selected: about 6 KB each (about 8 KB
     before the security review's fixes; at most 16 KB is accepted).

Plain TCP on loopback with `allow_plaintext_auth`; the per-address cap is raised for the
run (all clients come from 127.0.0.1). Exits non-zero if a check fails.

    cargo build --release -p certa && python3 bench/imap_hostile.py
"""
import argparse
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CERTA = os.path.join(ROOT, "target", "release", "certa")
PASSWORD = "Rosso#Tramonto7"
USER = "utente@pec.bench.test"


def port_free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        s.close()


def port_base():
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        base = s.getsockname()[1]
        s.close()
        if base <= 65000 and all(port_free(base + i) for i in range(8)):
            return base


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Client:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.f = self.s.makefile("rb")
        greeting = self.f.readline()
        if not greeting.startswith(b"* OK"):
            raise RuntimeError(f"greeting {greeting!r}")

    def until(self, tag):
        while True:
            line = self.f.readline()
            if not line:
                raise RuntimeError("connection closed")
            if line.startswith(tag + b" "):
                return line

    def cmd(self, tag, text):
        self.s.sendall(tag + b" " + text + b"\r\n")
        line = self.until(tag)
        if not line.startswith(tag + b" OK"):
            raise RuntimeError(line)

    def close(self):
        self.s.close()


def start(work, per_ip):
    data = os.path.join(work, "certa")
    base = port_base()
    subprocess.run([CERTA, "quickstart", "--data", data, "--domain", "pec.bench.test",
                    "--port-base", str(base)], check=True, capture_output=True)
    cfg = os.path.join(data, "certa.toml")
    text = open(cfg).read()
    text = text.replace("allow_plaintext_auth = false", "allow_plaintext_auth = true")
    text = text.replace("max_connections_per_ip = 100", f"max_connections_per_ip = {per_ip}")
    open(cfg, "w").write(text)
    subprocess.run([CERTA, "--data", data, "mailbox", "passwd", USER, "--password", PASSWORD],
                   check=True, capture_output=True)
    log = open(os.path.join(data, "serve.log"), "ab")
    proc = subprocess.Popen([CERTA, "--data", data, "serve"], stdout=subprocess.DEVNULL,
                            stderr=log)
    port = base + 3
    deadline = time.time() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", base + 7), timeout=1).close()
            break
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                raise RuntimeError("certa serve did not start")
            time.sleep(0.1)
    return proc, port


def announced_literals(pid, port, n):
    """RSS growth (KB) with n unauthenticated connections announcing 100 MB literals."""
    warm = Client(port)
    warm.cmd(b"w", b"CAPABILITY")
    time.sleep(0.5)
    before = rss_kb(pid)
    conns = []
    for i in range(n):
        c = Client(port)
        if i % 2 == 0:
            c.s.sendall(b"x APPEND INBOX {104857600}\r\n")
            line = c.f.readline()
            if not line.startswith(b"x NO [TOOBIG]"):
                raise RuntimeError(f"synchronising literal: {line!r}")
        else:
            # LITERAL+: the client starts sending without waiting.
            c.s.sendall(b"x APPEND INBOX {104857600+}\r\n" + b"z" * 16)
            line = c.f.readline()
            if not line.startswith(b"* BYE"):
                raise RuntimeError(f"non-synchronising literal: {line!r}")
        conns.append(c)
    time.sleep(1)
    after = rss_kb(pid)
    # The server still answers.
    warm.cmd(b"v", b"NOOP")
    for c in conns + [warm]:
        c.close()
    return after - before


def idle_logged_in(pid, port, n):
    """RSS growth per connection (KB) with n logged-in connections idle in INBOX."""
    warm = Client(port)
    warm.cmd(b"l", b'LOGIN ' + USER.encode() + b' "' + PASSWORD.encode() + b'"')
    warm.cmd(b"s", b"SELECT INBOX")
    time.sleep(0.5)
    before = rss_kb(pid)
    conns = []
    for _ in range(n):
        c = Client(port)
        c.cmd(b"l", b'LOGIN ' + USER.encode() + b' "' + PASSWORD.encode() + b'"')
        c.cmd(b"s", b"SELECT INBOX")
        conns.append(c)
    time.sleep(1)
    after = rss_kb(pid)
    for c in conns + [warm]:
        c.close()
    return (after - before) / n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--literals", type=int, default=100)
    ap.add_argument("--idle", type=int, default=1000)
    args = ap.parse_args()
    if not os.path.exists(CERTA):
        sys.exit(f"{CERTA} is missing: cargo build --release -p certa")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    failures = []
    with tempfile.TemporaryDirectory() as work:
        proc, port = start(work, per_ip=2 * max(args.idle, args.literals) + 10)
        try:
            grown = announced_literals(proc.pid, port, args.literals)
            print(f"{args.literals} unauthenticated connections announcing 100 MB literals: "
                  f"RSS +{grown / 1024:.1f} MB (limit 10 MB)")
            if grown >= 10 * 1024:
                failures.append("announced literals")
            per_conn = idle_logged_in(proc.pid, port, args.idle)
            print(f"{args.idle} idle logged-in connections: {per_conn:.1f} KB per connection "
                  f"(expected about 6 KB, at most 16 KB)")
            if per_conn > 16:
                failures.append("idle connections")
        finally:
            proc.kill()
            proc.wait()
    if failures:
        sys.exit("FAILED: " + ", ".join(failures))
    print("OK")


if __name__ == "__main__":
    main()
