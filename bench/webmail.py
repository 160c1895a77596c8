#!/usr/bin/env python3
"""Webmail benchmark (not a test): the list page of a 50,000-message folder and a body-text
search over 50,000 messages, under load from wrk (Debian's package) over HTTPS. Prints p50
and p99 latency for each. Target on a 2-core machine: p99 under 150 ms for the list, under
500 ms for the search.

    cargo build --release -p certa && python3 bench/webmail.py [--messages 50000]
"""
import argparse, http.cookiejar, os, random, re, resource, shutil, ssl, subprocess, sys, tempfile, urllib.parse, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import imap_vs_dovecot as b  # the same Certa launcher, IMAP client and message generator


def login(base_url, user):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE

    class Keep(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None

    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx), Keep)
    body = urllib.parse.urlencode({"address": user, "password": b.PASSWORD}).encode()
    try:
        opener.open(base_url + "/login", data=body, timeout=30)
    except urllib.error.HTTPError as e:
        cookie = e.headers["Set-Cookie"]
        return cookie.split(";")[0]
    sys.exit("login did not redirect")


def wrk(url, cookie, connections, seconds):
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency",
                          "-H", f"Cookie: {cookie}", url], capture_output=True, text=True, check=True).stdout
    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    reqs = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M).group(1)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        sys.exit(f"{url}: {errors.group(1)} error responses\n{out}")
    return pct(50), pct(99), float(reqs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=50000)
    ap.add_argument("--seconds", type=int, default=15)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("install wrk first: apt-get install wrk")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    work = tempfile.mkdtemp(prefix="certa-webbench-")
    server = b.Certa(work)
    try:
        rnd = random.Random(7)
        c = b.Client(server.port)
        c.login(server.user)
        batch = []
        for i in range(args.messages):
            batch.append(b.make_message(i, rnd))
            if len(batch) == 1000:
                c.append_many(b"INBOX", batch)
                batch = []
        if batch:
            c.append_many(b"INBOX", batch)
        c.close()
        server.wait_indexed()
        base_url = f"https://127.0.0.1:{server.port + 4}"
        cookie = login(base_url, server.user)
        rows = [
            ("list page (50 of %d), 8 conns" % args.messages, base_url + "/?f=INBOX", 8),
            ("list page sorted by subject, 8 conns", base_url + "/?f=INBOX&sort=subject&dir=asc&page=300", 8),
            ("body search over %d, 2 conns" % args.messages, base_url + "/search?q=zanzibar&field=body&scope=folder&f=INBOX", 2),
            ("whole-message search, all folders, 2 conns", base_url + "/search?q=zanzibar&field=all&scope=all", 2),
            ("body search, a word in most messages, 2 conns", base_url + "/search?q=protocollo&field=body&scope=folder&f=INBOX", 2),
        ]
        print(f"{'page':44} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}")
        for name, url, conns in rows:
            p50, p99, rps = wrk(url, cookie, conns, args.seconds)
            print(f"{name:44} {p50:8.1f} {p99:8.1f} {rps:8.1f}", flush=True)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
