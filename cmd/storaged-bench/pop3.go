package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// pop3Conn is one POP3 client connection (RFC 1939): single-line replies
// are checked for +OK, multi-line ones are counted up to the "." line.
type pop3Conn struct {
	c   net.Conn
	r   *bufio.Reader
	w   *bufio.Writer
	cmd []byte
}

func dialPOP3(addr string, timeout time.Duration) (*pop3Conn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	p := &pop3Conn{c: c, r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriterSize(c, 4<<10)}
	if _, err := p.status(); err != nil {
		c.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	return p, nil
}

// status reads a single-line reply and returns the text after "+OK".
func (p *pop3Conn) status() ([]byte, error) {
	line, err := p.r.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(line, []byte("+OK")) {
		return nil, fmt.Errorf("pop3: %q", bytes.TrimSpace(line))
	}
	return bytes.TrimSpace(line[3:]), nil
}

func (p *pop3Conn) send(parts ...string) error {
	p.cmd = p.cmd[:0]
	for _, s := range parts {
		p.cmd = append(p.cmd, s...)
	}
	p.cmd = append(p.cmd, '\r', '\n')
	if _, err := p.w.Write(p.cmd); err != nil {
		return err
	}
	return p.w.Flush()
}

// multi reads a multi-line body after its +OK and returns its octets,
// dot-stuffing and the terminating line not counted.
func (p *pop3Conn) multi() (int64, error) {
	var n int64
	atStart := true
	for {
		line, err := p.r.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return n, err
		}
		if atStart && len(line) > 0 && line[0] == '.' {
			if len(line) == 3 && line[1] == '\r' && line[2] == '\n' {
				return n, nil
			}
			n--
		}
		n += int64(len(line))
		atStart = err == nil
	}
}

// runPOP3Retr times a whole POP3 session that logs in and retrieves every
// message one RETR after the other, as fetchmail and most clients do.
func runPOP3Retr(addr, user, password string, expect int) (Result, error) {
	start := time.Now()
	p, err := dialPOP3(addr, 10*time.Second)
	if err != nil {
		return Result{}, fmt.Errorf("pop3 %s: %w", addr, err)
	}
	defer p.c.Close()
	step := func(parts ...string) ([]byte, error) {
		if err := p.send(parts...); err != nil {
			return nil, err
		}
		return p.status()
	}
	if _, err := step("USER ", user); err != nil {
		return Result{}, err
	}
	if _, err := step("PASS ", password); err != nil {
		return Result{}, err
	}
	stat, err := step("STAT")
	if err != nil {
		return Result{}, err
	}
	count, err := strconv.Atoi(string(bytes.Fields(stat)[0]))
	if err != nil {
		return Result{}, fmt.Errorf("STAT: %q", stat)
	}
	if expect > 0 && count != expect {
		return Result{}, fmt.Errorf("maildrop holds %d messages, want %d", count, expect)
	}
	var total int64
	for i := 1; i <= count; i++ {
		p.cmd = strconv.AppendInt(append(p.cmd[:0], "RETR "...), int64(i), 10)
		p.cmd = append(p.cmd, '\r', '\n')
		if _, err := p.w.Write(p.cmd); err != nil {
			return Result{}, err
		}
		if err := p.w.Flush(); err != nil {
			return Result{}, err
		}
		if _, err := p.status(); err != nil {
			return Result{}, fmt.Errorf("RETR %d: %w", i, err)
		}
		n, err := p.multi()
		if err != nil {
			return Result{}, fmt.Errorf("RETR %d: %w", i, err)
		}
		total += n
	}
	el := time.Since(start)
	step("QUIT")
	return Result{Value: ms(el), Unit: "ms", Better: "lower", N: count, Bytes: total, Ms: ms(el)}, nil
}
