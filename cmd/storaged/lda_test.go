package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/storaged/storaged/delivery"
	"github.com/storaged/storaged/lmtp"
)

// ldaRun runs "storaged deliver ARGS" with msg on standard input.
func (e *env) ldaRun(msg string, args ...string) (string, int) {
	e.t.Helper()
	return e.run(msg, append([]string{"deliver"}, args...)...)
}

// inboxCount is how many messages user's INBOX has on disk.
func (e *env) inboxCount(user string) int {
	e.t.Helper()
	dir := filepath.Join(e.dir, "mail", user)
	if _, err := os.Stat(filepath.Join(dir, "new")); err != nil {
		return 0
	}
	return countFiles(e.t.(*testing.T), dir)
}

// storaged deliver takes dovecot-lda's flags, delivers to every
// recipient given, takes a bare user name, names each recipient that
// fails, and exits with the sysexit of the worst result: the same with
// the server running (its LMTP socket) and without (the store directly).
func TestDeliverRecipients(t *testing.T) {
	e := newEnv(t, "ann", "bob", "carol")
	if out, code := e.run("require \"reject\";\nreject \"no thanks\";\n", "sieve", "put", "carol", "-activate", "main"); code != 0 {
		t.Fatalf("sieve put: %d %s", code, out)
	}
	msg := "Subject: lda\n\nbody\n"
	for _, path := range []string{"direct", "server"} {
		t.Run(path, func(t *testing.T) {
			e.t = t
			if path == "server" {
				p := e.start()
				defer p.term(t)
			}
			before := map[string]int{"ann": e.inboxCount("ann"), "bob": e.inboxCount("bob")}
			got := func(user string) int { return e.inboxCount(user) - before[user] }

			// Every -a is a recipient; a bare name is a user.
			if out, code := e.ldaRun(msg, "-f", "s@example.net", "-a", "ann@example.org", "-a", "bob"); code != 0 {
				t.Fatalf("two recipients: exit %d: %s", code, out)
			}
			if got("ann") != 1 || got("bob") != 1 {
				t.Fatalf("two recipients: ann got %d, bob %d; want 1 each", got("ann"), got("bob"))
			}
			// Every -d too; one named twice gets one copy.
			if out, code := e.ldaRun(msg, "-d", "ann", "-d", "bob", "-d", "ANN", "-f", "<>"); code != 0 {
				t.Fatalf("-d: exit %d: %s", code, out)
			}
			if got("ann") != 2 || got("bob") != 2 {
				t.Fatalf("-d: ann got %d, bob %d; want 2 each", got("ann"), got("bob"))
			}
			// An unknown recipient fails alone, named; the others have it.
			out, code := e.ldaRun(msg, "-a", "nobody@example.org", "-a", "bob@example.org")
			if code != exNoUser || !strings.Contains(out, "storaged deliver: nobody@example.org: 550 5.1.1 ") || strings.Contains(out, "bob@example.org:") {
				t.Fatalf("unknown recipient: exit %d (want %d): %s", code, exNoUser, out)
			}
			if got("bob") != 3 {
				t.Fatalf("bob got %d after a delivery with an unknown co-recipient, want 3", got("bob"))
			}
			// A Sieve reject is EX_NOPERM, with the script's reason.
			out, code = e.ldaRun(msg, "-a", "carol")
			if code != exNoPerm || !strings.Contains(out, "storaged deliver: carol: 550 5.7.1 ") || !strings.Contains(out, "no thanks") {
				t.Fatalf("sieve reject: exit %d (want %d): %s", code, exNoPerm, out)
			}
			// A temporary failure wins over a permanent one: the MTA must
			// retry.
			tmp := filepath.Join(e.dir, "mail", "ann", "tmp")
			os.RemoveAll(tmp)
			os.WriteFile(tmp, nil, 0o600)
			out, code = e.ldaRun(msg, "-a", "nobody@example.org", "-a", "ann@example.org", "-a", "bob")
			os.Remove(tmp)
			os.Mkdir(tmp, 0o700)
			if code != exTempFail || !strings.Contains(out, "storaged deliver: ann@example.org: 451 4.") || !strings.Contains(out, "nobody@example.org: 550 5.1.1") {
				t.Fatalf("broken store: exit %d (want %d): %s", code, exTempFail, out)
			}
			if got("bob") != 4 || got("ann") != 2 {
				t.Fatalf("after a temporary failure: ann got %d (want 2), bob %d (want 4)", got("ann"), got("bob"))
			}
			// -m INBOX is the default; another mailbox is refused, not
			// ignored.
			if out, code := e.ldaRun(msg, "-m", "INBOX", "-a", "ann"); code != 0 {
				t.Fatalf("-m INBOX: exit %d: %s", code, out)
			}
			if out, code := e.ldaRun(msg, "-m", "Archive", "-a", "ann"); code != exUsage || !strings.Contains(out, "-m Archive") {
				t.Fatalf("-m Archive: exit %d: %s", code, out)
			}
			if got("ann") != 3 {
				t.Fatalf("ann got %d, want 3", got("ann"))
			}
		})
	}
	e.t = t
	// Usage errors: each says what is wrong, EX_USAGE, nothing delivered.
	before := e.inboxCount("ann")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "name a recipient"},
		{[]string{"-f", "s@example.net"}, "name a recipient"},
		{[]string{"-a", "ann", "extra"}, `unexpected argument "extra"`},
		{[]string{"-d", "ann", "-a", "ann@example.org"}, "not both"},
		{[]string{"-a", "a b@example.org"}, `recipient "a b@example.org"`},
		{[]string{"-a", ""}, `recipient ""`},
		{[]string{"-a", "ann", "-f", "a b"}, `-f "a b"`},
		{[]string{"-a", "ann", "-x"}, "flag provided but not defined: -x"},
	} {
		out, code := e.ldaRun(msg, tc.args...)
		if code != exUsage || !strings.Contains(out, tc.want) {
			t.Errorf("deliver %q: exit %d (want %d), %q (want …%s…)", tc.args, code, exUsage, out, tc.want)
		}
	}
	if n := e.inboxCount("ann"); n != before {
		t.Errorf("a refused command delivered: %d messages, was %d", n, before)
	}
}

// The sysexit of each reply class, as deliver reports it (one table for
// both paths: the direct one goes through lmtp.Reply first).
func TestDeliverExitCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{&smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}}, 0},
		{&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}}, exTempFail},
		{&smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}}, exTempFail}, // disk full
		{&smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}}, exTempFail}, // full, full_tempfail
		{&smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}}, exTempFail}, // draining
		{&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}}, exNoUser},
		{&smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3}}, exUsage},
		{&smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 2, 2}}, exCantCreat},
		{&smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}}, exDataErr},
		{&smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}}, exDataErr},
		{&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}}, exNoPerm},
		{&smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}}, exSoftware},
		{&smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 4, 0}}, exUnavail},
		{errors.New("connection reset"), exTempFail},
		{lmtp.Reply(&delivery.Error{Kind: delivery.NoSuchUser, Msg: "no"}), exNoUser},
		{lmtp.Reply(&delivery.Error{Kind: delivery.Rejected, Msg: "no"}), exNoPerm},
		{lmtp.Reply(&delivery.Error{Kind: delivery.OverQuota, Msg: "full"}), exCantCreat},
		{lmtp.Reply(&delivery.Error{Kind: delivery.DiskFull, Msg: "full"}), exTempFail},
		{lmtp.Reply(&delivery.Error{Kind: delivery.TooBig, Msg: "big"}), exDataErr},
		{lmtp.Reply(errors.New("unclassified")), exTempFail},
	} {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("%v: exit %d, want %d", tc.err, got, tc.want)
		}
	}
	// Several results: a temporary failure wins, else the first.
	var errb strings.Builder
	res := []result{
		{"a", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user here"}},
		{"b", nil},
		{"c", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "<c> try again later"}},
		{"d", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "<d> rejected"}},
	}
	if code := report(res, &errb); code != exTempFail {
		t.Errorf("mixed results: exit %d, want %d", code, exTempFail)
	}
	want := "storaged deliver: a: 550 5.1.1 no such user here\nstoraged deliver: c: 451 4.3.0 try again later\nstoraged deliver: d: 550 5.7.1 rejected\n"
	if errb.String() != want {
		t.Errorf("report:\n%s\nwant\n%s", errb.String(), want)
	}
	if code := report([]result{res[0], res[1], res[3]}, io.Discard); code != exNoUser {
		t.Errorf("permanent failures: exit %d, want the first's %d", code, exNoUser)
	}
}
