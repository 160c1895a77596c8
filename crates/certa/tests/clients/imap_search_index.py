"""Body searches over IMAP that the full-text index answers, and the same searches when the
server must read messages it has not indexed.

Usage: imap_search_index.py IMAPS_PORT CA_PEM USER PASSWORD [--append]
With --append, first stores the corpus (six messages: plain, quoted-printable, base64, HTML
only, a PDF attachment, an encapsulated message). Then prints one line per search,
`key => uids`, for the caller to compare across runs.
"""
import imaplib
import ssl
import sys

port, ca, user, password = sys.argv[1:5]
m = imaplib.IMAP4_SSL("127.0.0.1", int(port), ssl_context=ssl.create_default_context(cafile=ca))
m.login(user, password)

CORPUS = [
    b"Subject: Fattura\r\nFrom: Ufficio <ufficio@pec.alpha.test>\r\n\r\n"
    b"Gentile cliente, la fattura n. 42 e' allegata.\r\n",
    b"Subject: domanda\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"perch=C3=A9 no, ri=\r\nsponde lui\r\n",
    b"Subject: viaggio\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"WmFuemliYXIgw6ggbG9udGFuYQ==\r\n",
    b"Subject: riunione\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    b"<p>Riunione <b>annullata</b></p>\r\n",
    b"Subject: allegato\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n"
    b"--b1\r\nContent-Type: text/plain\r\n\r\nIn allegato il documento.\r\n"
    b"--b1\r\nContent-Type: application/pdf; name=doc.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"JVBERi0xLjQgc2VncmV0aXNzaW1v\r\n--b1--\r\n",
    b"Subject: busta\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b2\r\n\r\n"
    b"--b2\r\nContent-Type: text/plain\r\n\r\nMessaggio di posta certificata\r\n"
    b"--b2\r\nContent-Type: message/rfc822\r\n\r\n"
    b"Subject: originale\r\n\r\nIl contratto firmato e' pronto.\r\n--b2--\r\n",
]

if "--append" in sys.argv:
    for msg in CORPUS:
        typ, data = m.append("INBOX", None, None, msg)
        assert typ == "OK", data

m.select("INBOX", readonly=True)
SEARCHES = [
    ["BODY", '"fattura n. 42"'],
    ["BODY", "42"],
    ["CHARSET", "UTF-8", "BODY", '"PERCH\xc9"'],
    ["BODY", "risponde"],
    ["BODY", "ZANZIBAR"],
    ["BODY", "annullata"],
    ["BODY", "segretissimo"],
    ["BODY", '"contratto firmato"'],
    ["BODY", "certificata"],
    ["OR", "BODY", "zanzibar", "BODY", "contratto"],
    ["NOT", "BODY", "zanzibar"],
    ["SUBJECT", "riunione", "BODY", "annullata"],
    ["TEXT", "fattura"],
    ["TEXT", "ufficio@pec"],
]
for key in SEARCHES:
    args = [k.encode("utf-8") for k in key]
    if args[0] == b"CHARSET":
        m.literal = args[3].strip(b'"')
        typ, data = m.uid("SEARCH", "CHARSET", "UTF-8", "BODY")
    else:
        typ, data = m.uid("SEARCH", *args)
    assert typ == "OK", (key, data)
    print(" ".join(key), "=>", data[0].decode())
m.logout()
