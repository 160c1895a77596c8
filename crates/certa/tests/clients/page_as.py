"""Logs in to the webmail as a box's holder and prints one page's HTML.

Usage: page_as.py PARAMS_JSON PATH      PARAMS: web, ca, box, password
"""
import http.cookiejar, json, ssl, sys, urllib.parse, urllib.request

P = json.loads(sys.argv[1])
CTX = ssl.create_default_context(cafile=P["ca"])
op = urllib.request.build_opener(urllib.request.HTTPSHandler(context=CTX),
                                 urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
data = urllib.parse.urlencode({"address": P["box"], "password": P["password"]}).encode()
op.open(urllib.request.Request(P["web"] + "/login", data=data, headers={"Origin": P["web"]}),
        timeout=30).read()
with op.open(P["web"] + sys.argv[2], timeout=30) as r:
    print(r.read().decode())
