package imap

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"github.com/storaged/storaged/imap/wire"
	"github.com/storaged/storaged/internal/inflate"
)

// COMPRESS=DEFLATE (RFC 4978): the whole connection compressed both
// ways with raw DEFLATE (RFC 1951), after login.
//
// Rules:
//   - Everything after the tagged "OK DEFLATE active" is compressed both
//     ways (RFC 4978 §3). Octets the client sent after the COMPRESS line
//     and that the reader holds already are the start of its compressed
//     stream, not cleartext: the client may send nothing else until it
//     sees the result (§3), so whatever follows the command is meant to
//     be read through the inflater.
//   - The client's stream is read by internal/inflate, which hands out a
//     command as soon as its octets are decoded: clients flush with
//     Z_PARTIAL_FLUSH (mbsync, neomutt, iOS Mail), after which
//     compress/flate's reader would wait for the next command's block
//     header while the client waits for the answer.
//   - Responses are flushed (a sync flush) whenever the connection
//     flushes its buffered writer (a batch of answers, a continuation
//     request, an IDLE update, BYE), never per line, and only then.
//   - Compression sits on TLS, never under it: STARTTLS is not valid
//     once COMPRESS is active (it could only come after UNAUTHENTICATE)
//     and, STARTTLS being a not-authenticated command and COMPRESS an
//     authenticated one, COMPRESS can never find a TLS negotiation
//     pending. crypto/tls has no TLS compression, so COMPRESSIONACTIVE
//     answers only a second COMPRESS.
//   - Memory: a deflater (compress/flate's, whatever the level) is about
//     800 KiB, so a connection holds one only while it answers. A client
//     quiet for compressQuiet, or in IDLE, gives it back to a pool; the
//     next answer starts a new deflater, whose stream simply continues
//     the client's (DEFLATE blocks need no history; the sync flush left
//     the stream on an octet boundary). What stays per connection is the
//     inflater, about 50 KiB: the client's 32 KiB window must be kept.

// deflateLevel: at level 3 compress/flate shrinks a FETCH of headers
// to 7.5% of its size (the default level, 6: 6.6%) in half the time;
// the memory is the same at every level.
const deflateLevel = 3

// compressQuietDefault is how long a compressing connection keeps its
// deflater while its client sends nothing.
const compressQuietDefault = 5 * time.Second

// deflater is a compressor and the buffer its output goes through: the
// compressor writes in pieces of a few hundred octets, and each write to
// a TLS connection would be a record, to TCP a segment.
type deflater struct {
	fw  *flate.Writer
	out *bufio.Writer
}

var deflaters = sync.Pool{New: func() any {
	out := bufio.NewWriterSize(nil, 16<<10)
	fw, err := flate.NewWriter(out, deflateLevel)
	if err != nil {
		panic(err) // only for a bad level
	}
	return &deflater{fw: fw, out: out}
}}

func registerCompress(t *commands, p *wire.Parser) {
	// After login, so only where a password may be sent: over TLS or
	// from a trusted network (tls.go). It stays listed once active; a
	// second COMPRESS gets NO [COMPRESSIONACTIVE], the code RFC 4978 §3
	// defines for it.
	t.capability(afterAuth, "COMPRESS=DEFLATE")
	t.add("COMPRESS", afterAuth, 0, cmdCompress)
	p.Register("COMPRESS", wire.Spec{Parse: parseCompress})
}

// compressArgs: COMPRESS SP algorithm (RFC 4978 §5).
type compressArgs struct{ mechanism string }

func parseCompress(_ *wire.Command, a *wire.Args) (any, error) {
	m, err := a.Keyword()
	if err != nil {
		return nil, err
	}
	return &compressArgs{mechanism: m}, a.End()
}

func cmdCompress(_ context.Context, c *conn, cmd *wire.Command) error {
	mech := cmd.Args.(*compressArgs).mechanism
	switch {
	case mech != "DEFLATE":
		return bad("unknown compression mechanism " + mech)
	case c.z != nil:
		// RFC 4978 §3.
		return no("COMPRESSIONACTIVE", "DEFLATE is active already")
	case c.withdrawn["COMPRESS=DEFLATE"]:
		return bad("COMPRESS is not offered to this account")
	}
	c.w.Status(cmd.Tag, "OK", "", "DEFLATE active")
	if c.w.Flush() != nil {
		return errHangUp
	}
	c.startCompression()
	return errAnswered
}

// compression is a connection's DEFLATE layer: an inflater under the
// reader, and as the buffered writer's destination a deflater that
// flushes after every write the buffered writer makes.
type compression struct {
	dst io.Writer // the connection: TCP, or TLS over it
	d   *deflater // nil while the client is quiet
	in  *inflate.Reader
}

// startCompression puts the inflater under the reader and the deflater
// under the writer; the bufio pair is reset, never recreated (the wire
// reader and writer hold them).
func (c *conn) startCompression() {
	var src io.Reader = c.nc
	n := c.br.Buffered()
	if n > 0 {
		pending, _ := c.br.Peek(n)
		src = io.MultiReader(bytes.NewReader(bytes.Clone(pending)), c.nc)
	}
	c.z = &compression{dst: c.nc, in: inflate.NewReader(src)}
	c.br.Reset(c.z.in)
	if c.bw != nil {
		c.bw.Reset(c.z)
	}
	c.retrace(n)
	c.log.Debug("COMPRESS=DEFLATE active", "pipelined_octets", n)
}

// retrace puts a running rawlog's taps back above the compression layer
// just put in, so the trace stays plaintext. The n octets the reader
// held were recorded as they came, but they are the start of the
// compressed stream: they leave the trace, and come back decoded through
// the inflater.
func (c *conn) retrace(n int) {
	if c.trace == nil {
		return
	}
	c.trace.Unread(n)
	c.br.Reset(c.trace.In(c.z.in))
	if c.bw != nil {
		c.bw.Reset(c.trace.Out(c.z))
	}
}

// out is where the buffered writer writes: the deflater once COMPRESS is
// active, else the connection.
func (c *conn) out() io.Writer {
	if c.z != nil {
		return c.z
	}
	return c.nc
}

// Write compresses p and flushes: the buffered writer calls it when it
// is flushed or full, so one sync flush ends each batch of responses.
func (z *compression) Write(p []byte) (int, error) {
	if z.d == nil {
		z.d = deflaters.Get().(*deflater)
		z.d.out.Reset(z.dst)
		z.d.fw.Reset(z.d.out)
	}
	n, err := z.d.fw.Write(p)
	if err == nil {
		err = z.d.fw.Flush()
	}
	if err == nil {
		err = z.d.out.Flush()
	}
	return n, err
}

// release gives the deflater back to the pool. Every Write ends with a
// flush, so nothing of the stream is left in it.
func (z *compression) release() {
	if z != nil && z.d != nil {
		z.d.out.Reset(nil)
		deflaters.Put(z.d)
		z.d = nil
	}
}

// compressIdle gives the deflater back while the connection waits in
// IDLE; the buffered writer was released (flushed) first.
func (c *conn) compressIdle() {
	if c.bw == nil {
		c.z.release()
	}
}

// settle waits up to compressQuiet for the client's next octets; if none
// come, the connection gives its deflater back (and the idle timeout
// starts then). It returns at once when nothing is held or input is
// waiting, and leaves shutdown's deadline to armRead.
func (c *conn) settle() {
	if c.z == nil || c.z.d == nil || c.bw != nil || c.br.Buffered() > 0 {
		return
	}
	c.nc.SetReadDeadline(time.Now().Add(min(c.srv.compressQuiet, c.srv.cfg.IdleTimeout)))
	if c.closing.Load() {
		return
	}
	// bufio.Reader hands a read error out once and keeps nothing of it;
	// the inflater keeps its state across a deadline.
	if _, err := c.br.Peek(1); errors.Is(err, os.ErrDeadlineExceeded) && !c.closing.Load() {
		c.z.release()
		c.srv.deflatersReleased.Add(1)
	}
}

// corruptStream reports whether err is the client's compressed stream
// being broken, and says so to the client.
func (c *conn) corruptStream(err error) bool {
	if !errors.Is(err, inflate.ErrCorrupt) {
		return false
	}
	c.log.Info("corrupt compressed stream", "err", err)
	c.bye("corrupt compressed stream")
	return true
}
