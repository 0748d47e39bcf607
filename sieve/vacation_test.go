package sieve

import (
	"os"
	"testing"
)

func TestVacationNoReply(t *testing.T) {
	read := func(name string) *Message {
		b, err := os.ReadFile("testdata/messages/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return ParseMessage(b)
	}
	bob := Env{From: "alice@example.org", To: "bob@example.com"}
	tests := []struct {
		name string
		msg  *Message
		env  Env
		v    Vacation
		want string
	}{
		{"personal", read("plain.eml"), bob, Vacation{}, ""},
		{"null sender", read("plain.eml"), Env{To: "bob@example.com"}, Vacation{}, "the envelope sender is empty"},
		{"list", read("list.eml"), Env{From: "acme-users-bounces@lists.example.org", To: "bob@example.com"}, Vacation{}, "the message comes from a mailing list (List-Id)"},
		{"daemon", read("plain.eml"), Env{From: "MAILER-DAEMON@example.org", To: "bob@example.com"}, Vacation{}, "the sender is a mailer daemon or list server"},
		{"owner", read("plain.eml"), Env{From: "owner-acme@example.org", To: "bob@example.com"}, Vacation{}, "the sender is a mailing list address"},
		{"request", read("plain.eml"), Env{From: "acme-request@example.org", To: "bob@example.com"}, Vacation{}, "the sender is a mailing list address"},
		{"auto-submitted", read("addresses.eml"), Env{From: "x@example.com", To: "bob@example.com"}, Vacation{}, "the message is auto-submitted (auto-replied)"},
		{"not to me", read("plain.eml"), Env{From: "alice@example.org", To: "robert@example.com"}, Vacation{}, "the message is not addressed to the user"},
		{":addresses", read("plain.eml"), Env{From: "alice@example.org", To: "robert@example.com"}, Vacation{Addresses: []string{"Bob <bob@example.com>"}}, ""},
		{"user address in cc", read("plain.eml"), Env{From: "alice@example.org", To: "x@example.com", UserAddresses: []string{"dave@example.net"}}, Vacation{}, ""},
		{"from myself", read("plain.eml"), Env{From: "bob@example.com", To: "bob@example.com"}, Vacation{}, "the sender is the user"},
		{"list-id", ParseMessage([]byte("From: a@x.org\r\nTo: bob@example.com\r\nList-Id: <l.x.org>\r\n\r\n")), bob, Vacation{}, "the message comes from a mailing list (List-Id)"},
		{"bulk", ParseMessage([]byte("From: a@x.org\r\nTo: bob@example.com\r\nPrecedence: Bulk\r\n\r\n")), bob, Vacation{}, "the message has Precedence: bulk"},
		{"auto-submitted no", ParseMessage([]byte("From: a@x.org\r\nTo: bob@example.com\r\nAuto-Submitted: no\r\n\r\n")), bob, Vacation{}, ""},
	}
	for _, tt := range tests {
		if got := tt.v.NoReplyReason(tt.msg, &tt.env); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestParseAndFormatHeader(t *testing.T) {
	raw := "Subject: a\r\n  folded\r\nX-Bad line\r\nTo: b@example.com\r\n\r\nbody\r\n"
	m := ParseMessage([]byte(raw))
	if len(m.Header) != 2 || m.Header[0].Value != "a  folded" || string(m.Body) != "body\r\n" {
		t.Fatalf("%#v", m)
	}
	if got := string(FormatHeader(m.Header)); got != "Subject: a\r\n  folded\r\nTo: b@example.com\r\n" {
		t.Errorf("round trip: %q", got)
	}
	added := append([]Field{{Name: "X-New", Value: "v"}}, m.Header...)
	if got := string(FormatHeader(added)); got != "X-New: v\r\nSubject: a\r\n  folded\r\nTo: b@example.com\r\n" {
		t.Errorf("added: %q", got)
	}
}

func TestScoreMapping(t *testing.T) {
	tests := []struct {
		header, value  string
		cfg            ScoreConfig
		spam, pct, vir string
	}{
		{"X-Spam-Score", "5.2 / 15.0", ScoreConfig{}, "4", "35", "2"},
		{"X-Spam-Score", "15", ScoreConfig{Max: 10}, "10", "100", "5"},
		{"X-Spam-Score", "-3.1", ScoreConfig{Max: 10}, "1", "0", "1"},
		{"X-Spam-Score", "junk", ScoreConfig{Max: 10}, "0", "0", "0"},
		{"X-Spam-Level", "*****", ScoreConfig{Max: 10, Count: '*'}, "6", "50", "3"},
		{"X-Other", "5", ScoreConfig{Max: 10}, "0", "0", "0"},
	}
	for _, tt := range tests {
		msg := ParseMessage([]byte(tt.header + ": " + tt.value + "\r\n\r\n"))
		cfg := tt.cfg
		if cfg.Header == "" {
			cfg.Header = "X-Spam-Score"
			if tt.cfg.Count != 0 {
				cfg.Header = "X-Spam-Level"
			}
		}
		r := &runner{env: &Env{Spam: &cfg, Virus: &cfg}}
		for _, f := range msg.Header {
			r.header = append(r.header, hfield{Field: f})
		}
		if got := scoreValue(r, false, false); got != tt.spam {
			t.Errorf("%q spamtest = %s, want %s", tt.value, got, tt.spam)
		}
		if got := scoreValue(r, false, true); got != tt.pct {
			t.Errorf("%q :percent = %s, want %s", tt.value, got, tt.pct)
		}
		if got := scoreValue(r, true, false); got != tt.vir {
			t.Errorf("%q virustest = %s, want %s", tt.value, got, tt.vir)
		}
	}
}
