"""SAVEDATE (RFC 8514) and THREAD=REFS checked with Python's imaplib, an
independent client.

Run by TestIMAPSaveDatePython: argv = imap host:port, user, password, the
Unix time just before the test delivered its messages. INBOX holds two
messages by then: one delivered over LMTP, one another program dropped
into the store. Prints "ok <n> checks" on success; any failed check raises.
"""
import datetime
import imaplib
import re
import sys
import time

imap_addr, user, password, since = sys.argv[1:5]
since = int(since)
host, port = imap_addr.rsplit(":", 1)
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


SAVEDATE = re.compile(rb'^(\d+) \(SAVEDATE (NIL|"([^"]+)")\)$')


def save_dates(what):
    out = {}
    for line in ok(m.fetch("1:*", "(SAVEDATE)"), what):
        g = SAVEDATE.match(line)
        check(g is not None, f"{what}: FETCH line {line!r}")
        check(g.group(2) != b"NIL", f"{what}: SAVEDATE NIL for message {g.group(1)}")
        d = datetime.datetime.strptime(g.group(3).decode(), "%d-%b-%Y %H:%M:%S %z")
        out[int(g.group(1))] = d
    return out


def within(d, lo, what):
    t = d.timestamp()
    check(lo - 1 <= t <= time.time() + 1, f"{what}: save date {d} not between {lo} and now")


def search(crit, what):
    return ok(m.search(None, crit), what)[0].split()


m = imaplib.IMAP4(host, int(port))
ok(m.login(user, password), "login")
caps = ok(m.capability(), "capability")[0].decode().split()
check("SAVEDATE" in caps, f"SAVEDATE in {caps}")
check("THREAD=REFS" in caps, f"THREAD=REFS in {caps}")
ok(m.select("INBOX"), "select")

dates = save_dates("delivered and dropped")
check(sorted(dates) == [1, 2], f"two messages, got {sorted(dates)}")
for n, d in dates.items():
    within(d, since, f"message {n}")
today = max(dates.values()).strftime("%d-%b-%Y")
check(search("SAVEDATESUPPORTED", "supported") == [b"1", b"2"], "SAVEDATESUPPORTED matches all")
check(search(f"SAVEDSINCE {today}", "since today") == [b"1", b"2"], "SAVEDSINCE today")
check(search(f"SAVEDBEFORE {today}", "before today") == [], "SAVEDBEFORE today")

# An APPEND with an internal date long past: the save date is now.
appended_at = time.time()
ok(m.append("INBOX", None, imaplib.Time2Internaldate(time.mktime((2000, 1, 2, 12, 0, 0, 0, 0, -1))),
            b"Subject: old news\r\n\r\nfrom 2000\r\n"), "append")
ok(m.noop(), "noop")
dates = save_dates("after APPEND")
within(dates[3], appended_at, "appended")
check(search("BEFORE 1-Jan-2001", "internal date") == [b"3"], "internal date of the append")
check(search("SAVEDBEFORE 1-Jan-2001", "save date") == [], "save date of the append is not its internal date")

# A flag change keeps it; a COPY saves anew.
ok(m.store("1:*", "+FLAGS", r"(\Flagged)"), "store")
check(save_dates("after STORE") == dates, "STORE changed a save date")
ok(m.create("Kept"), "create")
time.sleep(1.1)  # so that the copy's second differs from the originals'
copied_at = time.time()
ok(m.copy("1:3", "Kept"), "copy")
ok(m.select("Kept"), "select Kept")
copies = save_dates("copies")
for n, d in copies.items():
    within(d, copied_at, f"copy {n}")
    check(d > dates[n], f"copy {n} kept the original's save date {dates[n]}")

# THREAD=REFS: no merge by subject, threads by their latest message.
ok(m.create("Threads"), "create Threads")
for msg in (
    b"Message-ID: <t1@x>\r\nDate: Mon, 4 Mar 2024 10:00:00 +0000\r\nSubject: topic\r\n\r\n1\r\n",
    b"Message-ID: <t2@x>\r\nReferences: <t1@x>\r\nDate: Mon, 4 Mar 2024 12:00:00 +0000\r\nSubject: Re: topic\r\n\r\n2\r\n",
    b"Message-ID: <t3@x>\r\nDate: Mon, 4 Mar 2024 11:00:00 +0000\r\nSubject: topic\r\n\r\n3\r\n",
):
    ok(m.append("Threads", None, None, msg), "append thread")
ok(m.select("Threads"), "select Threads")
check(ok(m.uid("THREAD", "REFS", "UTF-8", "ALL"), "thread refs") == [b"(3)(1 2)"], "THREAD REFS")
check(ok(m.uid("THREAD", "REFERENCES", "UTF-8", "ALL"), "thread references") == [b"((1 2)(3))"], "THREAD REFERENCES")
check(ok(m.thread("REFS", "UTF-8", "SUBJECT", "topic", "SENTBEFORE", "4-Mar-2024"), "thread refs none") == [b""], "THREAD REFS of nothing")
m.logout()
print(f"ok {checks} checks")
