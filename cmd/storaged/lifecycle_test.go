package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// notifyListener stands in for systemd's end of $NOTIFY_SOCKET.
type notifyListener struct {
	t    *testing.T
	conn *net.UnixConn
	path string
}

func listenNotify(t *testing.T) *notifyListener {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &notifyListener{t: t, conn: c, path: path}
}

// next is the next state message; a server that says nothing for a
// minute has failed.
func (n *notifyListener) next() string {
	n.t.Helper()
	n.conn.SetReadDeadline(time.Now().Add(time.Minute))
	b := make([]byte, 1024)
	k, _, err := n.conn.ReadFromUnix(b)
	if err != nil {
		n.t.Fatalf("no notification from the server: %v", err)
	}
	return string(b[:k])
}

// serve as systemd runs it (Type=notify, logging to a file): READY=1
// once bound; on SIGHUP RELOADING=1, the changed listeners, the log file
// reopened after logrotate moved it, READY=1; on SIGTERM STOPPING=1, a
// BYE to the IMAP client in IDLE, and exit 0.
func TestServeLifecycle(t *testing.T) {
	e := newEnv(t, "ann")
	imapAddr, pop3Addr := freePort(t), freePort(t)
	logPath := filepath.Join(e.dir, "storaged.log")
	base, _ := os.ReadFile(e.cfg)
	writeConf := func(pop3 string) {
		conf := strings.Replace(string(base), "[imap]\nlisten = [\"127.0.0.1:0\"]", fmt.Sprintf("[imap]\nlisten = [%q]", imapAddr), 1)
		conf = strings.Replace(conf, "[pop3]\nlisten = [\"127.0.0.1:0\"]", "[pop3]\nlisten = ["+pop3+"]", 1)
		conf = "shutdown_timeout = \"5s\"\n" + conf + "[log]\nfile = \"storaged.log\"\n"
		if err := os.WriteFile(e.cfg, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeConf("")
	n := listenNotify(t)
	cmd := exec.Command(binary(t), "-config", e.cfg, "serve")
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+n.path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
	}()
	if got := n.next(); got != "READY=1\nSTATUS=serving" {
		t.Fatalf("first notification %q", got)
	}

	c, err := net.Dial("tcp", imapAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	expect := func(prefix string) {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("waiting for %q: %v", prefix, err)
			}
			if strings.HasPrefix(line, prefix) {
				return
			}
		}
	}
	expect("* OK")
	fmt.Fprintf(c, "a LOGIN ann pw-ann\r\nb SELECT INBOX\r\n")
	expect("b OK")

	// Deliveries run through the reload: none may fail or be cut.
	const loadN = 60
	load := make(chan error, 1)
	go func() {
		lc, err := e.client()
		if err != nil {
			load <- err
			return
		}
		defer lc.Close()
		for i := 0; i < loadN; i++ {
			msg := fmt.Sprintf("Subject: during reload %d\r\n\r\nx\r\n", i)
			if err := deliverOne(lc, "a@example.org", "ann@example.org", msg); err != nil {
				load <- fmt.Errorf("delivery %d: %w", i, err)
				return
			}
		}
		load <- nil
	}()
	// logrotate: move the file, then HUP; with a POP3 listener added.
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	writeConf(fmt.Sprintf("%q", pop3Addr))
	cmd.Process.Signal(syscall.SIGHUP)
	if got := n.next(); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Fatalf("on SIGHUP %q", got)
	}
	if got := n.next(); got != "READY=1\nSTATUS=serving" {
		t.Fatalf("after the reload %q", got)
	}
	if err := <-load; err != nil {
		t.Fatalf("a delivery during the reload: %v", err)
	}
	fmt.Fprintf(c, "s STATUS INBOX (MESSAGES)\r\n")
	expect(fmt.Sprintf("* STATUS INBOX (MESSAGES %d)", loadN))
	logged, _ := os.ReadFile(logPath)
	if !strings.Contains(string(logged), "SIGHUP: reloaded") || !strings.Contains(string(logged), "opened pop3 "+pop3Addr) || !strings.Contains(string(logged), "log file reopened") {
		t.Fatalf("the new log file:\n%s", logged)
	}
	if old, _ := os.ReadFile(logPath + ".1"); !strings.Contains(string(old), "startup repair finished") {
		t.Fatalf("the rotated log file:\n%s", old)
	}
	pc, err := net.Dial("tcp", pop3Addr)
	if err != nil {
		t.Fatalf("the POP3 listener the reload added: %v", err)
	}
	line, _ := bufio.NewReader(pc).ReadString('\n')
	pc.Close()
	if !strings.HasPrefix(line, "+OK") {
		t.Fatalf("POP3 greeting %q", line)
	}
	// The session from before the reload goes on, and idles.
	fmt.Fprintf(c, "c NOOP\r\nd IDLE\r\n")
	expect("c OK")
	expect("+ ")

	cmd.Process.Signal(syscall.SIGTERM)
	if got := n.next(); got != "STOPPING=1" {
		t.Fatalf("on SIGTERM %q", got)
	}
	expect("* BYE")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the server did not stop after SIGTERM")
	}
}

// deliverOne sends one message over an LMTP session and wants its 250.
func deliverOne(c *smtp.Client, from, to, msg string) error {
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	ok, err := w.CloseWithLMTPResponse()
	if err == nil && len(ok) != 1 {
		err = fmt.Errorf("%d recipients accepted, want 1", len(ok))
	}
	return err
}
