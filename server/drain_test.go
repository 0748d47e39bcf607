package server_test

import (
	"context"
	"strings"
	"testing"
	"time"
)

// SIGTERM's drain: a transaction in flight when shutdown begins is
// finished and answered; a new one is refused with 421.
func TestShutdownDrains(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir, nil, "bob")
	c := ts.lmtpClient()
	defer c.Close()
	if err := c.Mail("s@example.net", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("bob@example.org", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Subject: in flight\r\n\r\nfirst half\r\n"))

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		done <- ts.Shutdown(ctx)
	}()
	// A second client is refused once draining has begun.
	for {
		c2 := ts.lmtpClientOrNil()
		if c2 == nil {
			break // listener closed: draining
		}
		err := c2.Mail("s@example.net", nil)
		c2.Close()
		if err != nil {
			if !strings.Contains(err.Error(), "421") {
				t.Fatalf("new transaction during drain: %v", err)
			}
			break
		}
	}
	select {
	case err := <-done:
		t.Fatalf("shutdown returned before the transaction in flight ended: %v", err)
	default:
	}
	w.Write([]byte("second half\r\n"))
	if _, err := w.CloseWithLMTPResponse(); err != nil {
		t.Fatalf("in-flight delivery cut off: %v", err)
	}
	c.Quit()
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	ts.Server = nil
	_, msgs := indexed(t, dir, "bob")
	if len(msgs) != 1 {
		t.Fatalf("%d messages after drain, want 1", len(msgs))
	}
}
