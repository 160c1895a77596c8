"""Hostile HTML mail in headless Chromium: script tags, event handlers, javascript: URLs,
SVG, CSS tricks, remote images, forms, meta refresh, iframes. Each message is appended
over IMAP, opened in the webmail, and must run no script and make no request to the
"attacker" server (a local HTTP server that records every hit).

usage: webmail_hostile.py URL CA IMAPS_PORT ADDRESS PASSWORD OUT
"""
import http.server, imaplib, os, ssl, sys, threading, time
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from webmail_driver import Browser

url, ca, imaps_port, address, password, out = sys.argv[1:7]
url = url.rstrip("/")

hits = []


class Canary(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        hits.append(self.path)
        self.send_response(200)
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *a):
        pass


canary = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Canary)
threading.Thread(target=canary.serve_forever, daemon=True).start()
evil = f"http://127.0.0.1:{canary.server_address[1]}"

corpus = {
    "script": f"<p>ciao</p><script>document.title='PWNED';new Image().src='{evil}/script'</script>",
    "onerror": f"<img src=x onerror=\"document.title='PWNED';fetch('{evil}/onerror')\">",
    "onload-body": f"<body onload=\"fetch('{evil}/onload')\"><p>x</p></body>",
    "javascript-url": f"<a id=j href=\"javascript:fetch('{evil}/js')\">clicca</a>",
    "svg": f"<svg onload=\"fetch('{evil}/svg')\"><script>fetch('{evil}/svg2')</script><image href='{evil}/svgimg'/></svg>",
    "remote-image": f"<img src='{evil}/pixel.gif' width=1 height=1><p>newsletter</p>",
    "css-background": f"<div style=\"background:url({evil}/bg)\">x</div><style>p{{background:url({evil}/style)}}</style><p>y</p>",
    "css-import": f"<style>@import url({evil}/import.css);</style><link rel=stylesheet href='{evil}/link.css'>",
    "form": f"<form action='{evil}/form' method=post><input name=p value=1><button id=b>invia</button></form>",
    "meta-refresh": f"<meta http-equiv=refresh content=\"0;url={evil}/refresh\"><p>x</p>",
    "iframe": f"<iframe src='{evil}/iframe'></iframe><object data='{evil}/object'></object><embed src='{evil}/embed'>",
    "base-href": f"<base href='{evil}/'><img src='relative.gif'><a href='rel'>x</a>",
    "data-url": "<a href=\"data:text/html,<script>document.title='PWNED'</script>\">x</a>",
    "entities": "<a href=\"&#106;avascript:document.title='PWNED'\">x</a><img src=\"jav&#x09;ascript:alert(1)\">",
    "srcset": f"<img srcset='{evil}/srcset 1x'><video poster='{evil}/poster'></video><audio src='{evil}/audio'></audio>",
}

ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
imap = imaplib.IMAP4_SSL("127.0.0.1", int(imaps_port), ssl_context=ctx)
imap.login(address, password)
for name, html in corpus.items():
    msg = (f"From: attaccante@esempio.it\r\nTo: {address}\r\nSubject: ostile {name}\r\n"
           f"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n").encode()
    assert imap.append("INBOX", None, None, msg)[0] == "OK"
imap.select("INBOX")
typ, data = imap.uid("SEARCH", None, "ALL")
uids = data[0].split()
imap.logout()
assert len(uids) == len(corpus)

d = Browser(url, out, profile="profile-hostile").d
try:
    # Control: the browser can reach the attacker's server, and the server counts it.
    d.get(evil + "/control")
    time.sleep(0.5)
    assert "/control" in hits, hits
    hits.clear()
    d.get(url + "/login")
    d.find_element(By.ID, "address").send_keys(address)
    d.find_element(By.ID, "password").send_keys(password)
    d.find_element(By.ID, "login-button").click()
    d.find_element(By.ID, "new-mail")
    d.implicitly_wait(0)  # from here, an empty find means "not there"
    for uid in uids:
        for page in (f"/?f=INBOX&uid={uid.decode()}", f"/message?f=INBOX&uid={uid.decode()}",
                     f"/message/body?f=INBOX&uid={uid.decode()}",
                     f"/message/print?f=INBOX&uid={uid.decode()}"):
            d.get(url + page)
            time.sleep(0.3)
            try:
                alert = d.switch_to.alert.text
                raise AssertionError(f"{page}: an alert ran: {alert}")
            except NoAlertPresentException:
                pass
            assert "PWNED" not in d.title, page
            frames = d.find_elements(By.CSS_SELECTOR, "iframe.body")
            if frames:
                assert frames[0].get_attribute("sandbox") == "", "the body frame is sandboxed"
                d.switch_to.frame(frames[0])
                for el in d.find_elements(By.CSS_SELECTOR, "script, form, iframe, object, embed, svg, base, meta[http-equiv]"):
                    raise AssertionError(f"{page}: {el.tag_name} survived")
                for link in d.find_elements(By.CSS_SELECTOR, "a"):
                    href = (link.get_attribute("href") or "").lower()
                    assert not href.startswith(("javascript:", "data:")), href
                    if href:
                        link.click()  # opens in a new tab (target=_blank), never runs script
                d.switch_to.default_content()
    d.switch_to.window(d.window_handles[0])
    d.save_screenshot(os.path.join(out, "hostile.png"))
    time.sleep(1)
    assert not hits, f"requests reached the attacker's server: {hits}"
    # Remote images only on request, for that message, and still nothing but images.
    uid = uids[list(corpus).index("remote-image")].decode()
    d.get(url + f"/?f=INBOX&uid={uid}")
    d.find_element(By.ID, "show-remote").click()
    end = time.time() + 10
    while "/pixel.gif" not in hits and time.time() < end:
        time.sleep(0.2)
    assert hits == ["/pixel.gif"], hits
    print(f"OK: {len(corpus)} hostile messages, 4 views each, no script, no remote request "
          "until the user asks for one message's images")
finally:
    d.quit()
    canary.shutdown()
