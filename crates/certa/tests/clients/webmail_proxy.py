"""The webmail behind a TLS-terminating reverse proxy ([web] proxy = PROXY_IP): plain HTTP,
only the proxy may connect, the client's address comes from X-Forwarded-For (throttling
counts per real client), cookies stay Secure. Python's http.client plays the proxy by
connecting from PROXY_IP (a loopback address).

usage: webmail_proxy.py HOST PORT PROXY_IP ADDRESS PASSWORD
"""
import http.client, sys, urllib.parse

host, port, proxy_ip, address, password = sys.argv[1:6]
port = int(port)


def call(method, path, source, headers=None, form=None):
    c = http.client.HTTPConnection(host, port, timeout=30, source_address=(source, 0))
    body = urllib.parse.urlencode(form) if form is not None else None
    h = dict(headers or {})
    if body is not None:
        h["Content-Type"] = "application/x-www-form-urlencoded"
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    out = (r.status, r.read().decode("utf-8", "replace"), r.headers)
    c.close()
    return out


def login(account, pw, client_ip):
    return call("POST", "/login", proxy_ip, {"X-Forwarded-For": client_ip},
                {"address": account, "password": pw})


print("-- only the proxy may connect")
status, body, _ = call("GET", "/login", "127.0.0.1", {"X-Forwarded-For": "203.0.113.1"})
assert status == 403 and "proxy" in body, (status, body)
status, _, _ = call("GET", "/login", proxy_ip)
assert status == 400, "the proxy must say who the client is"

print("-- login through the proxy; the cookie stays Secure")
status, _, headers = login(address, password, "198.51.100.7")
assert status == 303 and headers["Location"] == "/", status
cookie = headers["Set-Cookie"]
assert "Secure" in cookie and "HttpOnly" in cookie, cookie
status, page, _ = call("GET", "/", proxy_ip, {"X-Forwarded-For": "198.51.100.7",
                                              "Cookie": cookie.split(";")[0]})
assert status == 200 and "Posta in arrivo" in page, status

print("-- throttling counts per real client, from the address the proxy appended")
for i in range(10):
    status, _, _ = login("nessuno" + str(i) + "@" + address.split("@")[1], "sbagliata", "203.0.113.9")
    assert status == 401, status
# The same client (a spoofed first entry changes nothing) is now refused...
status, body, _ = login(address, password, "192.0.2.1, 203.0.113.9")
assert status == 401 and "Troppi tentativi" in body, status
# ...and another client behind the same proxy is not.
status, _, _ = login(address, password, "203.0.113.10")
assert status == 303, status
print("OK")
