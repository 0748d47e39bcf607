"""COMPRESS=DEFLATE (RFC 4978) with Python's imaplib and zlib.

Run by TestIMAPCompressPython: argv = imap host:port, lmtp host:port,
user, password, zlib flush mode (Z_PARTIAL_FLUSH, Z_SYNC_FLUSH or
Z_FULL_FLUSH). Every command goes out compressed and flushed with that
mode, as zlib clients do (mbsync, neomutt and iOS Mail flush with
Z_PARTIAL_FLUSH); the socket has a timeout, so a server that sits on a
command it has not fully decoded fails the run instead of hanging it.
Prints "ok <n> checks" on success; any failed check raises.
"""
import imaplib
import smtplib
import socket
import sys
import zlib

imap_addr, lmtp_addr, user, password, flush_name = sys.argv[1:6]
flush_mode = getattr(zlib, flush_name)
host, port = imap_addr.rsplit(":", 1)
lhost, lport = lmtp_addr.rsplit(":", 1)
checks = 0

imaplib.Commands.setdefault("COMPRESS", ("AUTH", "SELECTED"))


def check(cond, what):
    global checks
    if not cond:
        raise AssertionError(what)
    checks += 1


def ok(resp, what):
    typ, data = resp
    check(typ == "OK", f"{what}: {typ} {data}")
    return data


class Deflating(imaplib.IMAP4):
    """imaplib over COMPRESS=DEFLATE once compress() succeeds."""

    deflater = None

    def compress(self):
        typ, data = self._simple_command("COMPRESS", "DEFLATE")
        check(typ == "OK" and data == [b"DEFLATE active"], f"COMPRESS: {typ} {data}")
        # In the authenticated state nothing follows the OK unasked, so
        # the file object holds nothing past it.
        self.deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.inflater = zlib.decompressobj(-15)
        self.plain = b""
        self.wire_in = self.wire_out = 0

    def send(self, data):
        if self.deflater is None:
            return super().send(data)
        out = self.deflater.compress(data) + self.deflater.flush(flush_mode)
        self.wire_out += len(out)
        self.sock.sendall(out)

    def _more(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise self.abort("socket closed")
        self.wire_in += len(chunk)
        self.plain += self.inflater.decompress(chunk)

    def read(self, size):
        if self.deflater is None:
            return super().read(size)
        while len(self.plain) < size:
            self._more()
        out, self.plain = self.plain[:size], self.plain[size:]
        return out

    def readline(self):
        if self.deflater is None:
            return super().readline()
        while b"\n" not in self.plain:
            self._more()
        i = self.plain.index(b"\n") + 1
        out, self.plain = self.plain[:i], self.plain[i:]
        return out


def deliver(subject, body="hello"):
    c = smtplib.LMTP(lhost, int(lport))
    c.sendmail("sender@example.net", [f"{user}@example.org"],
               f"From: Sender <sender@example.net>\r\nSubject: {subject}\r\n\r\n{body}\r\n".encode())
    c.quit()


m = Deflating(host, int(port))
m.sock.settimeout(10)
ok(m.login(user, password), "login")
typ, data = m.capability()
check(typ == "OK" and b" COMPRESS=DEFLATE" in data[0], f"capabilities after login: {data}")
try:
    typ, data = m._simple_command("COMPRESS", "LZW")
    check(False, f"COMPRESS LZW: {typ} {data}")
except imaplib.IMAP4.error as e:  # imaplib raises on BAD
    check("unknown compression mechanism" in str(e), f"COMPRESS LZW: {e}")
m.compress()

typ, data = m.capability()
check(typ == "OK" and b" COMPRESS=DEFLATE" in data[0], f"capability once compressed: {data}")
typ, data = m._simple_command("COMPRESS", "DEFLATE")
check(typ == "NO" and b"[COMPRESSIONACTIVE]" in data[0], f"second COMPRESS: {typ} {data}")

ok(m.create("Compressed"), "create")
# A large message (a synchronising literal: imaplib waits for "+"),
# then fetched back byte for byte.
lines = [f"line {i:06d} {i * i * 2654435761:x} of a long message".encode() for i in range(6000)]
big = b"From: a@example.org\r\nSubject: big\r\n\r\n" + b"\r\n".join(lines) + b"\r\n"
ok(m.append("Compressed", None, None, big), "append big")
ok(m.append("Compressed", "(\\Seen)", None, b"Subject: small\r\n\r\nx\r\n"), "append small")
data = ok(m.select("Compressed"), "select")
check(data == [b"2"], f"select count {data}")
data = ok(m.fetch("1", "(BODY.PEEK[])"), "fetch big")
check(data[0][1] == big, f"big message came back changed ({len(data[0][1])} of {len(big)} octets)")
data = ok(m.search(None, "UNSEEN"), "search")
check(data == [b"1"], f"search {data}")
ok(m.store("1", "+FLAGS", "(\\Flagged)"), "store")
data = ok(m.fetch("1:2", "(FLAGS)"), "fetch flags")
check(b"\\Flagged" in data[0] and b"\\Seen" in data[1], f"flags {data}")

# IDLE (imaplib has none before 3.14), woken by a delivery.
ok(m.select("INBOX"), "select inbox")
tag = m._new_tag().decode()
m.send(f"{tag} IDLE\r\n".encode())
line = m.readline()
check(line.startswith(b"+"), f"IDLE continuation: {line!r}")
deliver("during idle")
line = m.readline()
check(b"EXISTS" in line, f"IDLE woken: {line!r}")
m.send(b"DONE\r\n")
while True:
    line = m.readline()
    if line.startswith(tag.encode()):
        check(b"OK" in line, f"IDLE end: {line!r}")
        break

m.logout()
print(f"ok {checks} checks, {m.wire_in} octets in, {m.wire_out} out")
