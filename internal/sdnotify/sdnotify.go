// Package sdnotify tells systemd about the service's state (sd_notify(3)):
// READY=1 once the listeners are bound, RELOADING=1 and READY=1 around a
// reload, STOPPING=1 when draining starts. It is the protocol itself (one
// datagram to $NOTIFY_SOCKET), which needs no library.
package sdnotify

import (
	"fmt"
	"net"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Notifier sends to one socket; the zero value (no socket: not started
// by systemd, or a Type= that does not listen) sends nothing.
type Notifier struct {
	Socket string // $NOTIFY_SOCKET: a path, or "@name" in the abstract namespace
}

// Send sends one state message, e.g. "READY=1".
func (n Notifier) Send(state string) error {
	if n.Socket == "" {
		return nil
	}
	addr := n.Socket
	if strings.HasPrefix(addr, "@") {
		addr = "\x00" + addr[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	return nil
}

// Ready is READY=1 with a status line for systemctl status.
func (n Notifier) Ready(status string) error {
	return n.Send("READY=1\nSTATUS=" + status)
}

// Reloading is RELOADING=1 with the CLOCK_MONOTONIC time systemd 253+
// asks for (Type=notify-reload); a READY=1 must follow.
func (n Notifier) Reloading() error {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	usec := ts.Sec*int64(time.Second/time.Microsecond) + ts.Nsec/int64(time.Microsecond)
	return n.Send(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", usec))
}

// Stopping is STOPPING=1.
func (n Notifier) Stopping() error { return n.Send("STOPPING=1") }
