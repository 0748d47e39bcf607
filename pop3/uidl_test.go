package pop3

import (
	"testing"

	"github.com/storaged/storaged/index"
	"github.com/storaged/storaged/store"
)

// Dovecot's default pop3_uidl_format %08Xu%08Xv prints lower-case hex
// (seen from Dovecot 2.3: "000000016b102dbc"): ours must be byte-equal,
// or POP3 clients of a migrated mailbox fetch everything again.
func TestUIDLDovecotForm(t *testing.T) {
	s := &session{uidValidity: 0x6b102dbc}
	if got := s.uidl(&entry{msg: store.Message(index.Message{UID: 1})}); got != "000000016b102dbc" {
		t.Errorf("UIDL %q", got)
	}
	if got := s.uidl(&entry{msg: store.Message(index.Message{UID: 0xabc, POP3UIDL: "0badc0ffee"})}); got != "0badc0ffee" {
		t.Errorf("migrated UIDL %q", got)
	}
}
