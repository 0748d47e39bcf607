package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// imapConn is one IMAP4rev1 client connection (RFC 3501). It never builds
// a response in memory: lines come from ReadSlice, literals are counted and
// skipped with Discard, and only what a scenario checks is parsed (EXISTS,
// FETCH responses, SEARCH hits, the tagged status).
type imapConn struct {
	c   net.Conn
	r   *bufio.Reader
	w   *bufio.Writer
	tag int
	cmd []byte
	tb  []byte // current tag followed by a space
}

// respStats is what one command's responses held.
type respStats struct {
	exists       int
	fetches      int
	literals     int
	literalBytes int64
	searchHits   int
	// highestModSeq is from an OK [HIGHESTMODSEQ n] (CONDSTORE).
	highestModSeq uint64
}

var errIMAPStatus = errors.New("imap: command failed")

// dialIMAP connects and reads the greeting; with tc, over implicit TLS
// (RFC 8314 §3.3), the handshake done before the greeting is read.
func dialIMAP(addr string, tc *tls.Config, timeout time.Duration) (*imapConn, error) {
	return dialIMAPWith(&net.Dialer{Timeout: timeout}, addr, tc)
}

// dialIMAPWith is dialIMAP with a dialer of the caller's (login-rss sets
// the local address).
func dialIMAPWith(d *net.Dialer, addr string, tc *tls.Config) (*imapConn, error) {
	var c net.Conn
	var err error
	if tc != nil {
		c, err = tls.DialWithDialer(d, "tcp", addr, tc)
	} else {
		c, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	m := &imapConn{c: c, r: bufio.NewReaderSize(c, 256<<10), w: bufio.NewWriterSize(c, 16<<10)}
	line, err := m.r.ReadSlice('\n')
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if !bytes.HasPrefix(line, []byte("* OK")) {
		c.Close()
		return nil, fmt.Errorf("greeting: %q", line)
	}
	return m, nil
}

// quote is an IMAP quoted string (RFC 3501 §4.3) of s.
func quote(s string) string {
	return strconv.Quote(s) // enough for the ASCII credentials and keywords used here
}

func (m *imapConn) login(user, password string) error {
	_, err := m.run("LOGIN " + quote(user) + " " + quote(password))
	return err
}

func (m *imapConn) logout() {
	m.run("LOGOUT")
	m.c.Close()
}

// run sends one command and reads up to its tagged reply.
func (m *imapConn) run(cmd string) (respStats, error) {
	m.tag++
	m.tb = append(m.tb[:0], 'b')
	m.tb = strconv.AppendInt(m.tb, int64(m.tag), 10)
	m.tb = append(m.tb, ' ')
	m.cmd = append(append(append(m.cmd[:0], m.tb...), cmd...), '\r', '\n')
	if _, err := m.w.Write(m.cmd); err != nil {
		return respStats{}, err
	}
	if err := m.w.Flush(); err != nil {
		return respStats{}, err
	}
	return m.read(cmd)
}

// read consumes responses up to the tagged one. A line may come in several
// slices when it is longer than the buffer; a literal {n} at the end of a
// line is skipped and the response goes on after it (RFC 3501 §4.3).
func (m *imapConn) read(cmd string) (respStats, error) {
	var st respStats
	newResponse := true // the next slice starts a response, not the rest of one after a literal
	inSearch := false
	var tail [32]byte // the last bytes of a line split over slices, to find a literal marker
	tailN := 0
	for {
		frag, err := m.r.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return st, err
		}
		if newResponse {
			newResponse = false
			inSearch = false
			switch {
			case bytes.HasPrefix(frag, m.tb):
				rest := frag[len(m.tb):]
				if bytes.HasPrefix(rest, []byte("OK")) {
					// Drain a tagged line longer than the buffer.
					for errors.Is(err, bufio.ErrBufferFull) {
						_, err = m.r.ReadSlice('\n')
					}
					return st, nil
				}
				return st, fmt.Errorf("%w: %s: %s", errIMAPStatus, cmd, bytes.TrimSpace(rest))
			case bytes.HasPrefix(frag, []byte("* ")):
				untagged(frag[2:], &st, &inSearch)
			}
		} else if inSearch {
			st.searchHits += bytes.Count(frag, []byte{' '})
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			tailN = copy(tail[:], frag[max(0, len(frag)-len(tail)):])
			continue
		}
		line := frag
		if tailN > 0 && len(frag) < len(tail) {
			line = append(tail[:tailN:tailN], frag...)
		}
		tailN = 0
		if n, ok := literalAt(line); ok {
			st.literals++
			st.literalBytes += n
			if _, err := m.r.Discard(int(n)); err != nil {
				return st, err
			}
			continue
		}
		newResponse = true
	}
}

// untagged looks at the start of an untagged response (after "* ").
func untagged(b []byte, st *respStats, inSearch *bool) {
	if bytes.HasPrefix(b, []byte("SEARCH")) {
		// "* SEARCH 1 2 3": one space before each hit.
		*inSearch = true
		st.searchHits += bytes.Count(b[len("SEARCH"):], []byte{' '})
		return
	}
	if v, ok := bytes.CutPrefix(b, []byte("OK [HIGHESTMODSEQ ")); ok {
		if j := bytes.IndexByte(v, ']'); j > 0 {
			st.highestModSeq, _ = strconv.ParseUint(string(v[:j]), 10, 64)
		}
		return
	}
	if bytes.HasPrefix(b, []byte("SORT")) || bytes.HasPrefix(b, []byte("THREAD")) {
		*inSearch = true // counted like SEARCH hits: spaces (THREAD: roughly)
		st.searchHits += bytes.Count(b, []byte{' '})
		return
	}
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i == 0 {
		return
	}
	switch rest := b[i:]; {
	case bytes.HasPrefix(rest, []byte(" FETCH")):
		st.fetches++
	case bytes.HasPrefix(rest, []byte(" EXISTS")):
		st.exists, _ = strconv.Atoi(string(b[:i]))
	}
}

// literalAt reports the size of the literal {n} or {n+} announced at the
// end of line.
func literalAt(line []byte) (int64, bool) {
	line = bytes.TrimRight(line, "\r\n")
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false
	}
	open := bytes.LastIndexByte(line, '{')
	if open < 0 {
		return 0, false
	}
	num := bytes.TrimSuffix(line[open+1:len(line)-1], []byte("+"))
	n, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// imapParams selects the IMAP scenarios' account.
type imapParams struct {
	addr, user, password string
	mailbox              string
	expect               int // messages the mailbox must hold; 0: any
	first                int // number of the first message, for the expected SEARCH hits
	keyword              int
	tls                  *tls.Config // nil: plain IMAP; else implicit TLS
}

func imapSession(p imapParams) (*imapConn, error) {
	m, err := dialIMAP(p.addr, p.tls, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("imap %s: %w", p.addr, err)
	}
	if err := m.login(p.user, p.password); err != nil {
		m.c.Close()
		return nil, err
	}
	return m, nil
}

func (p imapParams) checkExists(n int) error {
	if p.expect > 0 && n != p.expect {
		return fmt.Errorf("%s holds %d messages, want %d", p.mailbox, n, p.expect)
	}
	if n == 0 {
		return fmt.Errorf("%s is empty", p.mailbox)
	}
	return nil
}

// runIMAPMeta times SELECT and a FETCH of every message's flags, size and
// envelope: what a client does when it opens a mailbox.
func runIMAPMeta(p imapParams) (Result, error) {
	m, err := imapSession(p)
	if err != nil {
		return Result{}, err
	}
	defer m.logout()
	start := time.Now()
	sel, err := m.run("SELECT " + quote(p.mailbox))
	if err != nil {
		return Result{}, err
	}
	f, err := m.run("UID FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE)")
	el := time.Since(start)
	if err != nil {
		return Result{}, err
	}
	if err := p.checkExists(sel.exists); err != nil {
		return Result{}, err
	}
	if f.fetches != sel.exists {
		return Result{}, fmt.Errorf("FETCH answered %d messages of %d", f.fetches, sel.exists)
	}
	return Result{Value: ms(el), Unit: "ms", Better: "lower", N: sel.exists, Ms: ms(el)}, nil
}

// runIMAPBody times a FETCH of every message's full text; SELECT is not
// timed. It gives two results: the time and the rate in MB/s.
func runIMAPBody(p imapParams) ([]Result, error) {
	m, err := imapSession(p)
	if err != nil {
		return nil, err
	}
	defer m.logout()
	sel, err := m.run("SELECT " + quote(p.mailbox))
	if err != nil {
		return nil, err
	}
	if err := p.checkExists(sel.exists); err != nil {
		return nil, err
	}
	start := time.Now()
	f, err := m.run("UID FETCH 1:* (BODY.PEEK[])")
	el := time.Since(start)
	if err != nil {
		return nil, err
	}
	if f.fetches != sel.exists || f.literals < sel.exists {
		return nil, fmt.Errorf("FETCH answered %d messages (%d literals) of %d", f.fetches, f.literals, sel.exists)
	}
	mbps := float64(f.literalBytes) / 1e6 / el.Seconds()
	return []Result{
		{Value: ms(el), Unit: "ms", Better: "lower", N: sel.exists, Bytes: f.literalBytes, Ms: ms(el)},
		{Value: mbps, Unit: "MB/s", Better: "higher", N: sel.exists, Bytes: f.literalBytes, Ms: ms(el), Suffix: "rate"},
	}, nil
}

// runIMAPSearch times UID SEARCH HEADER Subject and UID SEARCH TEXT for a
// keyword one message in a hundred carries; SELECT is not timed.
func runIMAPSearch(p imapParams) ([]Result, error) {
	m, err := imapSession(p)
	if err != nil {
		return nil, err
	}
	defer m.logout()
	sel, err := m.run("SELECT " + quote(p.mailbox))
	if err != nil {
		return nil, err
	}
	if err := p.checkExists(sel.exists); err != nil {
		return nil, err
	}
	kw := string(appendKeyword(nil, p.keyword))
	want := -1
	if p.expect > 0 {
		want = keywordHits(p.first, p.expect, p.keyword)
	}
	var out []Result
	for _, q := range []struct{ suffix, cmd string }{
		{"header", "UID SEARCH HEADER Subject " + quote("kw"+kw)},
		{"text", "UID SEARCH TEXT " + quote("bodykw"+kw)},
	} {
		start := time.Now()
		st, err := m.run(q.cmd)
		el := time.Since(start)
		if err != nil {
			return nil, err
		}
		if want >= 0 && st.searchHits != want {
			return nil, fmt.Errorf("%s: %d hits, want %d", q.cmd, st.searchHits, want)
		}
		out = append(out, Result{Value: ms(el), Unit: "ms", Better: "lower", N: sel.exists, Hits: st.searchHits, Ms: ms(el), Suffix: q.suffix})
	}
	return out, nil
}

// runIMAPSort times SORT by DATE and by SUBJECT and THREAD=REFERENCES
// and THREAD=REFS of the whole mailbox, then CONDSTORE's FETCH
// (CHANGEDSINCE) after ten messages changed: the index must answer the
// last without reading every message.
func runIMAPSort(p imapParams) ([]Result, error) {
	m, err := imapSession(p)
	if err != nil {
		return nil, err
	}
	defer m.logout()
	sel, err := m.run("SELECT " + quote(p.mailbox) + " (CONDSTORE)")
	if err != nil {
		return nil, err
	}
	if err := p.checkExists(sel.exists); err != nil {
		return nil, err
	}
	if sel.highestModSeq == 0 {
		return nil, fmt.Errorf("SELECT (CONDSTORE) gave no HIGHESTMODSEQ")
	}
	var out []Result
	for _, q := range []struct{ suffix, cmd string }{
		{"sort-date", "UID SORT (DATE) UTF-8 ALL"},
		{"sort-subject", "UID SORT (SUBJECT) UTF-8 ALL"},
		{"thread-references", "UID THREAD REFERENCES UTF-8 ALL"},
		{"thread-refs", "UID THREAD REFS UTF-8 ALL"},
	} {
		start := time.Now()
		if _, err := m.run(q.cmd); err != nil {
			return nil, err
		}
		el := time.Since(start)
		out = append(out, Result{Value: ms(el), Unit: "ms", Better: "lower", N: sel.exists, Ms: ms(el), Suffix: q.suffix})
	}
	// Ten messages change (a keyword new to each run, so that the STORE
	// changes them every time); only they come back.
	flag := "$b" + strconv.FormatUint(sel.highestModSeq, 10)
	step := max(sel.exists/10, 1)
	set := ""
	for i := 0; i < 10 && 1+i*step <= sel.exists; i++ {
		if set != "" {
			set += ","
		}
		set += strconv.Itoa(1 + i*step)
	}
	if _, err := m.run("STORE " + set + " +FLAGS.SILENT (" + flag + ")"); err != nil {
		return nil, err
	}
	start := time.Now()
	st, err := m.run("UID FETCH 1:* (FLAGS) (CHANGEDSINCE " + strconv.FormatUint(sel.highestModSeq, 10) + ")")
	el := time.Since(start)
	if err != nil {
		return nil, err
	}
	if st.fetches != 10 && sel.exists >= 10 {
		return nil, fmt.Errorf("CHANGEDSINCE: %d FETCH responses, want 10", st.fetches)
	}
	out = append(out, Result{Value: ms(el), Unit: "ms", Better: "lower", N: sel.exists, Hits: st.fetches, Ms: ms(el), Suffix: "changedsince"})
	return out, nil
}
