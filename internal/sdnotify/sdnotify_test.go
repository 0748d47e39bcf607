package sdnotify

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
)

func TestSend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	n := Notifier{Socket: path}
	read := func() string {
		b := make([]byte, 512)
		k, _, err := l.ReadFromUnix(b)
		if err != nil {
			t.Fatal(err)
		}
		return string(b[:k])
	}
	if err := n.Ready("serving"); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "READY=1\nSTATUS=serving" {
		t.Fatalf("%q", got)
	}
	if err := n.Reloading(); err != nil {
		t.Fatal(err)
	}
	if got := read(); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") || len(got) < len("RELOADING=1\nMONOTONIC_USEC=1") {
		t.Fatalf("%q", got)
	}
	if err := (Notifier{}).Send("READY=1"); err != nil {
		t.Fatalf("no socket: %v", err)
	}
	if err := (Notifier{Socket: filepath.Join(t.TempDir(), "none")}).Send("READY=1"); err == nil {
		t.Fatal("a missing socket is not an error")
	}
}
