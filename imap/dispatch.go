package imap

import (
	"context"
	"strings"

	"github.com/storaged/storaged/imap/wire"
)

// state is a connection state (RFC 9051 §3), as a bit so that a command
// names the states it runs in as a mask.
type state uint8

const (
	stateNotAuth state = 1 << iota
	stateAuth
	stateSelected
	stateLogout

	anyState  = stateNotAuth | stateAuth | stateSelected
	afterAuth = stateAuth | stateSelected
)

// cmdFlags say how a command relates to message sequence numbers, as
// Dovecot's command flags do: they decide which untagged updates may be
// sent around it.
type cmdFlags uint8

const (
	// usesSeqs: the command takes or returns sequence numbers, so no
	// EXPUNGE may be sent while it runs or right after it (RFC 9051
	// §7.5.1: not during FETCH, STORE or SEARCH, except their UID forms).
	usesSeqs cmdFlags = 1 << iota
	// selects: SELECT and EXAMINE; the new mailbox's updates wait until
	// after the tagged OK, so the client has its counts before any
	// change to them.
	selects
)

// handler runs one command. It writes its untagged responses and returns
// nil (the loop answers "tag OK NAME completed"), or a *response: a
// tagged OK with a code, a NO or a BAD.
type handler func(ctx context.Context, c *conn, cmd *wire.Command) error

type command struct {
	states state
	flags  cmdFlags
	run    handler
}

// capability is one CAPABILITY atom and the states it is listed in;
// when, if set, decides per connection (STARTTLS before TLS only).
type capability struct {
	name   string
	states state
	when   func(*conn) bool
}

// commands is the dispatch table and the capability registry: a command
// family registers its commands, the capabilities they complete and the
// extensions ENABLE may turn on, all in one place.
type commands struct {
	table  map[string]command
	caps   []capability
	enable map[string]func(*conn)
}

func newCommands() *commands {
	return &commands{table: map[string]command{}, enable: map[string]func(*conn){}}
}

func (t *commands) add(name string, states state, flags cmdFlags, h handler) {
	t.table[name] = command{states: states, flags: flags, run: h}
}

// capability lists names in CAPABILITY in the given states.
func (t *commands) capability(states state, names ...string) {
	for _, n := range names {
		t.caps = append(t.caps, capability{name: n, states: states})
	}
}

// capabilityIf lists names in the given states on connections for which
// when holds.
func (t *commands) capabilityIf(states state, when func(*conn) bool, names ...string) {
	for _, n := range names {
		t.caps = append(t.caps, capability{name: n, states: states, when: when})
	}
}

// enableable registers an extension ENABLE turns on (RFC 5161 §3.1).
func (t *commands) enableable(name string, on func(*conn)) { t.enable[name] = on }

// capabilities is the CAPABILITY list for a state, space separated,
// without the ones that depend on a connection.
func (t *commands) capabilities(s state) string { return t.capabilitiesOf(s, nil) }

// capabilitiesOf is the list connection cn (nil: none) is told.
func (t *commands) capabilitiesOf(s state, cn *conn) string {
	var b strings.Builder
	for _, c := range t.caps {
		if c.states&s == 0 || (c.when != nil && (cn == nil || !c.when(cn))) {
			continue
		}
		if cn != nil && cn.withdrawn[c.name] {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(c.name)
	}
	return b.String()
}
