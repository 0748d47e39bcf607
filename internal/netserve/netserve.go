// Package netserve is the accept loop our listeners share: accept with
// backoff when the process is out of descriptors, one goroutine per
// connection, and a shutdown that stops accepting first and then waits
// for the connections it was told to end; and the connection limits
// those listeners share (limit.go).
//
// Invariants:
//   - After Shutdown begins, no new connection is handed to a handler:
//     one accepted in the race is closed at once.
//   - Every handler's connection is closed when the handler returns.
//   - A handler's panic is the handler's to recover (it knows its
//     session id); netserve never recovers one.
package netserve

import (
	"errors"
	"net"
	"sync"
	"time"
)

// Group is a set of listeners and the connections they accepted.
type Group struct {
	mu        sync.Mutex
	closing   bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	wg        sync.WaitGroup
}

// Serve accepts on l until Shutdown (then it returns nil) or a permanent
// accept error, running handle in its own goroutine for each connection.
func (g *Group) Serve(l net.Listener, handle func(net.Conn)) error {
	g.mu.Lock()
	if g.closing {
		g.mu.Unlock()
		l.Close()
		return nil
	}
	if g.listeners == nil {
		g.listeners, g.conns = map[net.Listener]struct{}{}, map[net.Conn]struct{}{}
	}
	g.listeners[l] = struct{}{}
	g.mu.Unlock()
	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if g.Closing() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Out of descriptors or similar: back off rather than spin.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		g.mu.Lock()
		if g.closing {
			g.mu.Unlock()
			c.Close()
			return nil
		}
		g.conns[c] = struct{}{}
		g.wg.Add(1)
		g.mu.Unlock()
		go func() {
			defer g.wg.Done()
			defer func() {
				c.Close()
				g.mu.Lock()
				delete(g.conns, c)
				g.mu.Unlock()
			}()
			handle(c)
		}()
	}
}

// Closing reports whether Shutdown has begun.
func (g *Group) Closing() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closing
}

// Shutdown stops accepting: every listener is closed.
func (g *Group) Shutdown() {
	g.mu.Lock()
	g.closing = true
	for l := range g.listeners {
		l.Close()
	}
	g.mu.Unlock()
}

// CloseConns closes every open connection, ending handlers blocked on
// reads.
func (g *Group) CloseConns() {
	g.mu.Lock()
	for c := range g.conns {
		c.Close()
	}
	g.mu.Unlock()
}

// Each calls fn for every open connection (under the group's lock: fn
// must not block), e.g. to set a read deadline that wakes a session
// waiting for its next command, so it ends after the one it runs.
func (g *Group) Each(fn func(net.Conn)) {
	g.mu.Lock()
	for c := range g.conns {
		fn(c)
	}
	g.mu.Unlock()
}

// Wait waits for every handler to return.
func (g *Group) Wait() { g.wg.Wait() }
