package delivery

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"strings"
	"syscall"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/quota"
	"github.com/storaged/storaged/sieve"
	"github.com/storaged/storaged/sievestore"
	"github.com/storaged/storaged/store"
)

// Sieve is filtering at delivery (RFC 5228) and what it may do.
type Sieve struct {
	Scripts *sievestore.Store
	// Relay sends redirects and vacation replies; nil refuses both
	// (logged), and a refused redirect keeps the message in INBOX.
	Relay Relay
	// MaxRedirects bounds redirects per message over the whole
	// sequence (4), MaxVacations the vacation replies (1).
	MaxRedirects int
	MaxVacations int
	// RedirectFrom is the envelope sender of a redirect: "" or
	// "sender" the original sender, "recipient" the redirecting user,
	// else that address. A null sender stays null.
	RedirectFrom string
	// RunTimeout bounds one script's run (10s); Limits its steps and
	// sizes.
	RunTimeout time.Duration
	Limits     sieve.RunLimits
	// Spam and Virus say where spamtest and virustest read (RFC 5235).
	Spam, Virus *sieve.ScoreConfig
}

// maxRedirectHops is how many X-Sieve-Redirected-From fields a message
// may carry before we call it a loop, whoever redirected it.
const maxRedirectHops = 8

const redirectedFrom = "X-Sieve-Redirected-From"

// target is one mailbox a message goes to.
type target struct {
	mailbox string
	flags   []string
	create  bool
	// fileinto is a script's explicit choice; a failure falls back to
	// INBOX, as Pigeonhole does.
	fileinto bool
}

// plan is what the sequence decided, before any of it is done.
type plan struct {
	targets   []target
	redirects []string
	vacations []sieve.Vacation
	reject    *sieve.Reject
	dups      []store.Remember
}

func (p *plan) add(t target) {
	t.mailbox = folder.CanonicalName(t.mailbox)
	for i := range p.targets {
		if p.targets[i].mailbox == t.mailbox {
			// One copy per mailbox; the later flags win, as within one
			// script (RFC 5228 §2.10.3).
			t.fileinto = t.fileinto || p.targets[i].fileinto
			t.create = t.create || p.targets[i].create
			p.targets[i] = t
			return
		}
	}
	p.targets = append(p.targets, t)
}

// filter runs the user's sequence and does what it says. Every path
// that cannot do what the script asked ends in INBOX: mail is never
// lost to a script.
func (d *Deliverer) filter(ctx context.Context, env Envelope, rcpt Recipient, acct *store.Account, full content) error {
	sv := d.Sieve
	log := d.logger().With("user", rcpt.User, "id", env.ID)
	steps, err := sv.Scripts.Sequence(rcpt.User)
	if err != nil {
		log.Warn("sieve: script not usable, implicit keep", "err", err)
		return d.appendTo(ctx, acct, folder.Inbox, full, nil, env)
	}
	if len(steps) == 0 {
		return d.keep(ctx, acct, rcpt, full, nil, env)
	}
	full = joined(full)
	mem := acct.SieveMemory()
	view, err := d.sieveMessage(full)
	if err != nil {
		log.Warn("sieve: message not readable, implicit keep", "err", err)
		return d.appendTo(ctx, acct, folder.Inbox, full, nil, env)
	}
	msg := view.msg
	senv := d.sieveEnv(env, rcpt, acct, mem)
	var p plan
	keep, edited := true, false
	var keepFlags []string
	for _, st := range steps {
		timeout := sv.RunTimeout
		if timeout <= 0 {
			timeout = 10 * time.Second
		}
		rctx, cancel := context.WithTimeout(ctx, timeout)
		res, err := st.Script.Run(rctx, msg, senv)
		cancel()
		if err != nil {
			log.Warn("sieve: run-time error, implicit keep", "script", st.Name, "err", err)
			return d.appendTo(ctx, acct, folder.Inbox, full, nil, env)
		}
		for _, a := range res.Actions {
			switch a := a.(type) {
			case sieve.Keep:
				p.add(target{mailbox: d.keepMailbox(rcpt), flags: a.Flags})
			case sieve.FileInto:
				p.add(target{mailbox: a.Mailbox, flags: a.Flags, create: a.Create, fileinto: true})
			case sieve.Redirect:
				p.redirects = append(p.redirects, a.Address)
			case sieve.Vacation:
				p.vacations = append(p.vacations, a)
			case sieve.Reject:
				p.reject = &a
			case sieve.Discard:
			}
		}
		for _, m := range res.Duplicates {
			p.dups = append(p.dups, store.Remember{Key: m.Key, Period: m.Period})
		}
		if res.Header != nil {
			// Later scripts see the edited message, and so does the
			// store (RFC 5293 §4: edits apply to the message as kept).
			msg = &sieve.Message{Header: res.Header, Body: msg.Body, Size: msg.Size}
			edited = true
		}
		// imap4flags' internal variable lives in Pigeonhole's result, which
		// the scripts of a sequence share; ours is per run, so the implicit
		// keep takes the union of what the scripts set.
		keep, keepFlags = res.ImplicitKeep, union(keepFlags, res.ImplicitKeepFlags)
		if !keep {
			break // Pigeonhole's multiscript rule: see sievestore's doc
		}
	}
	if p.reject != nil {
		log.Info("sieve: rejected", "reason", p.reject.Reason)
		return &Error{Kind: Rejected, Msg: rejectText(p.reject.Reason)}
	}
	if keep {
		p.add(target{mailbox: d.keepMailbox(rcpt), flags: keepFlags})
	}
	content := full
	if edited {
		var ok bool
		if content, ok = d.edited(full, view, msg.Header); !ok {
			content = full
			log.Warn("sieve: header edits not stored: the header is larger than can be read", "limit", maxSieveHeader)
		}
	}
	stored, err := d.storeAll(ctx, log, acct, p.targets, content, env)
	if err != nil {
		return err
	}
	sent := 0
	for _, to := range p.redirects {
		max := sv.MaxRedirects
		if max <= 0 {
			max = 4
		}
		if sent >= max {
			log.Warn("sieve: redirect over the limit, not sent", "to", to, "limit", max)
			continue
		}
		if err := d.redirect(ctx, rcpt, env, msg, full, view, to); err != nil {
			log.Warn("sieve: redirect failed, implicit keep", "to", to, "err", err)
			if !stored[folder.Inbox] {
				if err := d.appendTo(ctx, acct, folder.Inbox, content, nil, env); err != nil {
					return err
				}
				stored[folder.Inbox] = true
			}
			continue
		}
		sent++
		log.Info("sieve: redirected", "to", to)
	}
	var replied []store.Remember
	for i, v := range p.vacations {
		max := sv.MaxVacations
		if max <= 0 {
			max = 1
		}
		if i >= max {
			log.Warn("sieve: vacation over the limit, not sent", "limit", max)
			break
		}
		if m, ok := d.vacation(ctx, log, rcpt, env, msg, &senv, mem, v); ok {
			replied = append(replied, m)
		}
	}
	// Only now: a message that was not delivered must not count as seen
	// (RFC 7352 §3.1), nor a reply that was not sent as sent.
	if err := mem.Record(replied, p.dups); err != nil {
		log.Warn("sieve: recording vacation and duplicate memory", "err", err)
	}
	return nil
}

func (d *Deliverer) logger() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.Default()
}

func (d *Deliverer) sieveEnv(env Envelope, rcpt Recipient, acct *store.Account, mem *store.SieveMemory) sieve.Env {
	sv := d.Sieve
	own := []string{rcpt.Address}
	if strings.Contains(rcpt.User, "@") {
		own = append(own, rcpt.User) // a full-address user
	} else {
		for _, dom := range d.Domains {
			own = append(own, rcpt.User+"@"+dom)
		}
	}
	remoteIP := env.Remote
	if i := strings.LastIndexByte(remoteIP, ':'); i > 0 {
		remoteIP = strings.Trim(remoteIP[:i], "[]")
	}
	return sieve.Env{
		From: env.From, To: rcpt.Address, UserAddresses: own,
		Environment: map[string]string{
			"domain": d.Hostname, "host": d.Hostname, "location": "MDA", "phase": "during",
			"name": "storaged", "remote-host": env.Helo, "remote-ip": remoteIP,
		},
		Duplicates: mem,
		MailboxExists: func(name string) bool {
			_, err := acct.Mailbox(name)
			return err == nil
		},
		Spam: sv.Spam, Virus: sv.Virus, Limits: sv.Limits,
	}
}

// storeAll appends content to every target. A fileinto that fails (no
// such mailbox without :create, a bad name, over quota, any error) falls
// back to INBOX, as Pigeonhole does; an INBOX that fails fails the
// delivery only if no copy went anywhere.
func (d *Deliverer) storeAll(ctx context.Context, log *slog.Logger, acct *store.Account, targets []target, content content, env Envelope) (map[string]bool, error) {
	stored := map[string]bool{}
	var inboxErr error
	for i := 0; i < len(targets); i++ {
		t := targets[i]
		if stored[t.mailbox] {
			continue
		}
		err := d.storeOne(ctx, acct, t, content, env)
		if err == nil {
			stored[t.mailbox] = true
			continue
		}
		if t.mailbox != folder.Inbox {
			log.Warn("sieve: fileinto failed, kept in INBOX", "mailbox", t.mailbox, "err", err)
			if !hasTarget(targets, folder.Inbox) {
				targets = append(targets, target{mailbox: folder.Inbox, flags: t.flags})
			}
			continue
		}
		inboxErr = err
	}
	if len(stored) == 0 && inboxErr != nil {
		return nil, inboxErr
	}
	if inboxErr != nil {
		log.Warn("sieve: storing in INBOX failed; the message is in the other mailboxes", "err", inboxErr)
	}
	return stored, nil
}

func hasTarget(ts []target, mailbox string) bool {
	for _, t := range ts {
		if t.mailbox == mailbox {
			return true
		}
	}
	return false
}

// dovecotName is how a script written for Dovecot's Maildir++ layout
// names a folder: "INBOX.Lists.Go" or "Lists.Go" for what is "Lists/Go"
// here. Adopted scripts keep working as they are.
func dovecotName(name string) (string, bool) {
	if !strings.Contains(name, ".") || strings.Contains(name, "/") {
		return name, false
	}
	n := name
	if len(n) > 6 && strings.EqualFold(n[:6], "INBOX.") {
		n = n[6:]
	}
	n = strings.ReplaceAll(n, ".", "/")
	return n, n != name && folder.CheckName(n) == nil
}

func (d *Deliverer) storeOne(ctx context.Context, acct *store.Account, t target, content content, env Envelope) error {
	if t.mailbox != folder.Inbox {
		if _, err := acct.Mailbox(t.mailbox); errors.Is(err, folder.ErrNotFound) || folder.CheckName(t.mailbox) != nil {
			if alt, ok := dovecotName(t.mailbox); ok {
				if _, err := acct.Mailbox(alt); err == nil || t.create {
					t.mailbox = alt
				}
			}
		}
		if err := folder.CheckName(t.mailbox); err != nil {
			return err
		}
		if _, err := acct.Mailbox(t.mailbox); errors.Is(err, folder.ErrNotFound) {
			if !t.create {
				return err // RFC 5490 §3.2: only :create makes one
			}
			if err := acct.CreateMailbox(t.mailbox, ""); err != nil && !errors.Is(err, folder.ErrExists) {
				return err
			}
		}
	}
	return d.appendTo(ctx, acct, t.mailbox, content, t.flags, env)
}

// appendTo stores content in one mailbox with Sieve's flags.
func (d *Deliverer) appendTo(ctx context.Context, acct *store.Account, mailbox string, content content, flags []string, env Envelope) error {
	mb, err := acct.Mailbox(mailbox)
	if err != nil {
		if mailbox != folder.Inbox {
			return err
		}
		return &Error{Kind: TempFail, Msg: "mailbox unavailable, try again later", Err: err}
	}
	// Early: the answer rests on the durable file; the index commit
	// (the UID) follows, and every reader of the mailbox waits for it.
	res, err := content.append(ctx, mb, store.AppendOptions{Flags: toFlags(flags), Sender: env.From, Early: true})
	if err != nil {
		return d.storeError(err)
	}
	d.Metrics.Stored("lmtp", int(content.size()))
	// One line per stored copy, with the transaction id the LMTP
	// session logs and answers (250 2.0.0 <rcpt> <id> Saved). Only when
	// the level lets it out: the Message-ID costs a scan of the header
	// (of a spooled copy, a 64 KiB read of the spool) that a server
	// logging at warn would spend on every delivery for nothing.
	if log := d.logger(); log.Enabled(ctx, slog.LevelInfo) {
		attrs := []any{"id", env.ID, "user", acct.User(), "mailbox", mailbox}
		if res.UID != 0 { // not yet given to an early append
			attrs = append(attrs, "uid", res.UID)
		}
		log.Info("stored", append(attrs, "bytes", content.size(), "msgid", content.messageID())...)
	}
	return nil
}

// messageID is the Message-ID field of content's header, for the log:
// at most 200 octets, control characters dropped.
func messageID(content []byte) string {
	for len(content) > 0 {
		line := content
		if i := bytes.IndexByte(content, '\n'); i >= 0 {
			line, content = content[:i], content[i+1:]
		} else {
			content = nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			break // end of the header
		}
		if len(line) > 11 && bytes.EqualFold(line[:11], []byte("message-id:")) {
			v := bytes.TrimSpace(line[11:])
			if len(v) > 200 {
				v = v[:200]
			}
			return strings.Map(func(r rune) rune {
				if r < 0x20 || r == 0x7f {
					return -1
				}
				return r
			}, string(v))
		}
	}
	return ""
}

// storeError classifies a failed append for the front ends.
func (d *Deliverer) storeError(err error) error {
	switch {
	case errors.Is(err, folder.ErrLocked):
		return &Error{Kind: Busy, Msg: "mailbox is locked by another program, try again later", Err: err}
	case errors.Is(err, quota.ErrOverQuota):
		return d.overQuota(Recipient{}, err)
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return &Error{Kind: DiskFull, Msg: "insufficient system storage, try again later", Err: err}
	}
	return &Error{Kind: TempFail, Msg: "could not store the message, try again later", Err: err}
}

// toFlags turns imap4flags' list (RFC 5232) into the store's flags:
// system flags by name, keywords that are IMAP atoms; anything else (a
// \Recent, a flag with a space) cannot be stored and is dropped.
func toFlags(list []string) folder.Flags {
	var f folder.Flags
	for _, s := range list {
		switch strings.ToLower(s) {
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
		default:
			if isAtom(s) {
				f.Keywords = append(f.Keywords, s)
			}
		}
	}
	f.Keywords = folder.NormalizeKeywords(f.Keywords)
	return f
}

func isAtom(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

func withHeader(h []sieve.Field, body []byte) []byte {
	var b bytes.Buffer
	b.Write(sieve.FormatHeader(h))
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// rejectText makes a script's reason one line for the SMTP reply.
func rejectText(reason string) string {
	r := strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, reason)), " ")
	if len(r) > 400 {
		r = r[:400]
	}
	if r == "" {
		r = "Message rejected"
	}
	return r
}

// redirect sends msg on to one address (RFC 5228 §4.2), with our mark
// so a loop through us is caught here rather than by the hop count. Its
// body is full's from view's body on (streamed when spooled).
func (d *Deliverer) redirect(ctx context.Context, rcpt Recipient, env Envelope, msg *sieve.Message, full content, view sieveView, to string) error {
	if d.Sieve.Relay == nil {
		return errors.New("no relay is configured ([sieve] relay)")
	}
	hops := 0
	for _, f := range msg.Header {
		switch strings.ToLower(f.Name) {
		case strings.ToLower(redirectedFrom):
			hops++
			if strings.EqualFold(strings.Trim(strings.TrimSpace(f.Value), "<>"), rcpt.Address) {
				return errors.New("redirect loop: this message was redirected by this recipient before")
			}
		case "delivered-to":
			if strings.EqualFold(strings.TrimSpace(f.Value), to) && !strings.EqualFold(to, rcpt.Address) {
				return fmt.Errorf("redirect loop: the message was delivered to %s already", to)
			}
		}
	}
	if strings.EqualFold(to, rcpt.Address) {
		return errors.New("redirect loop: redirect to the recipient itself")
	}
	if hops >= maxRedirectHops {
		return fmt.Errorf("redirect loop: %d redirects already", hops)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s: %s\r\n", redirectedFrom, sanitize(rcpt.Address))
	var h []sieve.Field
	for _, f := range msg.Header {
		// A Return-Path belongs to the final delivery, not to a hop.
		if !strings.EqualFold(f.Name, "Return-Path") {
			h = append(h, f)
		}
	}
	return d.Sieve.Relay.Send(ctx, d.redirectSender(env, rcpt), []string{to}, io.MultiReader(&b, redirectBody(full, view, h)))
}

func (d *Deliverer) redirectSender(env Envelope, rcpt Recipient) string {
	switch f := d.Sieve.RedirectFrom; {
	case env.From == "" || f == "" || f == "sender":
		return env.From
	case f == "recipient":
		return rcpt.Address
	default:
		return f
	}
}

// vacation sends one auto-reply when RFC 3834 and the memory allow it.
func (d *Deliverer) vacation(ctx context.Context, log *slog.Logger, rcpt Recipient, env Envelope, msg *sieve.Message, senv *sieve.Env, mem *store.SieveMemory, v sieve.Vacation) (store.Remember, bool) {
	if why := v.NoReplyReason(msg, senv); why != "" {
		log.Info("sieve: no vacation reply", "reason", why)
		return store.Remember{}, false
	}
	key := sievestore.VacationKey(v.Handle, env.From)
	if done, err := mem.Replied(key); err != nil || done {
		if err != nil {
			log.Warn("sieve: vacation memory", "err", err)
		} else {
			log.Info("sieve: no vacation reply", "reason", "replied to this sender within the period")
		}
		return store.Remember{}, false
	}
	if d.Sieve.Relay == nil {
		log.Warn("sieve: vacation reply not sent: no relay is configured ([sieve] relay)")
		return store.Remember{}, false
	}
	reply := d.vacationMessage(rcpt, env, msg, v, time.Now())
	// RFC 3834 §3.3 / RFC 5230 §5.1: the null return path, so nothing
	// answers the answer.
	if err := d.Sieve.Relay.Send(ctx, "", []string{env.From}, bytes.NewReader(reply)); err != nil {
		log.Warn("sieve: vacation reply failed", "to", env.From, "err", err)
		return store.Remember{}, false
	}
	log.Info("sieve: vacation reply sent", "to", env.From)
	return store.Remember{Key: key, Period: v.Period}, true
}

func headerValue(msg *sieve.Message, name string) string {
	for _, f := range msg.Header {
		if strings.EqualFold(f.Name, name) {
			return strings.TrimSpace(f.Value)
		}
	}
	return ""
}

func (d *Deliverer) vacationMessage(rcpt Recipient, env Envelope, msg *sieve.Message, v sieve.Vacation, now time.Time) []byte {
	from := v.From
	if from == "" {
		from = rcpt.Address
	}
	subject := v.Subject
	if subject == "" {
		// RFC 5230 §4.3's suggestion; the original stays encoded as it
		// came, which is still a valid field.
		subject = "Auto: " + headerValue(msg, "Subject")
	} else {
		subject = mime.QEncoding.Encode("utf-8", subject)
	}
	var id [12]byte
	rand.Read(id[:])
	var b bytes.Buffer
	line := func(k, v string) {
		if v = oneLine(v); v != "" {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	line("From", from)
	line("To", "<"+env.From+">")
	line("Subject", subject)
	line("Date", now.Format(time.RFC1123Z))
	line("Message-ID", "<"+hex.EncodeToString(id[:])+"@"+d.Hostname+">")
	if mid := headerValue(msg, "Message-ID"); mid != "" {
		line("In-Reply-To", mid)
		line("References", strings.TrimSpace(headerValue(msg, "References")+" "+mid))
	}
	line("Auto-Submitted", "auto-replied (vacation)")
	b.WriteString("MIME-Version: 1.0\r\n")
	reason := strings.ReplaceAll(strings.ReplaceAll(v.Reason, "\r\n", "\n"), "\n", "\r\n")
	if v.MIME {
		// RFC 5230 §5.8: with :mime the reason is a MIME entity, header
		// included.
		b.WriteString(reason)
	} else {
		b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
		b.WriteString(reason)
	}
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

func oneLine(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s))
}

func union(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, f := range b {
		found := false
		for _, g := range out {
			if strings.EqualFold(f, g) {
				found = true
				break
			}
		}
		if !found {
			out = append(out, f)
		}
	}
	return out
}
