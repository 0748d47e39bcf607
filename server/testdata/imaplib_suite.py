"""IMAP conformance checks with Python's imaplib, an independent client.

Run by TestIMAPPython: argv = imap host:port, lmtp host:port, user, password.
Prints "ok <n> checks" on success; any failed check raises.
"""
import imaplib
import smtplib
import socket
import sys
import time

imap_addr, lmtp_addr, user, password = sys.argv[1:5]
host, port = imap_addr.rsplit(":", 1)
lhost, lport = lmtp_addr.rsplit(":", 1)
checks = 0


def check(cond, what):
    global checks
    if not cond:
        raise AssertionError(what)
    checks += 1


def ok(resp, what):
    typ, data = resp
    check(typ == "OK", f"{what}: {typ} {data}")
    return data


def deliver(subject, body="hello"):
    c = smtplib.LMTP(lhost, int(lport))
    c.sendmail("sender@example.net", [f"{user}@example.org"],
               f"From: Sender <sender@example.net>\r\nSubject: {subject}\r\n\r\n{body}\r\n".encode())
    c.quit()


m = imaplib.IMAP4(host, int(port))
check("IMAP4REV1" in m.capabilities, f"capabilities {m.capabilities}")
try:
    m.login(user, "wrong")
    check(False, "wrong password accepted")
except imaplib.IMAP4.error as e:
    check("AUTHENTICATIONFAILED" in str(e), f"wrong password: {e}")
ok(m.login(user, password), "login")

# Mailboxes.
ok(m.create("Projects/Alpha"), "create with hierarchy")
data = ok(m.list('""', "*"), "list")
names = [d.decode() for d in data]
check(any('"Projects/Alpha"' in n or " Projects/Alpha" in n for n in names), f"list: {names}")
check(any("\\Sent" in n for n in names), f"special-use in list: {names}")
ok(m.subscribe("Projects/Alpha"), "subscribe")
data = ok(m.lsub('""', "Projects/%"), "lsub")
check(len(data) == 1 and b"Projects/Alpha" in data[0], f"lsub: {data}")
data = ok(m.lsub('""', "%"), "lsub parent")
check(any(b"\\Noselect" in d and b"Projects" in d for d in data), f"lsub parent \\Noselect: {data}")
ok(m.rename("Projects", "Work"), "rename with children")
data = ok(m.list('""', "Work/*"), "list renamed")
check(len(data) == 1 and b"Work/Alpha" in data[0], f"renamed children: {data}")
typ, _ = m.create("../escape")
check(typ == "NO", "hostile create refused")

# \Recent for an IMAP4rev1 client: a delivery is recent in exactly one session.
deliver("first")
deliver("second")
typ, data = m.select("INBOX")
check(typ == "OK" and data == [b"2"], f"select: {data}")
check(m.untagged_responses.get("RECENT") == [b"2"], f"RECENT on select: {m.untagged_responses.get('RECENT')}")
m2 = imaplib.IMAP4(host, int(port))
ok(m2.login(user, password), "second login")
m2.select("INBOX")
check(m2.untagged_responses.get("RECENT") == [b"0"], f"RECENT in a second session: {m2.untagged_responses.get('RECENT')}")
data = ok(m.search(None, "RECENT"), "search recent")
check(data == [b"1 2"], f"search RECENT: {data}")
data = ok(m2.search(None, "OLD"), "search old")
check(data == [b"1 2"], f"search OLD in other session: {data}")
data = ok(m.search(None, "NEW"), "search new")
check(data == [b"1 2"], f"search NEW: {data}")
data = ok(m.status("Work/Alpha", "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)"), "status")
check(b"MESSAGES 0" in data[0] and b"RECENT 0" in data[0], f"status: {data}")

# FETCH, STORE, SEARCH FROM with the display name.
data = ok(m.fetch("1", "(FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE)"), "fetch")
check(b"\\Recent" in data[0] and b"ENVELOPE" in data[0], f"fetch: {data}")
data = ok(m.fetch("2", "(BODY.PEEK[])"), "fetch body")
body = data[0][1]
check(body.endswith(b"Subject: second\r\n\r\nhello\r\n"), f"body: {body!r}")
data = ok(m.search(None, "FROM", '"Sender <sender"'), "search from")
check(data == [b"1 2"], f"SEARCH FROM display name: {data}")
data = ok(m.store("1", "+FLAGS", "(\\Seen $Label1)"), "store")
check(b"\\Seen" in data[0] and b"$Label1" in data[0], f"store: {data}")
data = ok(m.search(None, "UNSEEN"), "search unseen")
check(data == [b"2"], f"unseen: {data}")

# IDLE (imaplib has none before 3.14): raw, woken by a delivery.
tag = m._new_tag().decode()
m.send(f"{tag} IDLE\r\n".encode())
check(m.readline().startswith(b"+"), "idle continuation")
deliver("third")
m.sock.settimeout(10)
line = m.readline()
check(b"EXISTS" in line, f"IDLE woken: {line!r}")
m.send(b"DONE\r\n")
while True:
    line = m.readline()
    if line.startswith(tag.encode()):
        check(b"OK" in line, f"IDLE end: {line!r}")
        break

# COPY/MOVE into the selected mailbox, EXPUNGE seen by the other session.
ok(m.copy("1", "INBOX"), "copy into itself")
typ, data = m._simple_command("MOVE", "1", "Work/Alpha")
check(typ == "OK", f"move: {data}")
ok(m.store("1", "+FLAGS", "(\\Deleted)"), "store deleted")
ok(m.expunge(), "expunge")
ok(m2.noop(), "noop in other session")
check(m2.untagged_responses.get("EXPUNGE") is not None, f"other session got EXPUNGE: {m2.untagged_responses}")

# RENAME INBOX moves its messages and leaves INBOX empty (RFC 9051 §6.3.6).
ok(m.close(), "close")
ok(m.rename("INBOX", "Old-Inbox"), "rename inbox")
data = ok(m.status("INBOX", "(MESSAGES)"), "status inbox")
check(b"MESSAGES 0" in data[0], f"INBOX after rename: {data}")
data = ok(m.status("Old-Inbox", "(MESSAGES)"), "status old")
check(b"MESSAGES 0" not in data[0], f"Old-Inbox after rename: {data}")

m.logout()
m2.logout()
print(f"ok {checks} checks")
