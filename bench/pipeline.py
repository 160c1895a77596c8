#!/usr/bin/env python3
"""Certa pipeline benchmark (a figure, not a test).

N PEC messages over SMTP (implicit TLS, persistent authenticated connections) from C
concurrent clients to local recipients. Prints PEC messages per second end to end (accepted,
enveloped, delivered, every receipt stored) and p50/p99 time to the acceptance (the `250`,
which is given once the acceptance is on disk), beside the machine's raw RSA-2048 sign rate
measured in the same run and the ratio to it (a local message needs three signatures:
acceptance, envelope, delivery receipt).

    cargo build --release -p certa && python3 bench/pipeline.py -n 2000 -c 10
"""
import argparse, os, re, socket, sqlite3, ssl, smtplib, statistics, subprocess, sys, tempfile, threading, time

PASSWORD = "Rosso#Tramonto7"


def free_base():
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


def openssl_speed():
    out = subprocess.run(["openssl", "speed", "-seconds", "3", "rsa2048"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.strip().startswith("rsa 2048 bits"):
            return float(line.split()[5])
    return float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--certa", default="target/release/certa")
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("-c", type=int, default=10)
    a = ap.parse_args()
    data = tempfile.mkdtemp(prefix="certa-bench-")
    base = free_base()
    run = lambda *args: subprocess.run([a.certa, "--data", data, *args], check=True, capture_output=True, text=True)
    run("quickstart", "--domain", "pec.bench.test", "--port-base", str(base))
    for i in range(a.c):
        run("mailbox", "add", f"s{i}@pec.bench.test", "--password", PASSWORD, "--quota", "100GB")
        run("mailbox", "add", f"r{i}@pec.bench.test", "--password", PASSWORD, "--quota", "100GB")
    # Throughput is the subject, not the per-mailbox sending limit (60 a minute by default).
    cfg = os.path.join(data, "certa.toml")
    text = open(cfg).read()
    for key, default in [("messages_per_minute", 60), ("messages_per_hour", 1000)]:
        assert f"{key} = {default}" in text, key
        text = text.replace(f"{key} = {default}", f"{key} = 1000000000")
    open(cfg, "w").write(text)
    # The server logs at its configured level (info), as in production, into a file.
    log = open(os.path.join(data, "serve.log"), "ab")
    server = subprocess.Popen([a.certa, "--data", data, "serve"], stdout=subprocess.DEVNULL,
                              stderr=log)
    try:
        while True:
            try:
                socket.create_connection(("127.0.0.1", base + 2), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        ctx = ssl.create_default_context(cafile=os.path.join(data, "pki/ca.pem"))
        conns = []
        for i in range(a.c):
            s = smtplib.SMTP_SSL("127.0.0.1", base + 2, context=ctx, timeout=120)
            s.login(f"s{i}@pec.bench.test", PASSWORD)
            conns.append(s)
        latencies, errors = [], []
        lock = threading.Lock()
        per = a.n // a.c
        body = ("x" * 78 + "\r\n") * 25

        def client(i):
            s, frm, to = conns[i], f"s{i}@pec.bench.test", f"r{i}@pec.bench.test"
            for k in range(per):
                msg = f"From: {frm}\r\nTo: {to}\r\nSubject: bench {i}/{k}\r\nMessage-ID: <b{i}.{k}@bench>\r\n\r\n{body}\r\n".encode()
                t0 = time.perf_counter()
                try:
                    s.sendmail(frm, [to], msg)
                    dt = time.perf_counter() - t0
                    with lock:
                        latencies.append(dt)
                except smtplib.SMTPException as e:
                    with lock:
                        errors.append(str(e))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(a.c)]
        start = time.perf_counter()
        for t in threads: t.start()
        for t in threads: t.join()
        accepted_at = time.perf_counter()
        total = per * a.c
        db = sqlite3.connect(os.path.join(data, "certa.db"), timeout=30)
        while True:
            done = db.execute("SELECT count(*) FROM messages WHERE pec_kind = 'avvenuta-consegna-completa'").fetchone()[0]
            if done >= total - len(errors):
                break
            time.sleep(0.05)
        end = time.perf_counter()
        for s in conns:
            try:
                s.quit()
            except smtplib.SMTPException:
                pass
    finally:
        server.terminate(); server.wait()
    speed = openssl_speed()
    lat = sorted(latencies)
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
    rate = (total - len(errors)) / (end - start)
    print(f"certa pipeline benchmark: {total} messages, {a.c} concurrent clients, {len(errors)} errors")
    print(f"  accepted (250) per second          {total / (accepted_at - start):8.0f} /s")
    print(f"  PEC messages per second, end to end {rate:8.0f} /s   (acceptance, envelope, delivery, receipts stored)")
    print(f"  time to acceptance p50 / p99       {p(0.50):8.1f} ms / {p(0.99):.1f} ms")
    print(f"  raw RSA-2048 sign (openssl speed)  {speed:8.0f} /s   (one core)")
    print(f"  signatures per second used         {rate * 3:8.0f} /s = {rate * 3 / speed * 100:.0f} % of one core's sign rate")
    if errors:
        print("  first error:", errors[0])


main()
