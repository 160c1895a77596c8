"""Four clients APPEND 50 messages each; every tagged OK is written (with its APPENDUID) to
OUT, one line per message, flushed before the next command, so a crash of the server leaves
an exact record of what it confirmed.

Usage: append_clients.py IMAPS_PORT CA_PEM USER PASSWORD OUT
"""
import imaplib
import ssl
import sys
import threading

port, ca, user, password, out = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=ca)
lock = threading.Lock()
log = open(out, "a")


def client(k):
    try:
        m = imaplib.IMAP4_SSL("127.0.0.1", int(port), ssl_context=ctx)
        m.login(user, password)
        for i in range(50):
            body = f"Subject: c{k}-{i}\r\nMessage-ID: <c{k}-{i}@crash>\r\n\r\n" + "riga\r\n" * 200
            typ, data = m.append("INBOX", None, None, body.encode())
            if typ != "OK":
                return
            code = data[0].decode()
            with lock:
                log.write(f"c{k}-{i} {code}\n")
                log.flush()
    except Exception:
        return  # the server was killed


threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
