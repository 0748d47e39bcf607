package imap

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/internal/certs"
)

// COMPRESS=DEFLATE transcripts (RFC 4978), over real loopback sockets
// (and the pipe listener where a test needs one read to hold two
// commands). The client side is compress/flate: its reader is an
// independent check of what the server writes, and its writer flushes
// the way offlineimap does (Z_SYNC_FLUSH); partialFlusher below writes
// what zlib's Z_PARTIAL_FLUSH writes (mbsync, neomutt, iOS Mail).

// zconn is the client's connection once compressed: writes go through
// a flusher, reads through s.r (compress/flate's reader).
type zconn struct {
	net.Conn
	w io.Writer
}

func (z *zconn) Write(p []byte) (int, error) { return z.w.Write(p) }

// syncFlusher compresses each write and ends it with a sync flush, and
// sends the result in one write, as zlib clients do (compress/flate's
// writer writes in pieces, which over net.Pipe would block the client
// in the middle of a command that the server is already answering).
type syncFlusher struct {
	w   io.Writer
	buf *bytes.Buffer
	fw  *flate.Writer
}

func newSyncFlusher(w io.Writer) io.Writer {
	buf := &bytes.Buffer{}
	fw, _ := flate.NewWriter(buf, flate.DefaultCompression)
	return syncFlusher{w, buf, fw}
}

func (f syncFlusher) Write(p []byte) (int, error) {
	f.fw.Write(p)
	f.fw.Flush()
	_, err := f.w.Write(f.buf.Bytes())
	f.buf.Reset()
	return len(p), err
}

// partialFlusher compresses each write as zlib's deflate(Z_PARTIAL_FLUSH)
// does: the data in a fixed-Huffman block ended by its end-of-block
// code, then an empty fixed block (10 bits), then only whole octets go
// out: the last bits of the empty block wait in the flusher for the next
// write, so a reader that wants a complete block header after the data
// before returning it waits for ever.
type partialFlusher struct {
	w   io.Writer
	acc uint64
	nb  uint
	out []byte
}

func newPartialFlusher(w io.Writer) io.Writer { return &partialFlusher{w: w} }

// code appends an n-bit Huffman code, most significant bit first (RFC
// 1951 §3.1.1).
func (f *partialFlusher) code(c uint32, n uint) {
	for i := n; i > 0; i-- {
		f.acc |= uint64(c>>(i-1)&1) << f.nb
		f.nb++
	}
	for f.nb >= 8 {
		f.out = append(f.out, byte(f.acc))
		f.acc >>= 8
		f.nb -= 8
	}
}

// fixedHeader starts a non-final fixed-Huffman block: BFINAL 0, BTYPE 01
// (least significant bit first).
func (f *partialFlusher) fixedHeader() { f.code(0, 1); f.code(1, 1); f.code(0, 1) }

func (f *partialFlusher) Write(p []byte) (int, error) {
	f.fixedHeader()
	for _, b := range p {
		if b < 144 {
			f.code(0x30+uint32(b), 8)
		} else {
			f.code(0x190+uint32(b)-144, 9)
		}
	}
	f.code(0, 7) // end of block
	f.fixedHeader()
	f.code(0, 7) // the empty block's end
	_, err := f.w.Write(f.out)
	f.out = f.out[:0]
	return len(p), err
}

// compress switches the session to DEFLATE after the server's OK: the
// server's first compressed octets may already sit in s.r.
func (s *session) compress(flusher func(io.Writer) io.Writer) {
	raw := s.conn
	rest, _ := s.r.Peek(s.r.Buffered())
	s.r = bufio.NewReader(flate.NewReader(io.MultiReader(bytes.NewReader(bytes.Clone(rest)), raw)))
	s.conn = &zconn{Conn: raw, w: flusher(raw)}
}

// until reads lines up to the one starting with prefix.
func (s *session) until(prefix string) []string {
	s.t.Helper()
	var out []string
	for {
		l := s.line()
		out = append(out, l)
		if strings.HasPrefix(l, prefix) {
			return out
		}
	}
}

// serveTCP serves the env's server on a loopback port too (TLS from
// the start when implicit) and returns the address. tlsCfg, when set,
// also turns STARTTLS on; set it before any connection.
func (e *testEnv) serveTCP(t *testing.T, tlsCfg *tls.Config, implicit bool) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if tlsCfg != nil {
		e.srv.cfg.TLS = tlsCfg
	}
	if implicit {
		go e.srv.ServeTLS(l)
	} else {
		go e.srv.Serve(l)
	}
	return l.Addr().String()
}

func dialTCP(t *testing.T, addr string, tlsCfg *tls.Config) *session {
	t.Helper()
	var c net.Conn
	var err error
	if tlsCfg != nil {
		c, err = tls.Dial("tcp", addr, tlsCfg)
	} else {
		c, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	s := &session{t: t, conn: c, r: bufio.NewReader(c)}
	if g := s.line(); !strings.HasPrefix(g, "* OK [CAPABILITY IMAP4rev2 ") {
		t.Fatalf("greeting %q", g)
	}
	return s
}

// testTLS is a self-signed certificate for 127.0.0.1: the server's
// config and a client's that trusts it.
func testTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := certs.SelfSigned(cert, key, certs.ECDSAP256, 0, "127.0.0.1", "localhost"); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	pem, _ := os.ReadFile(cert)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &tls.Config{Certificates: []tls.Certificate{pair}}, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

// bigMessage is a message of about n octets in lines of text, for a
// literal longer than the window and than several buffers.
func bigMessage(n int) string {
	var b strings.Builder
	b.WriteString("From: a@example.org\r\nSubject: big\r\n\r\n")
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "line %06d %x of a message that compresses, more or less\r\n", i, i*i*2654435761)
	}
	return b.String()
}

// compressedSession runs the commands every compressed transcript
// shares: mailbox, a sync literal and a LITERAL+ one through the
// inflater, a large APPEND and its FETCH back, IDLE woken by a delivery,
// a second COMPRESS, LOGOUT.
func compressedSession(t *testing.T, e *testEnv, s *session) {
	t.Helper()
	uv := e.uidValidity(t, "INBOX")
	s.do("z1 CAPABILITY", "* CAPABILITY "+capsPost, "z1 OK CAPABILITY completed")
	s.do("z2 COMPRESS DEFLATE", "z2 NO [COMPRESSIONACTIVE] DEFLATE is active already")
	s.do("z3 COMPRESS LZ4", "z3 BAD unknown compression mechanism LZ4")
	s.selectInbox("z4")
	big := bigMessage(300 << 10)
	s.send(fmt.Sprintf("z5 APPEND INBOX {%d}\r\n", len(big)))
	s.expect("literal", "+ Ready for literal data")
	s.send(big + "\r\n")
	s.expect("append", "* 1 EXISTS", "* 1 RECENT", "z5 OK [APPENDUID "+uv+" 1] APPEND completed")
	s.do("z6 APPEND INBOX {6+}\r\nSmall!", "* 2 EXISTS", "* 2 RECENT", "z6 OK [APPENDUID "+uv+" 2] APPEND completed")
	s.send("z7 FETCH 1 BODY.PEEK[]\r\n")
	s.expect("fetch", fmt.Sprintf("* 1 FETCH (BODY[] {%d}", len(big)))
	if got := s.octets(len(big)); got != big {
		t.Fatal("the large message came back changed")
	}
	s.expect("fetch end", ")", "z7 OK FETCH completed")
	s.do("z8 IDLE", "+ idling")
	e.appendMsg(t, "INBOX", msg1, folder.Flags{})
	s.expect("idle update", "* 3 EXISTS", "* 3 RECENT")
	s.do("DONE", "z8 OK IDLE completed")
	s.do("z9 LOGOUT", "* BYE logging out", "z9 OK LOGOUT completed")
	s.closed()
}

func TestCompress(t *testing.T) {
	for _, tc := range []struct {
		name    string
		flusher func(io.Writer) io.Writer
	}{{"sync flush", newSyncFlusher}, {"partial flush", newPartialFlusher}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			s := dialTCP(t, e.serveTCP(t, nil, false), nil)
			s.do("a0 COMPRESS DEFLATE", "a0 BAD COMPRESS is not valid in this state")
			s.login()
			s.do("a1 COMPRESS ZLIB", "a1 BAD unknown compression mechanism ZLIB")
			s.do("a2 COMPRESS", "a2 BAD missing argument")
			s.do("a3 COMPRESS DEFLATE", "a3 OK DEFLATE active")
			s.compress(tc.flusher)
			// Each command is answered with no further input from the
			// client: after a partial flush the last bits of the
			// stream are still in the client (a reader waiting for
			// them would time out here).
			compressedSession(t, e, s)
		})
	}
}

// The client's stream after the COMPRESS line, read already with it,
// is compressed: the NOOP in the same read is answered, in DEFLATE.
func TestCompressPipelined(t *testing.T) {
	e := newEnv(t)
	s := e.dial(t)
	s.login()
	var packed bytes.Buffer
	newSyncFlusher(&packed).Write([]byte("b2 NOOP\r\n"))
	// The pipe listener hands one write to one read.
	s.send("b1 COMPRESS DEFLATE\r\n" + packed.String())
	s.expect("compress", "b1 OK DEFLATE active")
	s.compress(newSyncFlusher)
	s.expect("pipelined", "b2 OK NOOP completed")
	s.do("b3 NOOP", "b3 OK NOOP completed")
}

// Compression over TLS: after STARTTLS and on the implicit TLS port.
// Once compressed, STARTTLS is refused even after UNAUTHENTICATE.
func TestCompressOverTLS(t *testing.T) {
	serverTLS, clientTLS := testTLS(t)
	t.Run("starttls", func(t *testing.T) {
		e := newEnv(t)
		s := dialTCP(t, e.serveTCP(t, serverTLS, false), nil)
		s.do("s1 STARTTLS", "s1 OK Begin TLS negotiation now")
		tc := tls.Client(s.conn, clientTLS)
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		s.conn, s.r = tc, bufio.NewReader(tc)
		s.login()
		s.do("s2 COMPRESS DEFLATE", "s2 OK DEFLATE active")
		s.compress(newPartialFlusher)
		compressedSession(t, e, s)
	})
	t.Run("implicit", func(t *testing.T) {
		e := newEnv(t)
		// Every wait for the next command gives the deflater back
		// through a read deadline on the TLS connection.
		e.srv.compressQuiet = 0
		s := dialTCP(t, e.serveTCP(t, serverTLS, true), clientTLS)
		s.login()
		s.do("i1 COMPRESS DEFLATE", "i1 OK DEFLATE active")
		s.compress(newSyncFlusher)
		compressedSession(t, e, s)
		if e.srv.deflatersReleased.Load() == 0 {
			t.Fatal("no deflater was given back: the TLS read deadline path did not run")
		}
	})
	t.Run("no starttls under compress", func(t *testing.T) {
		e := newEnv(t)
		s := dialTCP(t, e.serveTCP(t, serverTLS, false), nil)
		s.login()
		s.do("c1 COMPRESS DEFLATE", "c1 OK DEFLATE active")
		s.compress(newSyncFlusher)
		s.do("c2 UNAUTHENTICATE", "c2 OK UNAUTHENTICATE completed")
		s.do("c3 CAPABILITY", "* CAPABILITY "+capsPre, "c3 OK CAPABILITY completed")
		s.do("c4 STARTTLS", "c4 BAD STARTTLS is not valid once COMPRESS is active")
		s.login()
		s.do("c5 COMPRESS DEFLATE", "c5 NO [COMPRESSIONACTIVE] DEFLATE is active already")
	})
}

// A quiet client's connection gives its deflater back (here at once:
// compressQuiet 0) and the next answer continues the stream with a new
// one; so does IDLE.
func TestCompressQuietGivesDeflaterBack(t *testing.T) {
	e := newEnv(t)
	e.srv.compressQuiet = 0
	s := e.dial(t)
	s.login()
	s.do("q1 COMPRESS DEFLATE", "q1 OK DEFLATE active")
	s.compress(newPartialFlusher)
	before := e.srv.deflatersReleased.Load()
	const rounds = 20
	for i := 0; i < rounds; i++ {
		s.do(fmt.Sprintf("q%d NOOP", i+2), fmt.Sprintf("q%d OK NOOP completed", i+2))
	}
	// Each answer's deflater went back before the next command was read.
	s.do("q22 NOOP", "q22 OK NOOP completed")
	if n := e.srv.deflatersReleased.Load() - before; n < rounds {
		t.Fatalf("deflater given back %d times in %d quiet rounds", n, rounds)
	}
	s.selectInbox("q30")
	s.do("q31 IDLE", "+ idling")
	e.appendMsg(t, "INBOX", msg1, folder.Flags{})
	s.expect("idle update", "* 1 EXISTS", "* 1 RECENT")
	e.appendMsg(t, "INBOX", msg1, folder.Flags{})
	s.expect("idle update", "* 2 EXISTS", "* 2 RECENT")
	s.do("DONE", "q31 OK IDLE completed")
	s.do("q32 FETCH 1:2 (FLAGS)", `* 1 FETCH (FLAGS (\Recent))`, `* 2 FETCH (FLAGS (\Recent))`, "q32 OK FETCH completed")
}

// Shutdown's BYE goes out compressed, whether the connection holds its
// deflater or gave it back.
func TestCompressShutdownBye(t *testing.T) {
	for _, quiet := range []time.Duration{0, time.Hour} {
		e := newEnv(t)
		e.srv.compressQuiet = quiet
		s := e.dial(t)
		s.login()
		s.do("y1 COMPRESS DEFLATE", "y1 OK DEFLATE active")
		s.compress(newSyncFlusher)
		s.do("y2 NOOP", "y2 OK NOOP completed")
		done := make(chan struct{})
		go func() { e.srv.Shutdown(); close(done) }()
		s.expect("shutdown", "* BYE server shutting down")
		s.closed()
		<-done
	}
}

// A broken compressed stream ends the connection with a BYE that says
// why.
func TestCompressCorruptStream(t *testing.T) {
	e := newEnv(t)
	s := e.dial(t)
	s.login()
	s.do("x1 COMPRESS DEFLATE", "x1 OK DEFLATE active")
	raw := s.conn
	s.compress(newSyncFlusher)
	raw.Write([]byte{0x07}) // a final block of type 3: no such type
	s.expect("corrupt", "* BYE corrupt compressed stream")
	s.closed()
}
