package migrate

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/storaged/storaged/folder"
)

// IsRemote tells a server URL (imap://, imaps://, pop3://, pop3s://)
// from a path.
func IsRemote(source string) bool {
	for _, p := range []string{"imap://", "imaps://", "pop3://", "pop3s://"} {
		if strings.HasPrefix(strings.ToLower(source), p) {
			return true
		}
	}
	return false
}

// OpenRemote connects to another server as user@host in source, with the
// password given (from a file or the environment, never the command
// line, where ps and shell histories would show it). The connection
// stays open until Close.
func OpenRemote(ctx context.Context, source, password string) (RemoteSource, error) {
	u, err := url.Parse(source)
	if err != nil || u.Host == "" || u.User == nil || u.User.Username() == "" {
		return nil, fmt.Errorf("migrate: %q: want imap[s]://user@host[:port]/ or pop3[s]://user@host[:port]", source)
	}
	if _, set := u.User.Password(); set {
		return nil, errors.New("migrate: a password in the URL would show in ps and shell histories: give it in a file or STORAGED_IMPORT_PASSWORD")
	}
	if password == "" {
		return nil, errors.New("migrate: no password for the source server (a file or STORAGED_IMPORT_PASSWORD)")
	}
	scheme := strings.ToLower(u.Scheme)
	implicitTLS := strings.HasSuffix(scheme, "s")
	host := u.Host
	if u.Port() == "" {
		port := map[string]string{"imap": "143", "imaps": "993", "pop3": "110", "pop3s": "995"}[scheme]
		host = net.JoinHostPort(u.Hostname(), port)
	}
	tlsConf := &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
	switch strings.TrimSuffix(scheme, "s") {
	case "imap":
		return openIMAP(host, u.User.Username(), password, implicitTLS, tlsConf)
	case "pop3":
		return openPOP3(ctx, host, u.User.Username(), password, implicitTLS, tlsConf)
	}
	return nil, fmt.Errorf("migrate: %q: unknown scheme", source)
}

// RemoteSource is a Source on another server's connection.
type RemoteSource interface {
	Source
	Close() error
}

// --- IMAP ----------------------------------------------------------------

type imapSource struct {
	c    *imapclient.Client
	subs []string
}

func openIMAP(host, user, password string, implicitTLS bool, tlsConf *tls.Config) (*imapSource, error) {
	opts := &imapclient.Options{TLSConfig: tlsConf}
	var c *imapclient.Client
	var err error
	if implicitTLS {
		c, err = imapclient.DialTLS(host, opts)
	} else {
		c, err = imapclient.DialInsecure(host, opts)
		// A password goes over TLS, except to a server on loopback.
		if err == nil && !isLoopback(host) {
			c.Close()
			if c, err = imapclient.DialStartTLS(host, opts); err != nil {
				return nil, fmt.Errorf("migrate: imap %s: STARTTLS: %w", host, err)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("migrate: imap %s: %w", host, err)
	}
	if err := c.Login(user, password).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("migrate: imap %s: login %s: %w", host, user, err)
	}
	return &imapSource{c: c}, nil
}

func isLoopback(hostport string) bool {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	ip := net.ParseIP(h)
	return h == "localhost" || (ip != nil && ip.IsLoopback())
}

func (s *imapSource) Kind() string { return "imap" }

func (s *imapSource) Close() error {
	s.c.Logout().Wait()
	return s.c.Close()
}

func (s *imapSource) Subscriptions() ([]string, bool) { return s.subs, s.subs != nil }

// ourName turns a remote name with its delimiter into our spelling.
func ourName(name string, delim rune) string {
	if strings.EqualFold(name, folder.Inbox) {
		return folder.Inbox
	}
	if delim != 0 && delim != '/' {
		name = strings.ReplaceAll(name, string(delim), "/")
	}
	return name
}

func (s *imapSource) Folders() ([]Folder, error) {
	list, err := s.c.List("", "*", nil).Collect()
	if err != nil {
		return nil, fmt.Errorf("migrate: imap LIST: %w", err)
	}
	subs, err := s.c.List("", "*", &imap.ListOptions{SelectSubscribed: true}).Collect()
	if err != nil {
		return nil, fmt.Errorf("migrate: imap LIST (SUBSCRIBED): %w", err)
	}
	s.subs = []string{}
	for _, l := range subs {
		s.subs = append(s.subs, ourName(l.Mailbox, l.Delim))
	}
	var out []Folder
	for _, l := range list {
		var use string
		skip := false
		for _, a := range l.Attrs {
			switch a {
			case imap.MailboxAttrNoSelect, imap.MailboxAttrNonExistent:
				skip = true
			case imap.MailboxAttrSent, imap.MailboxAttrDrafts, imap.MailboxAttrTrash, imap.MailboxAttrJunk, imap.MailboxAttrArchive:
				use = string(a)
			}
		}
		if skip {
			continue
		}
		remote := l.Mailbox
		st, err := s.c.Status(remote, &imap.StatusOptions{UIDValidity: true, UIDNext: true}).Wait()
		if err != nil {
			return nil, fmt.Errorf("migrate: imap STATUS %s: %w", remote, err)
		}
		f := Folder{Name: ourName(remote, l.Delim), SpecialUse: use,
			UIDs: &folder.ForeignUIDs{UIDValidity: st.UIDValidity, UIDNext: uint32(st.UIDNext)}}
		f.Each = func(ctx context.Context, fn func(*Message) error) error { return s.each(ctx, remote, fn) }
		out = append(out, f)
	}
	return out, nil
}

// fetchBatch bounds the UIDs one FETCH of bodies asks for; messages are
// still read one at a time.
const fetchBatch = 200

func (s *imapSource) each(ctx context.Context, mailbox string, fn func(*Message) error) error {
	sel, err := s.c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return fmt.Errorf("migrate: imap EXAMINE %s: %w", mailbox, err)
	}
	if sel.NumMessages == 0 {
		return nil // "1:*" of an empty mailbox is BAD at some servers (Dovecot)
	}
	var all imap.SeqSet
	all.AddRange(1, 0)
	// The UIDs first (small), then the bodies in batches, so that no
	// folder is held in memory.
	metas, err := s.c.Fetch(all, &imap.FetchOptions{UID: true}).Collect()
	if err != nil {
		return fmt.Errorf("migrate: imap FETCH %s: %w", mailbox, err)
	}
	uids := make([]imap.UID, 0, len(metas))
	for _, m := range metas {
		uids = append(uids, m.UID)
	}
	for i := 0; i < len(uids); i += fetchBatch {
		if err := ctx.Err(); err != nil {
			return err
		}
		set := imap.UIDSetNum(uids[i:min(i+fetchBatch, len(uids))]...)
		cmd := s.c.Fetch(set, &imap.FetchOptions{UID: true, Flags: true, InternalDate: true,
			BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
		for {
			data := cmd.Next()
			if data == nil {
				break
			}
			buf, err := data.Collect()
			if err != nil {
				cmd.Close()
				return fmt.Errorf("migrate: imap FETCH %s: %w", mailbox, err)
			}
			if len(buf.BodySection) == 0 {
				continue // expunged meanwhile
			}
			msg := Message{Data: buf.BodySection[0].Bytes, Date: buf.InternalDate, UID: uint32(buf.UID), Flags: imapFlags(buf.Flags)}
			if err := fn(&msg); err != nil {
				cmd.Close()
				return err
			}
		}
		if err := cmd.Close(); err != nil {
			return fmt.Errorf("migrate: imap FETCH %s: %w", mailbox, err)
		}
	}
	return nil
}

func imapFlags(fl []imap.Flag) folder.Flags {
	var f folder.Flags
	for _, x := range fl {
		switch strings.ToLower(string(x)) {
		case `\seen`:
			f.Sys |= folder.Seen
		case `\answered`:
			f.Sys |= folder.Answered
		case `\flagged`:
			f.Sys |= folder.Flagged
		case `\deleted`:
			f.Sys |= folder.Deleted
		case `\draft`:
			f.Sys |= folder.Draft
		case `\recent`:
		default:
			if !strings.HasPrefix(string(x), `\`) {
				f.Keywords = append(f.Keywords, string(x))
			}
		}
	}
	f.Keywords = folder.NormalizeKeywords(f.Keywords)
	return f
}

// --- POP3 ----------------------------------------------------------------

// pop3Source is a maildrop read as fetchmail does: UIDL, then RETR of
// each message; the UIDL goes with the message, so POP3 clients pointed
// at storaged afterwards fetch nothing again. Nothing is deleted on the
// source.
type pop3Source struct {
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
}

func openPOP3(ctx context.Context, host, user, password string, implicitTLS bool, tlsConf *tls.Config) (*pop3Source, error) {
	d := net.Dialer{Timeout: 30 * time.Second}
	var conn net.Conn
	var err error
	if implicitTLS {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: tlsConf}).DialContext(ctx, "tcp", host)
	} else {
		conn, err = d.DialContext(ctx, "tcp", host)
	}
	if err != nil {
		return nil, fmt.Errorf("migrate: pop3 %s: %w", host, err)
	}
	s := &pop3Source{conn: conn, r: bufio.NewReader(conn), w: bufio.NewWriter(conn)}
	if _, err := s.status(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("migrate: pop3 %s: greeting: %w", host, err)
	}
	if !implicitTLS && !isLoopback(host) {
		if _, err := s.cmd("STLS"); err != nil {
			conn.Close()
			return nil, fmt.Errorf("migrate: pop3 %s: STLS: %w", host, err)
		}
		tc := tls.Client(conn, tlsConf)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("migrate: pop3 %s: TLS: %w", host, err)
		}
		s.conn, s.r, s.w = tc, bufio.NewReader(tc), bufio.NewWriter(tc)
	}
	if _, err := s.cmd("USER " + user); err != nil {
		s.conn.Close()
		return nil, fmt.Errorf("migrate: pop3 %s: USER: %w", host, err)
	}
	if _, err := s.cmd("PASS " + password); err != nil {
		s.conn.Close()
		return nil, fmt.Errorf("migrate: pop3 %s: login %s: %w", host, user, err)
	}
	return s, nil
}

func (s *pop3Source) Kind() string                    { return "pop3" }
func (s *pop3Source) Subscriptions() ([]string, bool) { return nil, false }

func (s *pop3Source) Close() error {
	// QUIT without DELE: the maildrop stays as it was.
	s.cmd("QUIT")
	return s.conn.Close()
}

func (s *pop3Source) status() (string, error) {
	s.conn.SetReadDeadline(time.Now().Add(5 * time.Minute))
	line, err := s.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if rest, ok := strings.CutPrefix(line, "+OK"); ok {
		return strings.TrimSpace(rest), nil
	}
	return "", fmt.Errorf("server said %q", line)
}

func (s *pop3Source) cmd(line string) (string, error) {
	s.w.WriteString(line + "\r\n")
	if err := s.w.Flush(); err != nil {
		return "", err
	}
	return s.status()
}

// multi reads a multi-line response to its end, dot-unstuffed, CRLF kept.
func (s *pop3Source) multi() ([]byte, error) {
	var b bytes.Buffer
	for {
		line, err := s.r.ReadBytes('\n')
		if err != nil {
			return nil, err
		}
		t := bytes.TrimRight(line, "\r\n")
		if bytes.Equal(t, []byte(".")) {
			return b.Bytes(), nil
		}
		if bytes.HasPrefix(line, []byte(".")) {
			line = line[1:]
		}
		b.Write(line)
	}
}

func (s *pop3Source) Folders() ([]Folder, error) {
	return []Folder{{Name: folder.Inbox, Each: s.each}}, nil
}

func (s *pop3Source) each(ctx context.Context, fn func(*Message) error) error {
	if _, err := s.cmd("UIDL"); err != nil {
		return fmt.Errorf("migrate: pop3 UIDL: %w", err)
	}
	list, err := s.multi()
	if err != nil {
		return fmt.Errorf("migrate: pop3 UIDL: %w", err)
	}
	type entry struct {
		n    int
		uidl string
	}
	var entries []entry
	for _, l := range strings.Split(string(list), "\n") {
		f := strings.Fields(l)
		if len(f) != 2 {
			continue
		}
		n, err := strconv.Atoi(f[0])
		if err != nil || n <= 0 {
			continue
		}
		entries = append(entries, entry{n, f[1]})
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := s.cmd("RETR " + strconv.Itoa(e.n)); err != nil {
			return fmt.Errorf("migrate: pop3 RETR %d: %w", e.n, err)
		}
		data, err := s.multi()
		if err != nil {
			return fmt.Errorf("migrate: pop3 RETR %d: %w", e.n, err)
		}
		msg := Message{Data: data, Date: receivedDate(data), POP3UIDL: e.uidl}
		if err := fn(&msg); err != nil {
			return err
		}
	}
	return nil
}

// receivedDate is the date of the first Received field, the arrival on
// the source server (POP3 has no INTERNALDATE); zero when there is none.
func receivedDate(data []byte) time.Time {
	hdr, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
	lines := strings.Split(string(hdr), "\r\n")
	for i := 0; i < len(lines); i++ {
		if len(lines[i]) < 9 || !strings.EqualFold(lines[i][:9], "received:") {
			continue
		}
		field := lines[i]
		for i+1 < len(lines) && strings.HasPrefix(lines[i+1], " ") || i+1 < len(lines) && strings.HasPrefix(lines[i+1], "\t") {
			i++
			field += " " + lines[i]
		}
		semi := strings.LastIndexByte(field, ';')
		if semi < 0 {
			return time.Time{}
		}
		v := strings.TrimSpace(field[semi+1:])
		if j := strings.IndexByte(v, '('); j > 0 {
			v = strings.TrimSpace(v[:j]) // a trailing comment, "(UTC)"
		}
		t, err := mail.ParseDate(v)
		if err != nil {
			return time.Time{}
		}
		return t
	}
	return time.Time{}
}
