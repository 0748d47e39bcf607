package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/storaged/storaged/config"
)

const sieveMsg = "From: Sender <sender@example.net>\r\n" +
	"To: %s\r\n" +
	"Subject: Hello world\r\n" +
	"Message-ID: <m1@example.net>\r\n" +
	"Date: Tue, 02 Jan 2024 10:00:00 +0000\r\n" +
	"%s" +
	"\r\n" +
	"Body text with a secret word.\r\n"

// sieveCase is one script and message, and what must come of them.
type sieveCase struct {
	name   string
	script string // the user's active script; "" for none
	extra  string // header fields added to the default message
	msg    string // the whole message instead of the default
	from   string // envelope sender; "" is sender@example.net, "<>" the null path
	detail string // delivered to user+detail
	bob    bool   // bob (no script) is a recipient too
	twice  bool   // delivered twice (memory)
	setup  func(t *testing.T, ts *testServer, user string)

	want     string // the user's mailboxes, as layout renders them
	reply    string // "" for 250, else "550 5.7.1 reason" as received
	relay    string // "from>to;from>to" in order, "<>" the null path
	relayHas []string
	has      []string // in the first stored message
	hasNot   []string
}

func sieveCases(t *testing.T) []sieveCase {
	many := func(n int, stmt string) string {
		return "require \"imap4flags\";\n" + strings.Repeat(stmt+"\n", n)
	}
	mkbox := func(names ...string) func(*testing.T, *testServer, string) {
		return func(t *testing.T, ts *testServer, user string) {
			acct, err := ts.Accounts.Open(context.Background(), user)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range names {
				if err := acct.CreateMailbox(n, ""); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	put := func(name, src string) func(*testing.T, *testServer, string) {
		return func(t *testing.T, ts *testServer, user string) {
			if err := ts.Sieve.Put(user, name, []byte(src)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return []sieveCase{
		{name: "no script", want: "INBOX="},
		{name: "keep", script: "keep;", want: "INBOX="},
		{name: "discard", script: "discard;", want: ""},
		{name: "stop", script: "stop; discard;", want: "INBOX="},
		{name: "fileinto existing", script: `require "fileinto"; fileinto "Lists";`, setup: mkbox("Lists"), want: "Lists="},
		{name: "fileinto missing falls back to INBOX", script: `require "fileinto"; fileinto "Nope";`, want: "INBOX="},
		{name: "fileinto :create", script: `require ["fileinto","mailbox"]; fileinto :create "New";`, want: "New="},
		{name: "fileinto :create nested", script: `require ["fileinto","mailbox"]; fileinto :create "A/B/C";`, want: "A/B/C="},
		{name: "fileinto INBOX", script: `require "fileinto"; fileinto "INBOX";`, want: "INBOX="},
		// Scripts written for Dovecot's Maildir++ layout keep working.
		{name: "fileinto Dovecot INBOX.A.B", script: `require "fileinto"; fileinto "INBOX.Lists.Go";`, setup: mkbox("Lists/Go"), want: "Lists/Go="},
		{name: "fileinto Dovecot A.B", script: `require "fileinto"; fileinto "Lists.Go";`, setup: mkbox("Lists/Go"), want: "Lists/Go="},
		{name: "fileinto :create Dovecot name", script: `require ["fileinto","mailbox"]; fileinto :create "INBOX.New.Sub";`, want: "New/Sub="},
		{name: "fileinto bad name falls back", script: `require ["fileinto","mailbox"]; fileinto :create "../x";`, want: "INBOX="},
		{name: "fileinto :copy", script: `require ["fileinto","copy"]; fileinto :copy "Lists";`, setup: mkbox("Lists"), want: "INBOX=;Lists="},
		{name: "keep and fileinto", script: `require "fileinto"; keep; fileinto "Lists";`, setup: mkbox("Lists"), want: "INBOX=;Lists="},
		{name: "discard then keep", script: `discard; keep;`, want: "INBOX="},
		{name: "fileinto :flags", script: `require ["fileinto","imap4flags"]; fileinto :flags "\\Seen" "Lists";`, setup: mkbox("Lists"), want: `Lists=\Seen`},
		{name: "addflag keep", script: `require "imap4flags"; addflag "\\Flagged"; keep;`, want: `INBOX=\Flagged`},
		{name: "setflag implicit keep", script: `require "imap4flags"; setflag "$label1";`, want: "INBOX=$label1"},
		{name: "removeflag", script: `require "imap4flags"; addflag ["\\Seen","\\Answered"]; removeflag "\\Seen";`, want: `INBOX=\Answered`},
		{name: "keep :flags", script: `require "imap4flags"; keep :flags ["\\Deleted", "Junk"];`, want: `INBOX=Junk \Deleted`},
		{name: "flags split on spaces, non-atoms dropped", script: `require "imap4flags"; addflag "two words"; addflag "bad(flag";`, want: "INBOX=two words"},
		{name: "header :contains", script: `require "fileinto"; if header :contains "subject" "hello" { fileinto "Lists"; }`, setup: mkbox("Lists"), want: "Lists="},
		{name: "header :is mismatch", script: `require "fileinto"; if header :is "subject" "hello" { fileinto "Lists"; }`, setup: mkbox("Lists"), want: "INBOX="},
		{name: "header :matches", script: `require "fileinto"; if header :matches "subject" "H*o w?rld" { fileinto "Lists"; }`, setup: mkbox("Lists"), want: "Lists="},
		{name: "address :domain", script: `if address :domain :is "from" "example.net" { discard; }`, want: ""},
		{name: "address :localpart", script: `if address :localpart :is "from" "nobody" { discard; }`, want: "INBOX="},
		{name: "address :all", script: `if address :all :is "from" "sender@example.net" { discard; }`, want: ""},
		{name: "envelope from", script: `require "envelope"; if envelope :is "from" "sender@example.net" { discard; }`, want: ""},
		{name: "envelope :detail", script: `require ["envelope","subaddress","fileinto","mailbox"]; if envelope :detail "to" "lists" { fileinto :create "Lists"; }`, detail: "lists", want: "Lists="},
		{name: "envelope :user", script: `require ["envelope","subaddress"]; if not envelope :user "to" "%LOCAL%" { discard; }`, detail: "x", want: "INBOX="},
		{name: "size :over", script: `if size :over 10K { discard; }`, want: "INBOX="},
		{name: "size :under", script: `require ["fileinto","mailbox"]; if size :under 10K { fileinto :create "Small"; }`, want: "Small="},
		{name: "exists", script: `require ["fileinto","mailbox"]; if exists "X-Spam-Flag" { fileinto :create "Junk"; }`, extra: "X-Spam-Flag: maybe\r\n", want: "Junk="},
		{name: "not exists", script: `if not exists "X-Nothing" { discard; }`, want: ""},
		{name: "allof", script: `if allof (header :contains "subject" "Hello", address :domain "to" "example.org") { discard; }`, want: ""},
		{name: "anyof", script: `if anyof (false, header :contains "subject" "nope") { discard; }`, want: "INBOX="},
		{name: "elsif", script: `require "imap4flags"; if false { discard; } elsif true { addflag "\\Seen"; } else { discard; }`, want: `INBOX=\Seen`},
		{name: "body :contains", script: `require "body"; if body :contains "secret" { discard; }`, want: ""},
		{name: "body :raw no match", script: `require "body"; if body :raw :contains "nothing here" { discard; }`, want: "INBOX="},
		{name: "encoded subject", script: `require ["fileinto","mailbox"]; if header :contains "subject" "Café" { fileinto :create "Cafe"; }`,
			msg: "From: a@example.net\r\nSubject: =?utf-8?q?Caf=C3=A9?=\r\n\r\nx\r\n", want: "Cafe="},
		{name: "reject", script: `require "reject"; reject "Go away";`, want: "", reply: "550 5.7.1 Go away"},
		{name: "ereject", script: `require "ereject"; ereject "No thanks";`, want: "", reply: "550 5.7.1 No thanks"},
		{name: "reject multi-line reason", script: "require \"reject\"; reject text:\nNot here,\nnot now.\n.\n;", want: "", reply: "550 5.7.1 Not here, not now."},
		{name: "reject one recipient, deliver the other", script: `require "reject"; reject "Not for me";`, bob: true, want: "", reply: "550 5.7.1 Not for me"},
		{name: "reject next to fileinto is a run-time error", script: `require ["reject","fileinto","copy"]; fileinto :copy "INBOX"; reject "x";`, want: "INBOX="},
		{name: "redirect", script: `redirect "fwd@example.com";`, want: "", relay: "sender@example.net>fwd@example.com",
			relayHas: []string{"X-Sieve-Redirected-From: u", "Subject: Hello world", "Delivered-To: u"}},
		{name: "redirect :copy", script: `require "copy"; redirect :copy "fwd@example.com";`, want: "INBOX=", relay: "sender@example.net>fwd@example.com"},
		{name: "two redirects", script: `redirect "a@example.com"; redirect "b@example.com";`, want: "",
			relay: "sender@example.net>a@example.com;sender@example.net>b@example.com"},
		{name: "redirect of the null sender", script: `redirect "fwd@example.com";`, from: "<>", want: "", relay: "<>>fwd@example.com"},
		{name: "redirect loop by our mark", script: `redirect "fwd@example.com";`, extra: "X-Sieve-Redirected-From: %USER%\r\n", want: "INBOX="},
		{name: "redirect loop by Delivered-To", script: `redirect "fwd@example.com";`, extra: "Delivered-To: fwd@example.com\r\n", want: "INBOX="},
		{name: "redirect to self", script: `redirect "%USER%";`, want: "INBOX="},
		{name: "redirects over the limit", script: strings.Repeat("redirect \"x@example.com\";\n", 1) +
			`redirect "a@example.com"; redirect "b@example.com"; redirect "c@example.com"; redirect "d@example.com";`, want: "INBOX="},
		{name: "vacation", script: `require "vacation"; vacation "I am away.";`, want: "INBOX=", relay: "<>>sender@example.net",
			relayHas: []string{"Auto-Submitted: auto-replied", "In-Reply-To: <m1@example.net>", "References: <m1@example.net>",
				"Subject: Auto: Hello world", "To: <sender@example.net>", "I am away."}},
		{name: "vacation :subject", script: `require "vacation"; vacation :subject "Away" "Back Monday.";`, want: "INBOX=", relay: "<>>sender@example.net", relayHas: []string{"Subject: Away\r\n"}},
		{name: "vacation remembered :days", script: `require "vacation"; vacation :days 1 "Away.";`, twice: true, want: "INBOX=|", relay: "<>>sender@example.net"},
		{name: "vacation :seconds 0 answers each time", script: `require "vacation-seconds"; vacation :seconds 0 "Away.";`, twice: true, want: "INBOX=|",
			relay: "<>>sender@example.net;<>>sender@example.net"},
		{name: "vacation not to a list", script: `require "vacation"; vacation "Away.";`, extra: "List-Id: <l.example.net>\r\n", want: "INBOX="},
		{name: "vacation not to MAILER-DAEMON", script: `require "vacation"; vacation "Away.";`, from: "MAILER-DAEMON@example.net", want: "INBOX="},
		{name: "vacation not to the null sender", script: `require "vacation"; vacation "Away.";`, from: "<>", want: "INBOX="},
		{name: "vacation not to bulk", script: `require "vacation"; vacation "Away.";`, extra: "Precedence: bulk\r\n", want: "INBOX="},
		{name: "vacation not to an auto-reply", script: `require "vacation"; vacation "Away.";`, extra: "Auto-Submitted: auto-replied\r\n", want: "INBOX="},
		{name: "vacation not when not addressed", script: `require "vacation"; vacation "Away.";`,
			msg: "From: sender@example.net\r\nTo: someone@example.com\r\nSubject: x\r\n\r\nx\r\n", want: "INBOX="},
		{name: "vacation :from", script: `require "vacation"; vacation :from "away@example.org" "Away.";`, want: "INBOX=", relay: "<>>sender@example.net", relayHas: []string{"From: away@example.org"}},
		{name: "vacation :mime", script: "require \"vacation\"; vacation :mime text:\nContent-Type: text/html\n\n<p>Away</p>\n.\n;", want: "INBOX=",
			relay: "<>>sender@example.net", relayHas: []string{"Content-Type: text/html", "<p>Away</p>"}},
		{name: "addheader", script: `require "editheader"; addheader "X-Filtered" "yes";`, want: "INBOX=", has: []string{"X-Filtered: yes\r\n"}},
		{name: "deleteheader", script: `require "editheader"; deleteheader "X-Junk";`, extra: "X-Junk: 1\r\n", want: "INBOX=", hasNot: []string{"X-Junk"}},
		{name: "editheader and fileinto", script: `require ["editheader","fileinto","mailbox"]; addheader :last "X-Sorted" "lists"; fileinto :create "Lists";`,
			want: "Lists=", has: []string{"X-Sorted: lists"}},
		{name: "variables", script: `require ["variables","fileinto","mailbox"]; set "box" "Lists"; fileinto :create "${box}";`, want: "Lists="},
		{name: "variables from :matches", script: `require ["variables","fileinto","mailbox"]; if header :matches "subject" "[*] *" { fileinto :create "${1}"; }`,
			msg: "From: a@example.net\r\nSubject: [Work] report\r\n\r\nx\r\n", want: "Work="},
		{name: "encoded-character", script: `require ["fileinto","mailbox","encoded-character"]; fileinto :create "${hex:4c 69 73 74 73}";`, want: "Lists="},
		{name: "regex", script: `require ["regex","fileinto","mailbox"]; if header :regex "subject" "^H.*d$" { fileinto :create "Regex"; }`, want: "Regex="},
		{name: "relational :value", script: `require ["relational","comparator-i;ascii-numeric"]; if header :value "gt" :comparator "i;ascii-numeric" "x-priority" "3" { discard; }`,
			extra: "X-Priority: 5\r\n", want: ""},
		{name: "relational :count", script: `require ["relational","comparator-i;ascii-numeric"]; if header :count "ge" :comparator "i;ascii-numeric" "received" "5" { discard; }`, want: "INBOX="},
		{name: "duplicate", script: `require "duplicate"; if duplicate { discard; }`, twice: true, want: "INBOX="},
		{name: "spamtest", script: `require ["spamtest","relational","comparator-i;ascii-numeric","fileinto","mailbox"]; if spamtest :value "ge" :comparator "i;ascii-numeric" "5" { fileinto :create "Junk"; }`,
			extra: "X-Spam-Score: 12.0 / 15.0\r\n", want: "Junk="},
		{name: "spamtest clean", script: `require ["spamtest","relational","comparator-i;ascii-numeric"]; if spamtest :value "ge" :comparator "i;ascii-numeric" "5" { discard; }`,
			extra: "X-Spam-Score: 0.5 / 15.0\r\n", want: "INBOX="},
		{name: "date", script: `require ["date","relational"]; if date :is "date" "year" "2024" { discard; }`, want: ""},
		{name: "currentdate", script: `require ["date","relational","comparator-i;ascii-numeric"]; if currentdate :value "lt" :comparator "i;ascii-numeric" "year" "2000" { discard; }`, want: "INBOX="},
		{name: "environment", script: `require "environment"; if environment :is "name" "storaged" { discard; }`, want: ""},
		{name: "mailboxexists", script: `require ["mailbox","fileinto"]; if mailboxexists "Lists" { fileinto "Lists"; } else { discard; }`, setup: mkbox("Lists"), want: "Lists="},
		{name: "include :personal with mailbox", script: `require "include"; include :personal "lists";`,
			setup: put("lists", `require ["fileinto","mailbox"]; fileinto :create "Lists";`), want: "Lists="},
		{name: "include :global", script: `require "include"; include :global "tag";`, want: "INBOX=$global"},
		{name: "before script files spam, user script not run", script: `require "imap4flags"; addflag "$user";`, extra: "X-Spam-Flag: YES\r\n", want: "Junk="},
		{name: "after script runs after implicit keep", script: `require "imap4flags"; addflag "$user";`, extra: "X-Tag-After: 1\r\n", want: "INBOX=$after $user"},
		{name: "after script not run after fileinto", script: `require ["fileinto","mailbox"]; fileinto :create "Lists";`, extra: "X-Tag-After: 1\r\n", want: "Lists="},
		{name: "10,000 steps stopped by the limit", script: many(10000, `addflag "x";`), want: "INBOX="},
		{name: "too many actions stopped by the limit", script: `require ["fileinto","mailbox"];` + strings.Repeat("\n", 1) +
			func() string {
				var b strings.Builder
				for i := 0; i < 40; i++ {
					fmt.Fprintf(&b, "fileinto :create \"F%d\";\n", i)
				}
				return b.String()
			}(), want: "INBOX="},
		{name: "fileinto over quota falls back to INBOX", script: `require "fileinto"; fileinto "Lists";`,
			setup: func(t *testing.T, ts *testServer, user string) {
				mkbox("Lists")(t, ts, user)
				ts.setRule(t, user, "userdb_quota_rule", "*:storage=1G")
				ts.setRule(t, user, "userdb_quota_rule2", "Lists:bytes=10")
			}, want: "INBOX="},
		{name: "over quota everywhere", script: `require "fileinto"; fileinto "Lists";`,
			setup: func(t *testing.T, ts *testServer, user string) {
				mkbox("Lists")(t, ts, user)
				ts.setRule(t, user, "userdb_quota_rule", "*:bytes=10")
			}, want: "", reply: "552 5.2.2 Mailbox full"},
	}
}

// TestSieveDelivery delivers each case over LMTP to a running server
// with a go-smtp server as its relay, and checks the reply, where the
// message went with which flags, and what the relay received.
func TestSieveDelivery(t *testing.T) {
	dir := t.TempDir()
	rl := startRelay(t)
	global := filepath.Join(dir, "global")
	os.MkdirAll(global, 0o700)
	writeFile(t, filepath.Join(global, "before.sieve"), `require ["fileinto","mailbox"]; if header :is "X-Spam-Flag" "YES" { fileinto :create "Junk"; }`)
	writeFile(t, filepath.Join(global, "after.sieve"), `require "imap4flags"; if header :is "X-Tag-After" "1" { addflag "$after"; }`)
	writeFile(t, filepath.Join(global, "tag.sieve"), `require "imap4flags"; addflag "$global";`)
	cases := sieveCases(t)
	if len(cases) < 60 {
		t.Fatalf("only %d cases", len(cases))
	}
	var users []string
	for i := range cases {
		users = append(users, fmt.Sprintf("u%02d", i))
	}
	ts := startServer(t, dir, func(c *config.Config) {
		c.Sieve.Relay = rl.addr
		c.Sieve.Before = []string{filepath.Join(global, "before.sieve")}
		c.Sieve.After = []string{filepath.Join(global, "after.sieve")}
		c.Sieve.GlobalDir = global
		c.Sieve.SpamHeader = "X-Spam-Score"
		c.Sieve.MaxSteps = 5000
	}, append(users, "bob")...)
	c := ts.lmtpClient()
	defer c.Close()
	for i, tc := range cases {
		user := users[i]
		addr := user + "@example.org"
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup(t, ts, user)
			}
			if tc.script != "" {
				src := strings.ReplaceAll(strings.ReplaceAll(tc.script, "%USER%", addr), "%LOCAL%", user)
				if err := ts.Sieve.Put(user, "main", []byte(src)); err != nil {
					t.Fatalf("put: %v", err)
				}
				if err := ts.Sieve.SetActive(user, "main"); err != nil {
					t.Fatal(err)
				}
			}
			rcpt := addr
			if tc.detail != "" {
				rcpt = user + "+" + tc.detail + "@example.org"
			}
			rcpts := []string{rcpt}
			if tc.bob {
				rcpts = append(rcpts, "bob@example.org")
			}
			msg := tc.msg
			if msg == "" {
				msg = fmt.Sprintf(sieveMsg, addr, strings.ReplaceAll(tc.extra, "%USER%", addr))
			}
			from := tc.from
			switch from {
			case "":
				from = "sender@example.net"
			case "<>":
				from = ""
			}
			n := 1
			if tc.twice {
				n = 2
			}
			for k := 0; k < n; k++ {
				res, err := send(c, from, rcpts, []byte(msg))
				if err != nil {
					t.Fatal(err)
				}
				got := ""
				if se := res[rcpt]; se != nil {
					got = fmt.Sprintf("%d %d.%d.%d %s", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], strings.TrimPrefix(se.Message, "<"+rcpt+"> "))
				}
				if got != tc.reply {
					t.Fatalf("reply %q, want %q", got, tc.reply)
				}
				if tc.bob && res["bob@example.org"] != nil {
					t.Fatalf("bob: %v", res["bob@example.org"])
				}
			}
			cont := ts.contents(t, user)
			if got := layout(cont); got != tc.want {
				t.Errorf("mailboxes %q, want %q", got, tc.want)
			}
			var first string
			for _, msgs := range cont {
				if len(msgs) > 0 {
					first = msgs[0].data
				}
			}
			for _, s := range tc.has {
				if !strings.Contains(first, s) {
					t.Errorf("stored message lacks %q:\n%s", s, first)
				}
			}
			for _, s := range tc.hasNot {
				if strings.Contains(first, s) {
					t.Errorf("stored message has %q:\n%s", s, first)
				}
			}
			msgs := rl.take()
			var traffic []string
			all := ""
			for _, m := range msgs {
				f := m.from
				if f == "" {
					f = "<>"
				}
				traffic = append(traffic, f+">"+strings.Join(m.to, ","))
				all += m.data
			}
			if got := strings.Join(traffic, ";"); got != tc.relay {
				t.Errorf("relay traffic %q, want %q", got, tc.relay)
			}
			for _, s := range tc.relayHas {
				if !strings.Contains(all, strings.ReplaceAll(s, "%USER%", addr)) {
					t.Errorf("relayed mail lacks %q:\n%s", s, all)
				}
			}
			if tc.bob {
				if got := layout(ts.contents(t, "bob")); got != "INBOX=" {
					t.Errorf("bob's mailboxes %q", got)
				}
			}
		})
	}
	c.Quit()
}

func writeFile(t testing.TB, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// [sieve] redirect_envelope_from = "recipient" sends a redirect from the
// user who redirects (so SPF at the next hop holds), an address from that
// address, and a bounce (null sender) stays null under both.
func TestSieveRedirectSender(t *testing.T) {
	for _, tc := range []struct{ setting, from, want string }{
		{"recipient", "sender@example.net", "ann@example.org"},
		{"recipient", "", ""},
		{"forwarder@example.org", "sender@example.net", "forwarder@example.org"},
		{"forwarder@example.org", "", ""},
	} {
		t.Run(tc.setting+"/"+tc.from, func(t *testing.T) {
			rl := startRelay(t)
			ts := startServer(t, t.TempDir(), func(c *config.Config) {
				c.Sieve.Relay = rl.addr
				c.Sieve.RedirectEnvelopeFrom = tc.setting
			}, "ann")
			if err := ts.Sieve.Put("ann", "main", []byte(`redirect "fwd@example.com";`)); err != nil {
				t.Fatal(err)
			}
			if err := ts.Sieve.SetActive("ann", "main"); err != nil {
				t.Fatal(err)
			}
			c := ts.lmtpClient()
			defer c.Close()
			res, err := send(c, tc.from, []string{"ann@example.org"}, []byte(fmt.Sprintf(sieveMsg, "ann@example.org", "")))
			if err != nil || res["ann@example.org"] != nil {
				t.Fatalf("delivery: %v %v", res, err)
			}
			msgs := rl.take()
			if len(msgs) != 1 || msgs[0].from != tc.want || strings.Join(msgs[0].to, ",") != "fwd@example.com" {
				t.Fatalf("relayed %+v, want one from %q to fwd@example.com", msgs, tc.want)
			}
		})
	}
}
