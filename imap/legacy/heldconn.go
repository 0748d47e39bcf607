package legacy

import (
	"net"
	"sync"
)

// heldConn batches writes while a command that answers with many
// responses runs: imapserver flushes after every response, so a FETCH of
// 10,000 messages would otherwise be 10,000 write syscalls.
type heldConn struct {
	net.Conn
	mu   sync.Mutex
	hold bool
	buf  []byte
}

// heldFlushAt is the most a held conn buffers before writing.
const heldFlushAt = 128 << 10

func (c *heldConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.hold {
		return c.Conn.Write(p)
	}
	c.buf = append(c.buf, p...)
	if len(c.buf) >= heldFlushAt {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (c *heldConn) flushLocked() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	c.buf = c.buf[:0]
	return err
}

// Hold starts batching.
func (c *heldConn) Hold() {
	c.mu.Lock()
	c.hold = true
	c.mu.Unlock()
}

// Release writes what was batched and stops batching. It must run before
// the command's tagged reply, which imapserver writes after the handler.
func (c *heldConn) Release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hold = false
	err := c.flushLocked()
	if cap(c.buf) > heldFlushAt*2 {
		c.buf = nil // an idle connection keeps no big buffer
	}
	return err
}

type heldListener struct{ net.Listener }

func (l heldListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &heldConn{Conn: c}, nil
}
