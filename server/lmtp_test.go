package server_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/storaged/storaged/message"
)

// breakStore makes a user's INBOX unwritable even for root: tmp/ becomes a
// file, so no message can be created in it.
func breakStore(t *testing.T, ts *testServer, dir, user string) {
	t.Helper()
	acctMailbox(t, ts, user) // the store exists, as for any user who got mail
	tmp := filepath.Join(dir, "mail", user, "tmp")
	if err := os.RemoveAll(tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
}

const testMsg = "From: Alice <alice@example.net>\r\nTo: bob@example.org\r\nSubject: hello\r\nMessage-ID: <1@example.net>\r\n\r\nHi Bob.\r\n.leading dot\r\n"

// checkDelivered asserts the one message in user's INBOX is the trace
// fields followed by msg, byte for byte, and that the index has it.
func checkDelivered(t *testing.T, dir, user, rcpt string, msg []byte) {
	t.Helper()
	files := mailFiles(t, dir, user)
	if len(files) != 1 {
		t.Fatalf("%s has %d files, want 1", user, len(files))
	}
	var name string
	var onDisk []byte
	for n, b := range files {
		name, onDisk = n, b
	}
	canon := message.Canonical(onDisk)
	hdrEnd := bytes.Index(canon, []byte("\r\nFrom: Alice"))
	if hdrEnd < 0 {
		t.Fatalf("message not found in %q", canon)
	}
	trace, rest := string(canon[:hdrEnd+2]), canon[hdrEnd+2:]
	if !bytes.Equal(rest, msg) {
		t.Fatalf("stored message differs:\n got %q\nwant %q", rest, msg)
	}
	for _, want := range []string{"Return-Path: <sender@example.net>\r\n", "Delivered-To: " + rcpt + "\r\n", "Received: from client.example.net", "by mx.example.org (storaged) with LMTP", "for <" + rcpt + ">;"} {
		if !strings.Contains(trace, want) {
			t.Errorf("trace fields lack %q:\n%s", want, trace)
		}
	}
	if !strings.HasPrefix(trace, "Return-Path:") {
		t.Errorf("trace does not start with Return-Path:\n%s", trace)
	}
	if bytes.Contains(onDisk, []byte("\r\n")) {
		t.Error("stored with CRLF; Maildir files are LF")
	}
	mb, msgs := indexed(t, dir, user)
	if len(msgs) != 1 || msgs[0].UID != 1 || mb.UIDNext != 2 || mb.Messages != 1 {
		t.Fatalf("index: %+v %+v", mb, msgs)
	}
	if msgs[0].CRLFSize != int64(len(canon)) || msgs[0].Size != int64(len(onDisk)) || "new/"+msgs[0].Key != name {
		t.Fatalf("index record %+v does not match file %s (%d/%d bytes)", msgs[0], name, len(onDisk), len(canon))
	}
}

func TestLMTPThreeRecipients(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir, nil, "bob", "carol")
	breakStore(t, ts, dir, "carol")
	c := ts.lmtpClient()
	defer c.Close()
	if err := c.Mail("sender@example.net", nil); err != nil {
		t.Fatal(err)
	}
	err := c.Rcpt("nobody@example.org", nil)
	if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 1, 1}) {
		t.Fatalf("RCPT unknown = %v, want 550 5.1.1", err)
	}
	if err := c.Rcpt("Carol@example.org", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("BOB+lists@Example.ORG", nil); err != nil {
		t.Fatal(err)
	}
	got, err := lmtpData(c, []byte(testMsg))
	if err != nil {
		t.Fatal(err)
	}
	if s := got["Carol@example.org"]; s == nil || s.Code != 451 || s.EnhancedCode != (smtp.EnhancedCode{4, 3, 0}) {
		t.Fatalf("broken store: %v, want 451 4.3.0", s)
	}
	if s, ok := got["BOB+lists@Example.ORG"]; !ok || s != nil {
		t.Fatalf("good recipient: %v, want 250", s)
	}
	// The connection goes on serving.
	if err := c.Noop(); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	ts.stop()
	checkDelivered(t, dir, "bob", "BOB+lists@Example.ORG", []byte(testMsg))
}

// The same, with Python's smtplib.LMTP as an independent client.
func TestLMTPPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	dir := t.TempDir()
	ts := startServer(t, dir, nil, "bob", "carol")
	breakStore(t, ts, dir, "carol")
	script := `
import smtplib, sys
host, port = sys.argv[1].rsplit(":", 1)
c = smtplib.LMTP(host, int(port))
c.ehlo("client.example.net")
msg = sys.stdin.buffer.read()
replies = {}
c.mail("sender@example.net")
accepted = []
for r in ["nobody@example.org", "carol@example.org", "bob@example.org"]:
    code, text = c.rcpt(r)
    if code == 250:
        accepted.append(r)
    else:
        replies[r] = (code, text)
# RFC 2033: one reply per accepted recipient after the final dot;
# smtplib reads the first, the rest are read here.
code, text = c.data(msg)
replies[accepted[0]] = (code, text)
for r in accepted[1:]:
    replies[r] = c.getreply()
print(sorted((k, v[0], v[1].decode()) for k, v in replies.items()))
c.quit()
`
	cmd := exec.Command(py, "-c", script, ts.lmtp)
	cmd.Stdin = strings.NewReader(testMsg)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	s := string(out)
	if !strings.Contains(s, "('nobody@example.org', 550, '5.1.1") {
		t.Errorf("unknown recipient not refused with 550 5.1.1: %s", s)
	}
	if !strings.Contains(s, "('carol@example.org', 451, '4.3.0") {
		t.Errorf("broken store not refused with 451 4.3.0: %s", s)
	}
	if !strings.Contains(s, "('bob@example.org', 250, '2.0.0") {
		t.Errorf("good recipient not accepted with 250 2.0.0: %s", s)
	}
	ts.stop()
	checkDelivered(t, dir, "bob", "bob@example.org", []byte(testMsg))
}

// 20 connections × 50 messages to 5 users at once.
func TestLMTPConcurrent(t *testing.T) {
	dir := t.TempDir()
	users := []string{"u0", "u1", "u2", "u3", "u4"}
	ts := startServer(t, dir, nil, users...)
	const conns, each = 20, 50
	type ack struct {
		user string
		id   string
		conn int
	}
	acks := make(chan ack, conns*each)
	var wg sync.WaitGroup
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			cl := ts.lmtpClient()
			defer cl.Close()
			for i := 0; i < each; i++ {
				user := users[(c+i)%len(users)]
				id := fmt.Sprintf("c%d-m%d", c, i)
				msg := fmt.Sprintf("Subject: %s\r\nMessage-ID: <%s@test>\r\n\r\nbody %s\r\n", id, id, id)
				res, err := send(cl, "s@example.net", []string{user + "@example.org"}, []byte(msg))
				if err != nil || res[user+"@example.org"] != nil {
					t.Errorf("%s: %v %v", id, err, res)
					return
				}
				acks <- ack{user, id, c}
			}
		}(c)
	}
	wg.Wait()
	close(acks)
	ts.stop()
	byUser := map[string][]ack{}
	for a := range acks {
		byUser[a.user] = append(byUser[a.user], a)
	}
	total := 0
	for _, u := range users {
		files := mailFiles(t, dir, u)
		idOf := map[string]string{} // key → id
		count := map[string]int{}
		for name, b := range files {
			i := bytes.Index(b, []byte("Subject: "))
			id := strings.TrimSpace(string(b[i+9 : i+9+bytes.IndexByte(b[i+9:], '\n')]))
			count[id]++
			idOf[strings.TrimPrefix(name, "new/")] = id
		}
		for _, a := range byUser[u] {
			if count[a.id] != 1 {
				t.Errorf("%s: %d files for acknowledged %s", u, count[a.id], a.id)
			}
		}
		mb, msgs := indexed(t, dir, u)
		if len(msgs) != len(files) || int(mb.Messages) != len(files) {
			t.Fatalf("%s: %d index records, %d files", u, len(msgs), len(files))
		}
		// UIDs are unique, and each connection's messages to this user got
		// increasing UIDs in the order they were acknowledged.
		lastUID := map[int]uint32{}
		seen := map[uint32]bool{}
		order := map[string]int{}
		for i, a := range byUser[u] {
			order[a.id] = i
		}
		uidOf := map[string]uint32{}
		for _, m := range msgs {
			if seen[m.UID] {
				t.Fatalf("%s: UID %d twice", u, m.UID)
			}
			seen[m.UID] = true
			id, ok := idOf[m.Key]
			if !ok {
				t.Fatalf("%s: index key %s has no file", u, m.Key)
			}
			uidOf[id] = m.UID
		}
		for _, a := range byUser[u] {
			if uid := uidOf[a.id]; uid <= lastUID[a.conn] {
				t.Errorf("%s: %s got UID %d after %d on the same connection", u, a.id, uid, lastUID[a.conn])
			} else {
				lastUID[a.conn] = uid
			}
		}
		total += len(files)
	}
	if total != conns*each {
		t.Fatalf("%d messages stored, %d sent", total, conns*each)
	}
}
