package imap

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/storaged/storaged/imap/wire"
	"github.com/storaged/storaged/store"
)

// SearchMailbox runs a SEARCH query in IMAP's own syntax (RFC 9051
// §6.4.4, as doveadm search takes it: "SINCE 1-Jan-2024 FROM alice")
// over a mailbox outside any session, read-only (no \Recent is
// claimed), and returns the matching UIDs in order. It is the admin
// verb's search: the same parser and matcher as SEARCH, so an admin
// finds what the user's client would.
func SearchMailbox(ctx context.Context, acct *store.Account, mailbox, query string, now time.Time) ([]uint32, error) {
	if strings.ContainsAny(query, "\r\n") {
		return nil, errors.New("search: the query is one line")
	}
	p := wire.NewParser(wire.Limits{})
	r := p.NewReader(bufio.NewReader(strings.NewReader("a UID SEARCH "+query+"\r\n")), nil)
	cmd, err := r.ReadCommand()
	if err != nil {
		return nil, fmt.Errorf("search: %q: %w", query, err)
	}
	args, ok := cmd.Args.(*wire.SearchArgs)
	if !ok {
		return nil, fmt.Errorf("search: %q: not a search query", query)
	}
	if args.HasReturn {
		return nil, fmt.Errorf("search: %q: RETURN options are for sessions", query)
	}
	mb, err := acct.Mailbox(mailbox)
	if err != nil {
		return nil, err
	}
	v, err := mb.OpenView(ctx, true)
	if err != nil {
		return nil, err
	}
	defer v.Close()
	s := &search{view: v, mb: mb, now: now, uids: v.UIDs(),
		savedUIDs: func() []uint32 { return nil }, enableModSeq: func() {}}
	s.open = func(m store.Message) (io.ReadCloser, error) { return mb.Open(m) }
	key, err := s.prepare(&args.Key)
	if err != nil {
		return nil, fmt.Errorf("search: %q: %w", query, err)
	}
	s.key = key
	hits, err := s.run(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]uint32, len(hits))
	for i, h := range hits {
		out[i] = h.uid
	}
	return out, nil
}
