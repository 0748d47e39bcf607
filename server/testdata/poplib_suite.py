#!/usr/bin/env python3
"""POP3 checks with Python's poplib, an independent client.

usage: poplib_suite.py POP3_HOST:PORT LMTP_HOST:PORT USER PASSWORD [lock]

"lock": the server runs with [pop3] lock_session = true, so a second
session gets -ERR [IN-USE]; without it (the default) it shares the maildrop.

Delivers messages over smtplib.LMTP, then checks every POP3 command:
CAPA, USER/PASS, AUTH PLAIN, STAT, LIST, UIDL, TOP, RETR (byte for byte,
lines that begin with a dot included), DELE, RSET, NOOP, QUIT, IN-USE.
Prints "ok N checks" on success; exits 1 at the first failure.
"""

import base64
import poplib
import smtplib
import sys

checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        print("FAIL:", what)
        sys.exit(1)


def split(addr):
    host, port = addr.rsplit(":", 1)
    return host, int(port)


pop_addr, lmtp_addr, user, password = sys.argv[1:5]
locked = sys.argv[5:6] == ["lock"]
ph, pp = split(pop_addr)
lh, lp = split(lmtp_addr)

bodies = [
    b"From: a@example.net\r\nTo: %s@localhost\r\nSubject: first\r\n\r\nhello\r\n.leading dot\r\n..two\r\n.\r\nend\r\n" % user.encode(),
    b"From: b@example.net\r\nSubject: second\r\nX-8bit: caf\xc3\xa9\r\n\r\nline 1\r\nline 2\r\nline 3\r\n",
    b"Subject: third\r\n\r\n" + b"x" * 900 + b"\r\n" + b"y" * 1900 + b"\r\n",
]
with smtplib.LMTP(lh, lp) as l:
    for b in bodies:
        l.sendmail("sender@example.net", [user + "@localhost"], b)


def session():
    p = poplib.POP3(ph, pp, timeout=10)
    return p


p = session()
caps = p.capa()
for c in ("TOP", "UIDL", "USER", "SASL", "RESP-CODES", "PIPELINING", "EXPIRE", "IMPLEMENTATION"):
    check(c in caps, "CAPA has " + c)
check(caps.get("SASL") == ["PLAIN", "LOGIN"], "SASL PLAIN LOGIN: %r" % caps.get("SASL"))
p.user(user)
try:
    p.pass_("wrong")
    check(False, "wrong password accepted")
except poplib.error_proto as e:
    check(str(e).startswith("b'-ERR [AUTH]"), "wrong password gives [AUTH]: %s" % e)
p.user(user)
p.pass_(password)

count, size = p.stat()
check(count == 3, "STAT count %d" % count)
resp, listing, _ = p.list()
sizes = [int(x.split()[1]) for x in listing]
check(sum(sizes) == size, "LIST sizes add up to STAT")
resp, uidls, _ = p.uidl()
uidls = [x.split()[1] for x in uidls]
check(len(set(uidls)) == 3, "UIDLs distinct")
check(p.uidl(2).split()[2] == uidls[1], "UIDL 2")
check(int(p.list(3).split()[2]) == sizes[2], "LIST 3")

for i, want in enumerate(bodies, 1):
    resp, lines, octets = p.retr(i)
    got = b"\r\n".join(lines) + b"\r\n"
    # The delivered copy starts with the trace headers LMTP adds.
    check(got.endswith(want), "RETR %d is the delivered message: %r" % (i, got[-200:]))
    check(got.startswith(b"Return-Path: <sender@example.net>\r\n"), "RETR %d has Return-Path" % i)
    check(len(got) == sizes[i - 1], "RETR %d is as long as LIST says" % i)
    check(resp.startswith(b"+OK %d" % sizes[i - 1]), "RETR status %r" % resp)

resp, lines, _ = p.top(2, 1)
check(lines[-1] == b"line 1" and b"" in lines and lines[-2] == b"", "TOP 2 1: %r" % lines)
resp, lines, _ = p.top(1, 0)
check(lines[-1] == b"" and b"Subject: first" in lines, "TOP 1 0: %r" % lines)

for bad in (lambda: p.retr(9), lambda: p.list(0), lambda: p.dele(4), lambda: p._shortcmd("BOGUS")):
    try:
        bad()
        check(False, "a bad command succeeded")
    except poplib.error_proto as e:
        check(str(e).startswith("b'-ERR"), "bad command: -ERR")

p.noop()
p.dele(1)
check(p.stat()[0] == 2, "STAT after DELE")
try:
    p.retr(1)
    check(False, "RETR of a deleted message succeeded")
except poplib.error_proto:
    checks_ok = True
p.rset()
check(p.stat()[0] == 3, "STAT after RSET")

# A second session while this one is in TRANSACTION: it gets -ERR
# [IN-USE] with lock_session, else the maildrop as it is now.
q = session()
q.user(user)
if locked:
    try:
        q.pass_(password)
        check(False, "second session got the maildrop")
    except poplib.error_proto as e:
        check("[IN-USE]" in str(e), "second session: IN-USE: %s" % e)
else:
    resp = q.pass_(password)
    check(resp.startswith(b"+OK maildrop has 3 messages"), "second session shares the maildrop: %r" % resp)
    check(q.stat()[0] == 3, "second session: STAT")
q.quit()

p.dele(1)
p.dele(3)
p.quit()

# AUTH PLAIN (RFC 5034), then the state UPDATE left.
p = session()
resp = p._shortcmd("AUTH PLAIN " + base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode())
check(resp.startswith(b"+OK"), "AUTH PLAIN: %r" % resp)
count, _ = p.stat()
check(count == 1, "one message left after DELE+QUIT, got %d" % count)
check(p.uidl(1).split()[2] == uidls[1], "the kept message keeps its UIDL")
resp, lines, _ = p.retr(1)
check(lines[-3:] == [b"line 1", b"line 2", b"line 3"], "the kept message is the second")
p.quit()
print("ok %d checks" % checks)
