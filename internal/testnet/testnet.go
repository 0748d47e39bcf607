// Package testnet holds what fuzz and protocol tests of several front
// ends share: a listener of in-memory pipes and a log handler that
// catches recovered panics. It is imported by tests only.
package testnet

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
)

// PipeListener hands the server ends of net.Pipe pairs to a server's
// Serve loop, so a fuzz target can open thousands of sessions without
// sockets.
type PipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

// NewPipeListener returns an open listener.
func NewPipeListener() *PipeListener {
	return &PipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

// Dial returns the client end of a new connection the server accepts.
func (l *PipeListener) Dial() net.Conn {
	client, server := net.Pipe()
	l.conns <- server
	return client
}

func (l *PipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *PipeListener) Close() error   { l.once.Do(func() { close(l.closed) }); return nil }
func (l *PipeListener) Addr() net.Addr { return &net.UnixAddr{Name: "pipe", Net: "pipe"} }

// PanicLog is a slog handler that records every record mentioning a
// panic, which servers log when they recover one, and every warning.
type PanicLog struct {
	mu       sync.Mutex
	panics   []string
	warnings []string
}

func (p *PanicLog) Enabled(context.Context, slog.Level) bool { return true }

func (p *PanicLog) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.String()); return true })
	p.mu.Lock()
	defer p.mu.Unlock()
	if strings.Contains(b.String(), "panic") {
		p.panics = append(p.panics, b.String())
	}
	if r.Level >= slog.LevelWarn {
		p.warnings = append(p.warnings, b.String())
	}
	return nil
}

// Warnings returns the records at level WARN and above, so far.
func (p *PanicLog) Warnings() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.warnings...)
}

func (p *PanicLog) WithAttrs([]slog.Attr) slog.Handler { return p }
func (p *PanicLog) WithGroup(string) slog.Handler      { return p }

// First returns the first panic recorded, or "".
func (p *PanicLog) First() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.panics) == 0 {
		return ""
	}
	return p.panics[0]
}
