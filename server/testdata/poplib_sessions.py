#!/usr/bin/env python3
"""The run of POP3 sessions after which a login got -ERR [IN-USE].

usage: poplib_sessions.py POP3_HOST:PORT USER PASSWORD MESSAGES lock|shared

Sessions one after another, each ending with QUIT: USER/PASS, AUTH PLAIN
with an initial response, AUTH PLAIN without one, a failed AUTH; then,
half a second later, a USER/PASS login that must get the maildrop. Then a
session dropped without QUIT and a login right after it; then two
sessions at once, which share the maildrop ("shared", the default) or
where the second gets -ERR [IN-USE] ("lock", [pop3] lock_session).
Prints "ok N checks"; exits 1 at the first failure.
"""

import base64
import poplib
import sys
import time

checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        print("FAIL:", what)
        sys.exit(1)


addr, user, password, messages, mode = sys.argv[1:6]
host, port = addr.rsplit(":", 1)
port = int(port)
messages = int(messages)


def session():
    return poplib.POP3(host, port, timeout=10)


def plain(authz, authc, pw):
    return base64.b64encode(b"\0".join(x.encode() for x in (authz, authc, pw))).decode()


def auth_plain(p, response):
    # RFC 5034 without an initial response: the server's "+ ", then ours.
    p._putcmd("AUTH PLAIN")
    resp = p._getline()[0]
    check(resp.rstrip() == b"+", "AUTH PLAIN continuation: %r" % resp)
    return p._shortcmd(response)


def logged_in(resp, what):
    check(resp.startswith(b"+OK maildrop has %d messages" % messages), "%s: %r" % (what, resp))


def quit(p, what):
    resp = p.quit()
    check(resp.startswith(b"+OK"), "%s: QUIT: %r" % (what, resp))


# USER/PASS, with a RETR so that QUIT has something to write (\Seen).
p = session()
p.user(user)
logged_in(p.pass_(password), "USER/PASS")
p.retr(1)
quit(p, "USER/PASS")

# AUTH PLAIN with an initial response.
p = session()
logged_in(p._shortcmd("AUTH PLAIN " + plain("", user, password)), "AUTH PLAIN with initial response")
check(p.stat()[0] == messages, "STAT after AUTH PLAIN")
quit(p, "AUTH PLAIN with initial response")

# AUTH PLAIN without an initial response.
p = session()
logged_in(auth_plain(p, plain(user, user, password)), "AUTH PLAIN without initial response")
quit(p, "AUTH PLAIN without initial response")

# A failed AUTH.
p = session()
try:
    p._shortcmd("AUTH PLAIN " + plain("", user, "wrong"))
    check(False, "a wrong password was accepted")
except poplib.error_proto as e:
    check(str(e).startswith("b'-ERR [AUTH]"), "failed AUTH: %s" % e)
quit(p, "failed AUTH")

time.sleep(0.5)
p = session()
p.user(user)
try:
    logged_in(p.pass_(password), "login half a second after the run")
except poplib.error_proto as e:
    check(False, "login half a second after the run: %s" % e)
quit(p, "login after the run")

# A session that drops its connection without QUIT, and a login at once.
p = session()
p.user(user)
logged_in(p.pass_(password), "session to drop")
p.dele(1)
p.close()
p = session()
p.user(user)
try:
    logged_in(p.pass_(password), "login right after a dropped session")
except poplib.error_proto as e:
    check(False, "login right after a dropped session: %s" % e)

# Two sessions at once.
q = session()
q.user(user)
if mode == "lock":
    try:
        q.pass_(password)
        check(False, "a second session got a locked maildrop")
    except poplib.error_proto as e:
        check(str(e).startswith("b'-ERR [IN-USE]"), "second session: %s" % e)
else:
    logged_in(q.pass_(password), "second session (shared maildrop)")
    quit(q, "second session")
quit(p, "first session")
if mode == "lock":
    q.user(user)
    logged_in(q.pass_(password), "second session once the first QUIT")
    quit(q, "second session")
print("ok %d checks" % checks)
