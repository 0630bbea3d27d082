#!/usr/bin/env python3
"""Copy the RFC 4475 torture messages shipped by emiago/sipgo v1.7.3 (sip/testdata/torture)
here, with every host rewritten to the loopback sender 127.0.0.3 (documentation addresses,
example domains, the broadcast address) so that nothing a test sends, and nothing the gateway
answers or streams back (Via, Contact, SDP c=), can leave the machine. Content-Length values are
shifted by however much the body grew or shrank, so a message that was wrong on purpose stays
wrong by the same amount.

    python3 rewrite.py $(go env GOMODCACHE)/github.com/emiago/sipgo@v1.7.3/sip/testdata/torture
"""
import os, re, sys

SENDER = b"127.0.0.3"
HOSTS = re.compile(
    rb"\b(?:[A-Za-z0-9-]+\.)*(?:example\.(?:com|net|org|edu)|examle\.com|jasomi\.com|company\.com|SIPimp\.org)\b"
    rb"|\b192\.0\.2\.\d{1,3}\b|\b255\.255\.255\.255\b|\b127\.0\.0\.1\b")
CL = re.compile(rb"(?im)^((?:content-length|l)[ \t]*:[ \t]*)(-?\d+)")

def rewrite(data):
    """Rewrite message by message: a datagram may hold several (dblreq), each with its own body."""
    out = b""
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        m = CL.search(head)
        n = int(m.group(2)) if m else -1
        if sep and 0 <= n < len(rest) and rest[n:].lstrip(b"\r\n"):
            body, data = rest[:n], rest[n:]  # another message follows
        else:
            body, data = rest, b""
        new_head, new_body = HOSTS.sub(SENDER, head), HOSTS.sub(SENDER, body)
        delta = len(new_body) - len(body)
        if delta and sep:
            new_head = CL.sub(lambda m: m.group(1) + str(int(m.group(2)) + delta).encode(), new_head)
        out += new_head + sep + new_body
    return out

src = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))
for kind in ("valid", "invalid"):
    os.makedirs(os.path.join(here, kind), exist_ok=True)
    for name in sorted(os.listdir(os.path.join(src, kind))):
        with open(os.path.join(src, kind, name), "rb") as f:
            data = f.read()
        with open(os.path.join(here, kind, name), "wb") as f:
            f.write(rewrite(data))
