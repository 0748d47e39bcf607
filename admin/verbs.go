package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/imap"
	"github.com/storaged/storaged/imap/wire"
	"github.com/storaged/storaged/quota"
	"github.com/storaged/storaged/store"
)

// userShow: user show USER. Read-only: a user without a store yet is
// shown as such, and nothing is created.
func userShow(ctx context.Context, env *Env, o *out, args []string) int {
	if len(args) != 1 {
		o.errf("user show takes one USER")
		return ExUsage
	}
	u, ok := env.user(o, args[0])
	if !ok {
		return ExNoUser
	}
	type shown struct {
		User      string `json:"user"`
		UID       string `json:"uid,omitempty"`
		GID       string `json:"gid,omitempty"`
		Home      string `json:"home,omitempty"`
		Mail      string `json:"mail"`
		Format    string `json:"format"`
		Index     string `json:"index,omitempty"`
		IndexSize int64  `json:"index_bytes,omitempty"`
		Mailboxes int    `json:"mailboxes"`
		Messages  int64  `json:"messages"`
		Storage   int64  `json:"storage_bytes"`
		// Limits: 0 is none.
		StorageLimit  int64 `json:"storage_limit_bytes"`
		MessagesLimit int64 `json:"messages_limit"`
	}
	s := shown{User: u.Name, UID: u.UID, GID: u.GID, Home: u.Home}
	if env.storeExists(u.Name) {
		acct, code := env.account(ctx, o, u.Name)
		if acct == nil {
			return code
		}
		var idx string
		s.Mail, idx, s.Format = acct.Paths()
		s.Index = idx
		if fi, err := os.Stat(idx); err == nil {
			s.IndexSize = fi.Size()
		}
		mbs, err := acct.Mailboxes()
		if err != nil {
			o.errf("%s: %v", u.Name, err)
			return ExTempFail
		}
		s.Mailboxes = len(mbs)
		use, err := acct.Usage()
		if err != nil {
			o.errf("%s: %v", u.Name, err)
			return ExTempFail
		}
		s.Messages, s.Storage = use.Messages, use.Storage
		l, err := acct.Limits()
		if err != nil {
			o.errf("%s: %v", u.Name, err)
			return ExDataErr
		}
		s.StorageLimit, s.MessagesLimit = l.Storage, l.Messages
	} else {
		s.Mail = "(no store yet) " + env.Config.Mail.Dir + string(os.PathSeparator) + u.Name
		s.Format = u.MailFormat()
		if s.Format == "" {
			s.Format = env.Config.Mail.Format
		}
	}
	if o.json {
		json.NewEncoder(o.stdout).Encode(s)
		return 0
	}
	limit := func(used, n int64, f func(int64) string) string {
		if n == 0 {
			return f(used) + " (no limit)"
		}
		return fmt.Sprintf("%s of %s (%d%%)", f(used), f(n), used*100/n)
	}
	num := func(n int64) string { return strconv.FormatInt(n, 10) }
	rows := [][]string{{"user", s.User}, {"uid", s.UID}, {"gid", s.GID}, {"home", s.Home}, {"mail", s.Mail}, {"format", s.Format}}
	if s.Index != "" {
		rows = append(rows, []string{"index", fmt.Sprintf("%s (%s)", s.Index, quota.FormatSize(s.IndexSize))},
			[]string{"mailboxes", strconv.Itoa(s.Mailboxes)},
			[]string{"storage", limit(s.Storage, s.StorageLimit, quota.FormatSize)},
			[]string{"messages", limit(s.Messages, s.MessagesLimit, num)})
	}
	for _, r := range rows {
		if r[1] == "" {
			r[1] = "-"
		}
		fmt.Fprintf(o.stdout, "%-10s %s\n", r[0], r[1])
	}
	return 0
}

// authTest: auth test USER [PASSWORD], the password from the first line
// of standard input when not given (it stays out of the shell history).
// It says which of unknown user and wrong password it was, which a
// login never tells the client.
func authTest(ctx context.Context, env *Env, o *out, args []string, stdin io.Reader) int {
	if len(args) < 1 || len(args) > 2 {
		o.errf("auth test takes USER [PASSWORD]")
		return ExUsage
	}
	name, pw := args[0], ""
	if len(args) == 2 {
		pw = args[1]
	} else {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && line == "" {
			o.errf("auth test: no password on standard input")
			return ExUsage
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	_, known := env.Users.Lookup(name)
	u, err := env.Users.Verify(ctx, name, pw)
	if err != nil {
		reason := "wrong password"
		if !known {
			reason = "unknown user"
		} else if !errors.Is(err, context.Canceled) && !strings.Contains(err.Error(), "authentication failed") {
			reason = err.Error()
		}
		fmt.Fprintf(o.stdout, "auth failed: %s: %s\n", name, reason)
		return ExNoPerm
	}
	fmt.Fprintf(o.stdout, "auth succeeded: %s", u.Name)
	for _, kv := range [][2]string{{"uid", u.UID}, {"gid", u.GID}, {"home", u.Home}} {
		if kv[1] != "" {
			fmt.Fprintf(o.stdout, " %s=%s", kv[0], kv[1])
		}
	}
	fmt.Fprintln(o.stdout)
	return 0
}

// flagArgs splits "--name value" and "--name" flags from positional
// arguments; a flag given where none is known is an error, never ignored.
func flagArgs(args []string, withValue, bare []string) (pos []string, vals map[string]string, err error) {
	vals = map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-A" || a == "-" {
			pos = append(pos, a)
			continue
		}
		name := strings.TrimLeft(a, "-")
		if k, v, ok := strings.Cut(name, "="); ok && slices.Contains(withValue, k) {
			vals[k] = v
			continue
		}
		switch {
		case slices.Contains(withValue, name):
			if i+1 >= len(args) {
				return nil, nil, fmt.Errorf("%s needs a value", a)
			}
			vals[name] = args[i+1]
			i++
		case slices.Contains(bare, name):
			vals[name] = ""
		default:
			return nil, nil, fmt.Errorf("unknown flag %s", a)
		}
	}
	return pos, vals, nil
}

// parseDay reads 2024-01-31 or IMAP's 31-Jan-2024, midnight UTC.
func parseDay(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if t, err := wire.ParseDate(s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q: want a date like 2024-01-31 or 31-Jan-2024", s)
}

// parseAge reads 30d, 12h, 2w or a Go duration.
func parseAge(s string) (time.Duration, error) {
	if n, unit := strings.TrimRight(s, "dwh"), strings.TrimLeft(s, "0123456789"); n != "" && len(unit) == 1 {
		v, err := strconv.Atoi(n)
		if err == nil && v >= 0 {
			d := map[string]time.Duration{"h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour}[unit]
			return time.Duration(v) * d, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q: want an age like 30d, 12h or 2w", s)
	}
	return d, nil
}

// expunge: expunge USER|-A MAILBOX [--before DATE] [--older AGE]
// [--seen] [--dry-run]: retention (Dovecot's doveadm expunge). The
// date is the message's arrival (INTERNALDATE). The criteria combine
// with AND and at least one is required. Sessions that have the mailbox
// selected are told at once, as for any expunge.
func expunge(ctx context.Context, env *Env, o *out, args []string) int {
	pos, f, err := flagArgs(args, []string{"before", "older"}, []string{"seen", "dry-run"})
	if err != nil || len(pos) != 2 {
		if err == nil {
			err = errors.New("takes USER|-A MAILBOX and criteria")
		}
		o.errf("expunge: %v", err)
		return ExUsage
	}
	var cutoff time.Time
	if v, ok := f["before"]; ok {
		if cutoff, err = parseDay(v); err != nil {
			o.errf("expunge: --before %v", err)
			return ExUsage
		}
	}
	if v, ok := f["older"]; ok {
		age, err := parseAge(v)
		if err != nil {
			o.errf("expunge: --older %v", err)
			return ExUsage
		}
		if c := env.now().Add(-age); cutoff.IsZero() || c.Before(cutoff) {
			cutoff = c
		}
	}
	_, seen := f["seen"]
	_, dry := f["dry-run"]
	if cutoff.IsZero() && !seen {
		o.errf("expunge: give --before, --older or --seen (all messages is never the default)")
		return ExUsage
	}
	users := []string{pos[0]}
	all := pos[0] == "-A"
	if all {
		users = users[:0]
		for _, u := range env.Users.List() {
			users = append(users, u.Name)
		}
	} else if _, ok := env.user(o, pos[0]); !ok {
		return ExNoUser
	}
	type result struct {
		User     string `json:"user"`
		Mailbox  string `json:"mailbox"`
		Expunged int    `json:"expunged"`
		Bytes    int64  `json:"bytes"`
		DryRun   bool   `json:"dry_run,omitempty"`
	}
	var results []result
	code := 0
	for _, name := range users {
		if all && !env.storeExists(name) {
			continue
		}
		acct, c := env.account(ctx, o, name)
		if acct == nil {
			code = c
			continue
		}
		mb, err := acct.Mailbox(pos[1])
		if errors.Is(err, folder.ErrNotFound) && all {
			continue
		}
		if err != nil {
			o.errf("%s: %s: %v", name, pos[1], err)
			code = ExDataErr
			continue
		}
		var uids []uint32
		var bytes int64
		err = mb.ForEach(func(m *store.Message) error {
			if (!cutoff.IsZero() && !m.InternalDate.Before(cutoff)) || (seen && !m.Flags.Sys.Has(folder.Seen)) {
				return nil
			}
			uids = append(uids, m.UID)
			bytes += m.CRLFSize
			return nil
		})
		if err == nil && !dry {
			for i := 0; i < len(uids) && err == nil; i += 1000 {
				_, err = mb.Expunge(ctx, uids[i:min(i+1000, len(uids))], nil)
			}
		}
		if err != nil {
			o.errf("%s: %s: %v", name, pos[1], err)
			code = ExTempFail
			continue
		}
		results = append(results, result{User: name, Mailbox: pos[1], Expunged: len(uids), Bytes: bytes, DryRun: dry})
	}
	var rows [][]string
	for _, r := range results {
		n := strconv.Itoa(r.Expunged)
		if r.DryRun {
			n += " (dry run)"
		}
		rows = append(rows, []string{r.User, r.Mailbox, n, quota.FormatSize(r.Bytes)})
	}
	if results == nil {
		results = []result{}
	}
	o.table([]string{"USER", "MAILBOX", "EXPUNGED", "SIZE"}, rows, results)
	return code
}

// search: search USER MAILBOX QUERY...: the UIDs matching an IMAP
// SEARCH query, one per line.
func search(ctx context.Context, env *Env, o *out, args []string) int {
	if len(args) < 3 {
		o.errf("search takes USER MAILBOX QUERY...")
		return ExUsage
	}
	if _, ok := env.user(o, args[0]); !ok {
		return ExNoUser
	}
	acct, code := env.account(ctx, o, args[0])
	if acct == nil {
		return code
	}
	uids, err := imap.SearchMailbox(ctx, acct, args[1], strings.Join(args[2:], " "), env.now())
	if err != nil {
		o.errf("%v", err)
		if errors.Is(err, folder.ErrNotFound) {
			return ExDataErr
		}
		return ExUsage
	}
	if o.json {
		if uids == nil {
			uids = []uint32{}
		}
		json.NewEncoder(o.stdout).Encode(uids)
		return 0
	}
	for _, u := range uids {
		fmt.Fprintln(o.stdout, u)
	}
	return 0
}

// fetch: fetch USER MAILBOX UID [--header]: the message as IMAP serves
// it (BODY[]), or its header.
func fetch(ctx context.Context, env *Env, o *out, args []string) int {
	pos, f, err := flagArgs(args, nil, []string{"header"})
	if err != nil || len(pos) != 3 {
		o.errf("fetch takes USER MAILBOX UID [--header]")
		return ExUsage
	}
	uid, err := strconv.ParseUint(pos[2], 10, 32)
	if err != nil || uid == 0 {
		o.errf("fetch: %q is not a UID", pos[2])
		return ExUsage
	}
	if _, ok := env.user(o, pos[0]); !ok {
		return ExNoUser
	}
	acct, code := env.account(ctx, o, pos[0])
	if acct == nil {
		return code
	}
	mb, err := acct.Mailbox(pos[1])
	if err != nil {
		o.errf("%s: %s: %v", pos[0], pos[1], err)
		return ExDataErr
	}
	msg, ok, err := mb.Message(uint32(uid))
	if err == nil && !ok {
		err = fmt.Errorf("no message with UID %d", uid)
	}
	if err != nil {
		o.errf("%s: %s: %v", pos[0], pos[1], err)
		return ExDataErr
	}
	rc, err := mb.Open(msg)
	if err != nil {
		o.errf("%s: %s: UID %d: %v", pos[0], pos[1], uid, err)
		return ExTempFail
	}
	defer rc.Close()
	if _, header := f["header"]; header {
		br := bufio.NewReader(rc)
		for {
			line, err := br.ReadString('\n')
			o.stdout.Write([]byte(line))
			if err != nil || line == "\r\n" || line == "\n" {
				return 0
			}
		}
	}
	if _, err := io.Copy(o.stdout, rc); err != nil {
		o.errf("fetch: %v", err)
		return ExTempFail
	}
	return 0
}

// who: the connected sessions, by protocol and user.
func who(env *Env, o *out, args []string) int {
	if len(args) != 0 {
		o.errf("who takes no arguments")
		return ExUsage
	}
	if env.Sessions == nil {
		o.errf("who: no server is running on %s", env.Config.DataDir)
		return ExTempFail
	}
	ss := env.Sessions()
	slices.SortFunc(ss, func(a, b Session) int {
		if c := strings.Compare(a.User, b.User); c != 0 {
			return c
		}
		return a.Since.Compare(b.Since)
	})
	now := env.now()
	var rows [][]string
	for _, s := range ss {
		user := s.User
		if user == "" {
			user = "(not logged in)"
		}
		rows = append(rows, []string{user, s.Proto, s.Remote, now.Sub(s.Since).Truncate(time.Second).String(), s.Mailbox, s.ID})
	}
	if ss == nil {
		ss = []Session{}
	}
	o.table([]string{"USER", "PROTO", "REMOTE", "FOR", "MAILBOX", "SESSION"}, rows, ss)
	return 0
}
