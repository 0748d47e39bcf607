package netserve

import (
	"net"
	"sync/atomic"
)

// Counted is a connection that counts the octets each way, for the line
// a session logs when it ends. Wrap the raw connection, under any TLS or
// compression, so the figures are what crossed the wire.
type Counted struct {
	net.Conn
	in, out atomic.Int64
}

// Count wraps c.
func Count(c net.Conn) *Counted { return &Counted{Conn: c} }

func (c *Counted) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.in.Add(int64(n))
	return n, err
}

func (c *Counted) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.out.Add(int64(n))
	return n, err
}

// Octets are the octets read and written so far.
func (c *Counted) Octets() (in, out int64) { return c.in.Load(), c.out.Load() }
