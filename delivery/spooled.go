package delivery

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"time"

	"github.com/storaged/storaged/internal/spool"
	"github.com/storaged/storaged/sieve"
	"github.com/storaged/storaged/store"
)

// A message from LMTP reaches delivery as a spool.Message (canonical: in
// the spool's memory, or a file above the spool threshold, read once per
// recipient). Its copies are spool.Contents: the recipient's trace
// fields (or a header Sieve edited) in memory, then the spool's octets.
// The store parses and writes the two pieces as they are: the message
// is never copied whole to put its trace fields before it, and the
// format's own buffer (the LF form) is the only copy; nothing keeps a
// reference to the spool's memory once the store returned (its pool
// takes it back at the end of the transaction).
//
// When a Sieve script is to run on a copy in memory, the copy is joined
// first (joined), so that Sieve reads, edits, redirects and answers what
// Deliver gives it: the whole message, in a slice of its own, which an
// edited header or a redirect may keep. A spooled message is never held
// whole:
//   - Sieve gets the header (at most maxSieveHeader octets) and a body
//     prefix of twice the body test's budget (RunLimits.MaxBodySize):
//     every value the body test reads is cut at that budget anyway
//     (sieve/body.go), and the margin leaves room for a base64 part to
//     decode to it. Pigeonhole reads the body from the delivery's temp
//     file the same way, part by part, and likewise cuts what it keeps.
//     The size test sees the whole size.
//   - A header Sieve edited replaces the spooled header: the copy is the
//     new header, then the spool from the body on.
//   - A redirect streams the spool to the relay.

// maxSieveHeader bounds the header Sieve reads of a spooled message (a
// header is a few KB; 1 MiB is also the threshold below which the whole
// message is in memory anyway). A header that does not end within it is
// read as far as that, and the message is not edited.
const maxSieveHeader = 1 << 20

// content is one recipient's copy: in memory (b), or spooled (c).
type content struct {
	b []byte
	c *spool.Content
}

func (x content) size() int64 {
	if x.c != nil {
		return x.c.Size()
	}
	return int64(len(x.b))
}

func (x content) append(ctx context.Context, mb *store.Mailbox, opt store.AppendOptions) (store.Appended, error) {
	if x.c != nil {
		return mb.AppendContent(ctx, x.c, opt)
	}
	return mb.Append(ctx, x.b, opt)
}

// messageID is the Message-ID for the log, from the first 64 KiB.
func (x content) messageID() string {
	if x.c == nil {
		return messageID(x.b)
	}
	head, _ := io.ReadAll(io.LimitReader(x.c.NewReader(), 64<<10))
	return messageID(head)
}

// deliverContent is Deliver for a spool.Message.
func (d *Deliverer) deliverContent(ctx context.Context, env Envelope, rcpt Recipient, acct *store.Account, m *spool.Message) error {
	full := content{c: &spool.Content{Head: d.trace(env, rcpt, time.Now()), Body: m}}
	if d.Sieve != nil && d.Sieve.Scripts != nil {
		return d.filter(ctx, env, rcpt, acct, full)
	}
	return d.keep(ctx, acct, rcpt, full, nil, env)
}

// joined is x as one slice of its own when its body is in memory (the
// head, then the body: what withTrace makes of the message), for Sieve;
// a spooled copy stays as it is.
func joined(x content) content {
	if x.c == nil {
		return x
	}
	head, body, ok := x.c.Pieces()
	if !ok {
		return x
	}
	b := make([]byte, 0, len(head)+len(body))
	return content{b: append(append(b, head...), body...)}
}

// sieveView is what Sieve sees of a copy, and where its body starts
// (bodyOff, in the copy's octets; -1 when the header did not end in
// what was read, as for a message that is all header).
type sieveView struct {
	msg     *sieve.Message
	bodyOff int64
}

// sieveMessage parses a copy for Sieve: the whole of it in memory, or
// the header and a body prefix of a spooled one.
func (d *Deliverer) sieveMessage(x content) (sieveView, error) {
	if x.c == nil {
		return sieveView{msg: sieve.ParseMessage(x.b), bodyOff: -1}, nil
	}
	br := bufio.NewReaderSize(x.c.NewReader(), 64<<10)
	var hdr []byte
	end := false
	// The header ends at the first line that is empty but for CR and LF
	// (sieve.ParseMessage's rule).
	for len(hdr) < maxSieveHeader {
		line, err := br.ReadSlice('\n')
		hdr = append(hdr, line...)
		if err == nil && len(bytes.TrimRight(line, "\r\n")) == 0 && !midLine(hdr, line) {
			end = true
			break
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return sieveView{}, err
		}
	}
	v := sieveView{msg: sieve.ParseMessage(hdr), bodyOff: -1}
	if end {
		v.bodyOff = int64(len(hdr))
		budget := sieve.RunLimits{}.MaxBodySize
		if d.Sieve != nil {
			budget = d.Sieve.Limits.MaxBodySize
		}
		if budget <= 0 {
			budget = 1 << 20 // sieve's default
		}
		body, err := io.ReadAll(io.LimitReader(br, 2*int64(budget)))
		if err != nil {
			return sieveView{}, err
		}
		v.msg.Body = body
	}
	v.msg.Size = x.size()
	return v, nil
}

// midLine tells whether line, just appended to hdr, is the tail of a
// longer line that ReadSlice returned in pieces.
func midLine(hdr, line []byte) bool {
	k := len(hdr) - len(line)
	return k > 0 && hdr[k-1] != '\n'
}

// edited is the copy with a header Sieve edited (RFC 5293 §4).
func (d *Deliverer) edited(x content, v sieveView, h []sieve.Field) (content, bool) {
	head := append(sieve.FormatHeader(h), '\r', '\n')
	if x.c == nil {
		return content{b: withHeader(h, v.msg.Body)}, true
	}
	off := v.bodyOff - int64(len(x.c.Head)) + x.c.Off
	if v.bodyOff < int64(len(x.c.Head)) || off < x.c.Off {
		return x, false // the header did not end where we read
	}
	return content{c: &spool.Content{Head: head, Body: x.c.Body, Off: off}}, true
}

// redirectBody is what follows the redirect's own field: the header h
// without Return-Path, then the body, streamed from the spool for a
// spooled copy.
func redirectBody(x content, v sieveView, h []sieve.Field) io.Reader {
	if x.c == nil {
		return bytes.NewReader(withHeader(h, v.msg.Body))
	}
	if v.bodyOff < int64(len(x.c.Head)) {
		// A header too large to read: the copy goes as it is.
		return x.c.NewReader()
	}
	head := append(sieve.FormatHeader(h), '\r', '\n')
	off := v.bodyOff - int64(len(x.c.Head)) + x.c.Off
	return io.MultiReader(bytes.NewReader(head), x.c.Body.NewReader(off))
}
