package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// lmtpConn is one LMTP client connection (RFC 2033). It reads replies with
// ReadSlice, so a reply costs no allocation, and pipelines MAIL, RCPT and
// DATA when the server offers PIPELINING (RFC 2920), as Postfix does.
type lmtpConn struct {
	c        net.Conn
	r        *bufio.Reader
	w        *bufio.Writer
	pipeline bool
	buf      []byte
}

// errReply is a reply other than the one the client waited for.
type errReply struct {
	want int
	line string
}

func (e *errReply) Error() string { return fmt.Sprintf("want %d, got %q", e.want, e.line) }

func dialLMTP(addr string, timeout time.Duration) (*lmtpConn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	l := &lmtpConn{c: c, r: bufio.NewReaderSize(c, 16<<10), w: bufio.NewWriterSize(c, 64<<10)}
	if _, err := l.expect(220); err != nil {
		c.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	l.w.WriteString("LHLO bench.example\r\n")
	if err := l.w.Flush(); err != nil {
		c.Close()
		return nil, err
	}
	for {
		line, err := l.r.ReadSlice('\n')
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("LHLO: %w", err)
		}
		if len(line) < 4 || !bytes.HasPrefix(line, []byte("250")) {
			c.Close()
			return nil, fmt.Errorf("LHLO: %w", &errReply{250, string(line)})
		}
		if bytes.EqualFold(bytes.TrimSpace(line[4:]), []byte("PIPELINING")) {
			l.pipeline = true
		}
		if line[3] != '-' {
			break
		}
	}
	return l, nil
}

// expect reads one (possibly multi-line) reply and checks its code.
func (l *lmtpConn) expect(code int) (int, error) {
	for {
		line, err := l.r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(line) < 4 {
			return 0, &errReply{code, string(line)}
		}
		got := int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
		if line[3] == '-' {
			continue
		}
		if got != code {
			return got, &errReply{code, string(line)}
		}
		return got, nil
	}
}

// deliver sends one message to one recipient and waits for its 250.
func (l *lmtpConn) deliver(g *generator, i int, rcpt string) error {
	b := append(l.buf[:0], "MAIL FROM:<sender@bench.example>\r\n"...)
	if !l.pipeline {
		if err := l.send(b); err != nil {
			return err
		}
		if _, err := l.expect(250); err != nil {
			return fmt.Errorf("MAIL: %w", err)
		}
		b = b[:0]
	}
	b = append(b, "RCPT TO:<"...)
	b = append(b, rcpt...)
	b = append(b, ">\r\n"...)
	if !l.pipeline {
		if err := l.send(b); err != nil {
			return err
		}
		if _, err := l.expect(250); err != nil {
			return fmt.Errorf("RCPT: %w", err)
		}
		b = b[:0]
	}
	b = append(b, "DATA\r\n"...)
	if err := l.send(b); err != nil {
		return err
	}
	if l.pipeline {
		if _, err := l.expect(250); err != nil {
			return fmt.Errorf("MAIL: %w", err)
		}
		if _, err := l.expect(250); err != nil {
			return fmt.Errorf("RCPT: %w", err)
		}
	}
	if _, err := l.expect(354); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	b = g.appendMessage(b[:0], i, rcpt)
	l.buf = b
	if err := l.send(b); err != nil {
		return err
	}
	// RFC 2033 §4.2: one reply per successful RCPT; there is one.
	if _, err := l.expect(250); err != nil {
		return fmt.Errorf("after DATA: %w", err)
	}
	return nil
}

func (l *lmtpConn) send(b []byte) error {
	if _, err := l.w.Write(b); err != nil {
		return err
	}
	return l.w.Flush()
}

func (l *lmtpConn) quit() {
	l.w.WriteString("QUIT\r\n")
	l.w.Flush()
	l.expect(221)
	l.c.Close()
}

// lmtpParams selects one delivery run.
type lmtpParams struct {
	addr  string
	rcpts []string // round robin over these
	n     int      // messages in all
	first int      // number of the first message
	size  int
	conns int
	seed  string
}

// runLMTP opens all connections first, then times the delivery of n
// messages spread over them, message i to rcpts[i % len(rcpts)].
func runLMTP(p lmtpParams) (Result, error) {
	if p.conns < 1 || p.n < 1 || len(p.rcpts) == 0 {
		return Result{}, errors.New("lmtp: need -n, -conns and -to")
	}
	g := newGenerator(p.size, p.seed)
	msgLen := len(g.appendMessage(nil, p.first, p.rcpts[0])) - len(".\r\n")
	conns := make([]*lmtpConn, p.conns)
	for i := range conns {
		c, err := dialLMTP(p.addr, 10*time.Second)
		if err != nil {
			for _, c := range conns[:i] {
				c.c.Close()
			}
			return Result{}, fmt.Errorf("lmtp %s: %w", p.addr, err)
		}
		conns[i] = c
	}
	var next atomic.Int64
	lat := make([][]time.Duration, p.conns)
	errs := make([]error, p.conns)
	var wg sync.WaitGroup
	start := time.Now()
	for ci, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := make([]time.Duration, 0, p.n/p.conns+1)
			for {
				i := int(next.Add(1) - 1)
				if i >= p.n {
					break
				}
				t := time.Now()
				if err := c.deliver(g, p.first+i, p.rcpts[i%len(p.rcpts)]); err != nil {
					errs[ci] = fmt.Errorf("message %d: %w", p.first+i, err)
					next.Store(int64(p.n))
					break
				}
				d = append(d, time.Since(t))
			}
			lat[ci] = d
		}()
	}
	wg.Wait()
	el := time.Since(start)
	for _, c := range conns {
		c.quit()
	}
	if err := errors.Join(errs...); err != nil {
		return Result{}, err
	}
	var all []time.Duration
	for _, d := range lat {
		all = append(all, d...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	return Result{
		Value:  float64(p.n) / el.Seconds(),
		Unit:   "msg/s",
		Better: "higher",
		N:      p.n,
		Bytes:  int64(p.n) * int64(msgLen),
		Ms:     ms(el),
		P50Ms:  ms(all[len(all)/2]),
		P99Ms:  ms(all[len(all)*99/100]),
	}, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
