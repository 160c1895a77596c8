"""The client set-up (issue 18 item 8) as mail clients read it: Thunderbird's autoconfig
(both URLs), Outlook's autodiscover POST, the Apple profile and the page — hosts, ports and
socket types checked against certa.toml's [listen], then each advertised TLS port proved by
logging in on it (IMAPS, POP3S, SMTPS) and STARTTLS on the submission port.

Usage: client_setup.py PARAMS_JSON   PARAMS: web, ca, toml, box, password
"""
import http.cookiejar, imaplib, json, plistlib, poplib, re, smtplib, ssl, sys, tomllib
import urllib.error, urllib.parse, urllib.request
import xml.etree.ElementTree as ET

P = json.loads(sys.argv[1])
CTX = ssl.create_default_context(cafile=P["ca"])
cfg = tomllib.load(open(P["toml"], "rb"))
port = lambda key: int(cfg["listen"][key].rsplit(":", 1)[1])
HOST = cfg["provider"]["hostname"]
jar = http.cookiejar.CookieJar()
op = urllib.request.build_opener(urllib.request.HTTPSHandler(context=CTX),
                                 urllib.request.HTTPCookieProcessor(jar))


def get(path, data=None, headers=None):
    r = urllib.request.Request(P["web"] + path, data=data, headers=headers or {})
    try:
        with op.open(r, timeout=30) as resp:
            return resp.status, resp.read(), resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        return e.code, e.read(), ""


print("-- Thunderbird's autoconfig, both URLs")
for path in ["/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=" + P["box"],
             "/mail/config-v1.1.xml"]:
    status, body, ctype = get(path)
    assert status == 200 and ctype.startswith("application/xml"), (path, status, ctype)
    root = ET.fromstring(body)
    provider = root.find("emailProvider")
    assert P["box"].split("@")[1] in [d.text for d in provider.findall("domain")]
    servers = {(s.get("type"), s.findtext("socketType")): s for s in
               provider.findall("incomingServer") + provider.findall("outgoingServer")}
    expected = {("imap", "SSL"): port("imaps"), ("pop3", "SSL"): port("pop3s"),
                ("smtp", "SSL"): port("submissions"), ("smtp", "STARTTLS"): port("submission")}
    assert set(servers) == set(expected), servers.keys()
    for key, want in expected.items():
        s = servers[key]
        assert s.findtext("hostname") == HOST, (key, s.findtext("hostname"))
        assert int(s.findtext("port")) == want, (key, s.findtext("port"), want)
        assert s.findtext("username") == "%EMAILADDRESS%"
    assert servers[("pop3", "SSL")].findtext("pop3/leaveMessagesOnServer") == "true"

print("-- Outlook's autodiscover")
req = ("<?xml version='1.0'?><Autodiscover xmlns='http://schemas.microsoft.com/exchange/"
       "autodiscover/outlook/requestschema/2006'><Request><EMailAddress>" + P["box"] +
       "</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/"
       "autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request>"
       "</Autodiscover>").encode()
status, body, _ = get("/autodiscover/autodiscover.xml", req, {"Content-Type": "text/xml"})
assert status == 200, status
ns = {"r": "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"}
protocols = {p.findtext("r:Type", namespaces=ns): p
             for p in ET.fromstring(body).findall(".//r:Protocol", ns)}
assert {k: int(v.findtext("r:Port", namespaces=ns)) for k, v in protocols.items()} == \
    {"IMAP": port("imaps"), "POP3": port("pop3s"), "SMTP": port("submissions")}
assert all(v.findtext("r:LoginName", namespaces=ns) == P["box"] for v in protocols.values())
status, body, _ = get("/autodiscover/autodiscover.xml", b"<EMailAddress><x></EMailAddress>",
                      {"Content-Type": "text/xml"})
assert status == 400, status
status, _, _ = get("/autodiscover/autodiscover.xml", b"x" * 10000, {"Content-Type": "text/xml"})
assert status == 413, status

print("-- the page and the Apple profile, after the login")
data = urllib.parse.urlencode({"address": P["box"], "password": P["password"]}).encode()
status, _, _ = get("/login", data, {"Origin": P["web"]})
status, page, _ = get("/settings/client")
page = page.decode()
assert status == 200 and 'id="clients-title"' in page, page[:300]
ports = re.findall(r'<td class="port">(\d+)</td>', page)
assert ports == [str(port(k)) for k in ("imaps", "pop3s", "submissions", "submission")], ports
assert 'id="pop3-warning"' in page and HOST in page
status, body, ctype = get("/settings/client?formato=mobileconfig")
assert status == 200 and ctype == "application/x-apple-aspen-config", (status, ctype)
profile = plistlib.loads(body)
mail = profile["PayloadContent"][0]
assert mail["PayloadType"] == "com.apple.mail.managed"
assert (mail["IncomingMailServerHostName"], mail["IncomingMailServerPortNumber"],
        mail["OutgoingMailServerPortNumber"], mail["IncomingMailServerUsername"]) == \
    (HOST, port("imaps"), port("submissions"), P["box"])

print("-- each advertised port answers as advertised")
m = imaplib.IMAP4_SSL("127.0.0.1", port("imaps"), ssl_context=CTX)
m.login(P["box"], P["password"]); m.logout()
p = poplib.POP3_SSL("127.0.0.1", port("pop3s"), context=CTX)
p.user(P["box"]); p.pass_(P["password"]); p.quit()
s = smtplib.SMTP_SSL("127.0.0.1", port("submissions"), context=CTX)
s.login(P["box"], P["password"]); s.quit()
s = smtplib.SMTP("127.0.0.1", port("submission"))
s.starttls(context=CTX); s.login(P["box"], P["password"]); s.quit()
print("OK")
