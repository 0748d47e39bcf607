package legacy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	imapv2 "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/message"
	"github.com/storaged/storaged/store"
)

// session is one IMAP connection's state.
type session struct {
	srv  *Server
	conn *imapserver.Conn
	log  *slog.Logger
	ctx  context.Context
	env  envScratch // reused by FETCH ENVELOPE

	acct *store.Account
	view *store.View
	// lastSync limits folder syncs from Poll to one a second.
	lastSync time.Time
}

var (
	_ imapserver.SessionIMAP4rev2      = (*session)(nil)
	_ imapserver.SessionAppendLimit    = (*session)(nil)
	_ imapserver.SessionUnauthenticate = (*session)(nil)
)

func (s *session) Close() error {
	s.closeView()
	return nil
}

func (s *session) closeView() {
	if s.view != nil {
		s.view.Close()
		s.view = nil
	}
}

// Login checks the password; a failure answers only after a delay, which
// slows guessing without holding any lock.
func (s *session) Login(username, password string) error {
	u, err := s.srv.users.Verify(s.ctx, username, password)
	if err != nil {
		s.log.Info("login failed", "user", username)
		select {
		case <-time.After(s.srv.cfg.AuthFailDelay):
		case <-s.ctx.Done():
		}
		return imapserver.ErrAuthFailed
	}
	acct, err := s.srv.accounts.Open(s.ctx, u.Name)
	if err != nil {
		return mapErr(s.log, "login", err)
	}
	s.acct = acct
	s.log = s.log.With("user", u.Name)
	s.log.Info("logged in")
	return nil
}

func (s *session) Unauthenticate() error {
	s.closeView()
	s.acct = nil
	return nil
}

func (s *session) AppendLimit() uint32 { return uint32(s.srv.cfg.MaxMessageSize) }

func (s *session) Namespace() (*imapv2.NamespaceData, error) {
	return &imapv2.NamespaceData{Personal: []imapv2.NamespaceDescriptor{{Prefix: "", Delim: '/'}}}, nil
}

func (s *session) mailbox(name string) (*store.Mailbox, error) {
	mb, err := s.acct.Mailbox(name)
	if err != nil {
		return nil, mapErr(s.log, "mailbox", err)
	}
	return mb, nil
}

var permanentFlags = []imapv2.Flag{imapv2.FlagSeen, imapv2.FlagAnswered, imapv2.FlagFlagged, imapv2.FlagDeleted, imapv2.FlagDraft, imapv2.FlagWildcard}

func (s *session) Select(name string, opts *imapv2.SelectOptions) (*imapv2.SelectData, error) {
	s.closeView()
	mb, err := s.mailbox(name)
	if err != nil {
		return nil, err
	}
	v, err := mb.OpenView(s.ctx, opts.ReadOnly)
	if err != nil {
		return nil, mapErr(s.log, "select", err)
	}
	s.view = v
	info, err := mb.Info()
	if err != nil {
		return nil, mapErr(s.log, "select", err)
	}
	flags := []imapv2.Flag{imapv2.FlagSeen, imapv2.FlagAnswered, imapv2.FlagFlagged, imapv2.FlagDeleted, imapv2.FlagDraft}
	data := &imapv2.SelectData{
		Flags: flags, NumMessages: uint32(v.Len()), NumRecent: uint32(v.NumRecent()),
		UIDNext: imapv2.UID(info.UIDNext), UIDValidity: info.UIDValidity,
	}
	if !opts.ReadOnly {
		data.PermanentFlags = permanentFlags
	}
	if info.Unseen > 0 {
		data.FirstUnseenSeqNum = s.firstUnseen()
	}
	s.lastSync = time.Now()
	return data, nil
}

// firstUnseen is the UNSEEN response code IMAP4rev1 clients expect.
func (s *session) firstUnseen() uint32 {
	var seq uint32
	s.view.Mailbox().ForEach(func(m *store.Message) error {
		if !m.Flags.Sys.Has(folder.Seen) {
			seq = s.view.Seq(m.UID)
			if seq > 0 {
				return store.ErrStop
			}
		}
		return nil
	})
	return seq
}

func (s *session) Unselect() error {
	s.closeView()
	return nil
}

func (s *session) Create(name string, opts *imapv2.CreateOptions) error {
	use := ""
	if opts != nil && len(opts.SpecialUse) > 0 {
		if len(opts.SpecialUse) > 1 {
			return no(imapv2.ResponseCode("USEATTR"), "one special-use attribute per mailbox")
		}
		use = string(opts.SpecialUse[0])
		switch imapv2.MailboxAttr(use) {
		case imapv2.MailboxAttrAll, imapv2.MailboxAttrArchive, imapv2.MailboxAttrDrafts, imapv2.MailboxAttrFlagged,
			imapv2.MailboxAttrJunk, imapv2.MailboxAttrSent, imapv2.MailboxAttrTrash:
		default:
			return no(imapv2.ResponseCode("USEATTR"), "unknown special-use attribute")
		}
	}
	// RFC 9051 §6.3.4: a trailing separator only says a hierarchy is meant.
	for len(name) > 1 && name[len(name)-1] == '/' {
		name = name[:len(name)-1]
	}
	return mapErr(s.log, "create", s.acct.CreateMailbox(name, use))
}

func (s *session) Delete(name string) error {
	if s.view != nil {
		if info, err := s.view.Mailbox().Info(); err == nil && info.Name == folder.CanonicalName(name) {
			s.closeView()
		}
	}
	return mapErr(s.log, "delete", s.acct.DeleteMailbox(name))
}

func (s *session) Rename(oldName, newName string, _ *imapv2.RenameOptions) error {
	return mapErr(s.log, "rename", s.acct.RenameMailbox(s.ctx, oldName, newName))
}

func (s *session) Subscribe(name string) error {
	return mapErr(s.log, "subscribe", s.acct.Subscribe(name, true))
}

func (s *session) Unsubscribe(name string) error {
	return mapErr(s.log, "unsubscribe", s.acct.Subscribe(name, false))
}

func (s *session) Status(name string, opts *imapv2.StatusOptions) (*imapv2.StatusData, error) {
	mb, err := s.mailbox(name)
	if err != nil {
		return nil, err
	}
	if err := mb.Sync(s.ctx); err != nil {
		return nil, mapErr(s.log, "status", err)
	}
	info, err := mb.Info()
	if err != nil {
		return nil, mapErr(s.log, "status", err)
	}
	return statusData(info, opts, s.AppendLimit()), nil
}

func statusData(info store.MailboxInfo, opts *imapv2.StatusOptions, limit uint32) *imapv2.StatusData {
	d := &imapv2.StatusData{Mailbox: info.Name}
	u32 := func(v uint32) *uint32 { return &v }
	if opts.NumMessages {
		d.NumMessages = u32(info.Messages)
	}
	if opts.NumRecent {
		n := uint32(0)
		if info.UIDNext > info.RecentUID {
			// Messages nobody has seen yet: the UIDs still in the index
			// from RecentUID up. Expunged ones cannot be told apart
			// without a scan, and they are rare among unseen arrivals.
			n = min(info.UIDNext-info.RecentUID, info.Messages)
		}
		d.NumRecent = u32(n)
	}
	if opts.UIDNext {
		d.UIDNext = imapv2.UID(info.UIDNext)
	}
	if opts.UIDValidity {
		d.UIDValidity = info.UIDValidity
	}
	if opts.NumUnseen {
		d.NumUnseen = u32(info.Unseen)
	}
	if opts.NumDeleted {
		d.NumDeleted = u32(info.Deleted)
	}
	if opts.Size {
		sz := info.Size
		d.Size = &sz
	}
	if opts.AppendLimit {
		d.AppendLimit = u32(limit)
	}
	return d
}

func (s *session) Append(name string, r imapv2.LiteralReader, opts *imapv2.AppendOptions) (*imapv2.AppendData, error) {
	mb, err := s.acct.Mailbox(name)
	if errors.Is(err, folder.ErrNotFound) {
		io.Copy(io.Discard, r)
		return nil, no(imapv2.ResponseCodeTryCreate, "no such mailbox")
	}
	if err != nil {
		io.Copy(io.Discard, r)
		return nil, mapErr(s.log, "append", err)
	}
	if r.Size() > s.srv.cfg.MaxMessageSize {
		io.Copy(io.Discard, r)
		return nil, no(imapv2.ResponseCodeTooBig, "message larger than APPENDLIMIT")
	}
	b, err := io.ReadAll(r)
	if err == nil && int64(len(b)) != r.Size() {
		// The client went away mid-literal: the reader may say EOF, but
		// half a message is not a message.
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, err
	}
	flags, err := fromIMAPFlags(opts.Flags)
	if err != nil {
		return nil, err
	}
	var origin *store.Sub
	if s.view != nil && s.view.Mailbox() == mb {
		origin = s.view.Sub()
	}
	res, err := mb.Append(s.ctx, message.Canonical(b), store.AppendOptions{Flags: flags, Date: opts.Time, Origin: origin})
	if err != nil {
		return nil, mapErr(s.log, "append", err)
	}
	return &imapv2.AppendData{UID: imapv2.UID(res.UID), UIDValidity: res.UIDValidity}, nil
}

// Poll writes the updates the view owes, syncing with the files at most
// once a second.
func (s *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	if s.view == nil {
		return nil
	}
	if time.Since(s.lastSync) > time.Second {
		s.lastSync = time.Now()
		if err := s.view.Mailbox().Sync(s.ctx); err != nil {
			s.log.Warn("sync", "err", err)
		}
	}
	return s.writeUpdates(w, allowExpunge)
}

func (s *session) writeUpdates(w *imapserver.UpdateWriter, allowExpunge bool) error {
	ups, err := s.view.Updates(allowExpunge)
	if err != nil {
		return mapErr(s.log, "poll", err)
	}
	for _, u := range ups {
		switch u.Kind {
		case store.UpdateExpunge:
			err = w.WriteExpunge(u.Seq)
		case store.UpdateExists:
			err = w.WriteNumMessages(u.Count)
		case store.UpdateRecent:
			err = w.WriteNumRecent(u.Count)
		case store.UpdateFlags:
			m, ok, rerr := s.view.Mailbox().Message(u.UID)
			if rerr != nil {
				return mapErr(s.log, "poll", rerr)
			}
			if ok {
				err = w.WriteMessageFlags(u.Seq, imapv2.UID(u.UID), toIMAPFlags(m.Flags, s.view.IsRecent(u.UID)))
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// idleSync is how often IDLE looks at the files for other programs'
// changes; the store's own changes arrive at once through the hub.
const idleSync = 5 * time.Second

func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	if s.view == nil {
		<-stop
		return nil
	}
	if err := s.writeUpdates(w, true); err != nil {
		return err
	}
	tick := time.NewTicker(idleSync)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return nil
		case <-s.view.Changed():
		case <-tick.C:
			if err := s.view.Mailbox().Sync(s.ctx); err != nil {
				s.log.Warn("sync", "err", err)
			}
		}
		if err := s.writeUpdates(w, true); err != nil {
			return err
		}
	}
}

// uidsOf resolves a sequence or UID set against the view, in order.
func (s *session) uidsOf(set imapv2.NumSet) []uint32 {
	uids := s.view.UIDs()
	if len(uids) == 0 {
		return nil
	}
	var out []uint32
	switch set := set.(type) {
	case imapv2.SeqSet:
		for _, r := range set {
			lo, hi := r.Start, r.Stop
			if lo == 0 {
				lo = uint32(len(uids))
			}
			if hi == 0 {
				hi = uint32(len(uids))
			}
			if lo > hi {
				lo, hi = hi, lo
			}
			for seq := lo; seq <= hi && seq <= uint32(len(uids)); seq++ {
				out = append(out, uids[seq-1])
			}
		}
	case imapv2.UIDSet:
		last := uids[len(uids)-1]
		for _, r := range set {
			lo, hi := uint32(r.Start), uint32(r.Stop)
			if lo == 0 {
				lo = last
			}
			if hi == 0 {
				hi = last
			}
			if lo > hi {
				lo, hi = hi, lo
			}
			// RFC 9051 §6.4.9: "*" is the largest UID in use, and a range
			// past it still includes that one.
			for _, uid := range uids {
				if uid >= lo && uid <= hi {
					out = append(out, uid)
				}
			}
		}
	}
	return dedupSorted(out)
}

func dedupSorted(in []uint32) []uint32 {
	if len(in) < 2 {
		return in
	}
	seen := make(map[uint32]bool, len(in))
	out := in[:0]
	for _, u := range in {
		if !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	sortUIDs(out)
	return out
}

func (s *session) Expunge(w *imapserver.ExpungeWriter, uids *imapv2.UIDSet) error {
	if s.view.ReadOnly() {
		// CLOSE on an EXAMINEd mailbox comes here too and must remove
		// nothing (RFC 9051 §6.4.1).
		return nil
	}
	mb := s.view.Mailbox()
	var cands []uint32
	for _, uid := range s.view.UIDs() {
		if uids == nil || uids.Contains(imapv2.UID(uid)) {
			cands = append(cands, uid)
		}
	}
	msgs, err := mb.ReadBatch(cands, 0)
	if err != nil {
		return mapErr(s.log, "expunge", err)
	}
	var targets []uint32
	for _, m := range msgs {
		if m.Found && m.Flags.Sys.Has(folder.Deleted) {
			targets = append(targets, m.UID)
		}
	}
	if len(targets) == 0 {
		return nil
	}
	if _, err := mb.Expunge(s.ctx, targets, s.view.Sub()); err != nil {
		return mapErr(s.log, "expunge", err)
	}
	return s.writeExpunges(w.WriteExpunge)
}

// writeExpunges reports the view's owed expunges and nothing else: the
// EXPUNGE and MOVE writers cannot carry other updates, which stay owed.
func (s *session) writeExpunges(write func(uint32) error) error {
	ups, err := s.view.ExpungeUpdates()
	if err != nil {
		return mapErr(s.log, "expunge", err)
	}
	for _, u := range ups {
		if err := write(u.Seq); err != nil {
			return err
		}
	}
	return nil
}

func (s *session) Copy(set imapv2.NumSet, dest string) (*imapv2.CopyData, error) {
	dst, err := s.acct.Mailbox(dest)
	if errors.Is(err, folder.ErrNotFound) {
		return nil, no(imapv2.ResponseCodeTryCreate, "no such mailbox")
	}
	if err != nil {
		return nil, mapErr(s.log, "copy", err)
	}
	src, destUIDs, err := s.view.Mailbox().CopyTo(s.ctx, dst, s.uidsOf(set))
	if err != nil {
		return nil, mapErr(s.log, "copy", err)
	}
	info, err := dst.Info()
	if err != nil {
		return nil, mapErr(s.log, "copy", err)
	}
	data := &imapv2.CopyData{UIDValidity: info.UIDValidity}
	for i := range src {
		data.SourceUIDs.AddNum(imapv2.UID(src[i]))
		data.DestUIDs.AddNum(imapv2.UID(destUIDs[i]))
	}
	return data, nil
}

func (s *session) Move(w *imapserver.MoveWriter, set imapv2.NumSet, dest string) error {
	if s.view.ReadOnly() {
		return errReadOnly
	}
	data, err := s.Copy(set, dest)
	if err != nil {
		return err
	}
	if err := w.WriteCopyData(data); err != nil {
		return err
	}
	src, _ := data.SourceUIDs.Nums()
	uids := make([]uint32, len(src))
	for i, u := range src {
		uids[i] = uint32(u)
	}
	if _, err := s.view.Mailbox().Expunge(s.ctx, uids, s.view.Sub()); err != nil {
		return mapErr(s.log, "move", err)
	}
	return s.writeExpunges(w.WriteExpunge)
}

func (s *session) Store(w *imapserver.FetchWriter, set imapv2.NumSet, sf *imapv2.StoreFlags, _ *imapv2.StoreOptions) error {
	if s.view.ReadOnly() {
		return errReadOnly
	}
	flags, err := fromIMAPFlags(sf.Flags)
	if err != nil {
		return err
	}
	op := store.FlagsReplace
	switch sf.Op {
	case imapv2.StoreFlagsAdd:
		op = store.FlagsAdd
	case imapv2.StoreFlagsDel:
		op = store.FlagsRemove
	}
	uids := s.uidsOf(set)
	if _, err := s.view.Mailbox().StoreFlags(s.ctx, uids, op, flags, s.view.Sub()); err != nil {
		return mapErr(s.log, "store", err)
	}
	if sf.Silent {
		return nil
	}
	_, isUID := set.(imapv2.UIDSet)
	return s.fetch(w, uids, &imapv2.FetchOptions{Flags: true, UID: isUID})
}
