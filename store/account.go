package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"syscall"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/index"
	"github.com/storaged/storaged/internal/safefs"
	"github.com/storaged/storaged/internal/spool"
	"github.com/storaged/storaged/message"
	"github.com/storaged/storaged/quota"
)

// Account is one user's mail: folders, index and change hub.
type Account struct {
	user   string
	root   string // the user's mail directory
	format string // the storage format's name
	idx    *index.DB
	files  folder.Store
	log    *slog.Logger
	hub    Hub
	owner  *safefs.Owner // who the store's new files belong to (Options.Owner)

	// mu guards mailboxes and serialises changes to the set of mailboxes
	// (create, delete, rename).
	mu        sync.Mutex
	mailboxes map[uint64]*Mailbox
	// openRebuild is what the open did to a damaged index (rebuild.go),
	// until `index rebuild` reports it; guarded by mu.
	openRebuild *Rebuild

	// commits counts the index commits running on their own after early
	// appends (appendbatch.go); close waits for them.
	commits sync.WaitGroup
	// lazy holds the batches of early appends waiting for their index
	// commit (lazycommit.go), guarded by lmu.
	lmu  sync.Mutex
	lazy lazyCommits

	quota QuotaOptions
	// qmu guards reserved: quota held by appends in flight (quota.go).
	qmu      sync.Mutex
	reserved quota.Usage
}

// User is the account's user name.
func (a *Account) User() string { return a.user }

// Paths are the account's mail directory, index file and storage format
// (for the admin's user show).
func (a *Account) Paths() (mail, index, format string) { return a.root, a.idx.Path(), a.format }

// Hub is the account's change hub.
func (a *Account) Hub() *Hub { return &a.hub }

// close waits for the index commits of early appends, then closes the
// index.
func (a *Account) close() error {
	a.kickLazy()
	a.commits.Wait()
	return a.idx.Close()
}

// Mailbox is an open handle on one mailbox, shared by all its users in
// the process.
type Mailbox struct {
	acct *Account
	id   uint64

	// fmu guards f, which a RENAME of this mailbox or a parent replaces
	// while sessions keep using the handle.
	fmu sync.RWMutex
	f   folder.Folder

	// wmu serialises sync, flag changes and expunges (see package doc).
	wmu sync.Mutex

	pmu     sync.Mutex
	pending map[string]int

	// amu guards the append queue (appendbatch.go): appends waiting for
	// their directory fsync and index commit, and whether one leads.
	amu      sync.Mutex
	aqueue   []*appendReq
	aleading bool
	// aindexing: batches whose names are durable and whose index commit
	// runs (awaitIndexing).
	aindexing []*batchInFlight
	// awriting counts the appends still writing their files, which will
	// queue: a leader waits for them for company (appendbatch.go). A
	// writer is counted out only after it queued, so a leader that saw
	// none writing finds every one of them in the queue.
	awriting folder.Writers
}

func (m *Mailbox) folder() folder.Folder {
	m.fmu.RLock()
	defer m.fmu.RUnlock()
	return m.f
}

// ID is the mailbox's index id, stable across renames.
func (m *Mailbox) ID() uint64 { return m.id }

// Mailbox returns the handle of the named mailbox.
func (a *Account) Mailbox(name string) (*Mailbox, error) {
	if err := folder.CheckName(name); err != nil {
		return nil, err
	}
	name = folder.CanonicalName(name)
	var mb index.Mailbox
	err := a.idx.View(func(tx *index.Tx) (err error) { mb, err = tx.Mailbox(name); return err })
	if errors.Is(err, folder.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", folder.ErrNotFound, name)
	}
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if h, ok := a.mailboxes[mb.ID]; ok {
		return h, nil
	}
	f, err := a.files.Folder(name)
	if errors.Is(err, folder.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", folder.ErrNotFound, name)
	}
	if err != nil {
		return nil, err
	}
	h := &Mailbox{acct: a, id: mb.ID, f: f, pending: make(map[string]int)}
	a.mailboxes[mb.ID] = h
	return h, nil
}

// Info returns the mailbox's index record.
func (m *Mailbox) Info() (MailboxInfo, error) {
	m.awaitIndexing(context.Background()) // early appends answered already
	return m.info()
}

// info is Info without waiting for early appends' commits.
func (m *Mailbox) info() (MailboxInfo, error) {
	var mb index.Mailbox
	err := m.acct.idx.View(func(tx *index.Tx) (err error) { mb, err = tx.MailboxByID(m.id); return err })
	return MailboxInfo(mb), err
}

// AppendOptions are the extras of one append.
type AppendOptions struct {
	Flags  folder.Flags
	Date   time.Time // INTERNALDATE; now when zero
	Sender string    // envelope sender, for formats that keep it
	// Origin is the caller's own subscription, if any, carried in the event.
	Origin *Sub
	// Early: return once the message's file and name are durable, before
	// its index commit, which follows on its own (LMTP: the 250 rests on
	// the file; see the package invariants). The UID is not known then
	// (Appended.UID is 0); the quota the message holds, its pending key
	// and its event last until the commit, and every Sync of the mailbox
	// waits for commits of files already durable, so whoever heard the
	// answer and looks finds the message. Formats that are no
	// folder.BatchAppender (mbox, MH) return after the commit anyway.
	Early bool
}

// Appended says where a message went.
type Appended struct {
	UIDValidity uint32
	UID         uint32
	Size        int64 // canonical octets
}

// Append stores a message durably, indexes it and tells the mailbox's
// subscribers. See the package invariants. msg is in canonical form, or
// exactly as an IMAP client sent it in a literal8 (RFC 3516 §4.4): such a
// message is stored as it is (ReadStored gives it back), while sizes and
// the cached structure describe its canonical form, which every other
// read serves.
//
// A message that does not fit the account's quota is refused with an
// error that Is quota.ErrOverQuota, before anything is written.
func (m *Mailbox) Append(ctx context.Context, msg []byte, opt AppendOptions) (Appended, error) {
	return m.append(ctx, msg, opt, nil)
}

// append is Append under a reservation: nil reserves for this message,
// noQuota (or one a COPY took for its whole set) skips the check.
func (m *Mailbox) append(ctx context.Context, msg []byte, opt AppendOptions, res *reservation) (Appended, error) {
	st, err := stage(msg, opt)
	if err != nil {
		return Appended{}, err
	}
	return m.appendStaged(ctx, st, opt, res)
}

// AppendContent is Append for a delivery's copy (canonical): its head
// (trace fields, or a header Sieve edited) and then the received
// message, in memory or spooled. Spooled, it is parsed as it streams
// for the cached ENVELOPE and BODYSTRUCTURE and the format streams it
// into place; in memory, the two pieces are parsed and stored as they
// lie, never joined in a copy of the whole. The quota is reserved for
// its known size. The durability order, and what a failure leaves, are
// Append's; c is not read after AppendContent returns.
func (m *Mailbox) AppendContent(ctx context.Context, c *spool.Content, opt AppendOptions) (Appended, error) {
	st, err := stageContent(c, opt)
	if err != nil {
		return Appended{}, err
	}
	return m.appendStaged(ctx, st, opt, nil)
}

// appendStaged is the common part of append and AppendContent.
func (m *Mailbox) appendStaged(ctx context.Context, st *staged, opt AppendOptions, res *reservation) (Appended, error) {
	var err error
	own := res == nil
	// handed: an early return left the release of the reservation and
	// of the keys to the index commit that follows (afterEarly).
	handed := false
	if own {
		res, err = m.acct.reserve(m, quota.Usage{Storage: st.size, Messages: 1})
		if err != nil {
			return Appended{}, err
		}
		defer func() {
			if !handed {
				res.release()
			}
		}()
	}
	// A format may reserve several keys (MH tries numbers until one is
	// free); all are released once the index knows the one that stuck.
	var keys []string
	defer func() {
		if !handed {
			m.unpendAll(&keys)
		}
	}()
	var rec index.Message
	var mb index.Mailbox
	if ba, ok := m.folder().(folder.BatchAppender); ok {
		// The directory fsync and the index commit are shared with
		// concurrent appends to this mailbox (appendbatch.go).
		if err := m.writeUnsynced(ctx, ba, st, &keys); err != nil {
			return Appended{}, err
		}
		// Not early: a quota warning this message triggers goes before
		// the answer (it is rare), and near a full disk the answer waits
		// for the index commit, so that a commit that cannot grow the
		// index is answered 452 and not acknowledged (indexRoom).
		early := opt.Early && (res == nil || res.crossed == 0) && m.acct.indexRoom()
		var after func(*appendReq)
		if early {
			after = func(r *appendReq) {
				if r.derr == nil { // else the caller was answered with it
					m.afterEarly(r, res, own, keys, opt.Origin)
				}
			}
		}
		req := m.commitAppended(ba, st, early, after)
		if early && req.derr == nil {
			handed = true
			return Appended{Size: st.size}, nil
		}
		rec, mb, err = req.rec, req.mb, req.err
	} else {
		if err := m.writeStaged(ctx, st, &keys); err != nil {
			return Appended{}, err
		}
		var recs []index.Message
		if recs, mb, err = m.indexStaged([]*staged{st}); err == nil {
			rec = recs[0]
		}
	}
	if err != nil && st.entry.Key != "" && (errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)) {
		// The index could not grow (disk full): the commit wrote no
		// meta page, so nothing is indexed, and the caller is answered
		// 452 / NO [OVERQUOTA] and sends again. The file goes, while
		// its key is still pending (no Sync took it), or that retry
		// would make a second copy once space returns.
		if rerr := m.folder().Remove([]folder.Entry{st.entry}); rerr != nil {
			m.acct.log.Error("disk full: removing the file of an append the index refused", "err", rerr)
		}
	}
	if err != nil {
		// The file stays: the next Sync indexes it (once its name is
		// durable; if the crash took the name, the sender was not
		// answered and sends again), so nothing the caller may retry is
		// lost, and nothing is acknowledged.
		return Appended{}, err
	}
	m.publishAdded([]index.Message{rec}, opt.Origin)
	if own {
		res.warn(ctx)
	}
	return Appended{UIDValidity: mb.UIDValidity, UID: rec.UID, Size: st.size}, nil
}

// afterEarly is what appendStaged leaves, on an early return, to the
// index commit that follows: the event, the quota warning, and the
// release of the reservation and the pending keys. A failed commit
// leaves the file, durable and acknowledged, to the next Sync (a full
// disk included: the sender was answered and will not send again).
func (m *Mailbox) afterEarly(r *appendReq, res *reservation, own bool, keys []string, origin *Sub) {
	if r.err != nil {
		m.acct.log.Error("an acknowledged message is not indexed; the next sync indexes its file", "mailbox", m.id, "key", r.st.entry.Key, "err", r.err)
	} else {
		m.publishAdded([]index.Message{r.rec}, origin)
	}
	m.unpendAll(&keys)
	if !own {
		return
	}
	res.release()
	if r.err == nil && res != nil && res.crossed != 0 {
		// On a goroutine of its own: the warning is an append to INBOX
		// that waits for its commit, which this goroutine is running.
		m.acct.commits.Add(1)
		go func() {
			defer m.acct.commits.Done()
			res.warn(context.Background())
		}()
	}
}

// AppendMany stores several messages as one change (RFC 3502
// MULTIAPPEND): all of them or, on any failure, none. The files are
// written first, each durable; then one index transaction takes them
// all, so no session sees a part of the set; a failure before it removes
// the files written.
func (m *Mailbox) AppendMany(ctx context.Context, msgs [][]byte, opts []AppendOptions) ([]Appended, error) {
	if len(msgs) != len(opts) {
		return nil, errors.New("store: AppendMany: one AppendOptions per message")
	}
	sts := make([]*staged, len(msgs))
	var add quota.Usage
	for i := range msgs {
		st, err := stage(msgs[i], opts[i])
		if err != nil {
			return nil, err
		}
		sts[i] = st
		add.Storage += st.size
		add.Messages++
	}
	res, err := m.acct.reserve(m, add)
	if err != nil {
		return nil, err
	}
	defer res.release()
	var keys []string
	defer m.unpendAll(&keys)
	var written []folder.Entry
	undo := func() {
		if err := m.folder().Remove(written); err != nil {
			m.acct.log.Error("multiappend: removing the files of a failed set", "err", err)
		}
	}
	for _, st := range sts {
		if err := m.writeStaged(ctx, st, &keys); err != nil {
			undo()
			return nil, err
		}
		written = append(written, st.entry)
	}
	recs, mb, err := m.indexStaged(sts)
	if err != nil {
		undo()
		return nil, err
	}
	m.publishAdded(recs, opts[0].Origin)
	res.warn(ctx)
	out := make([]Appended, len(recs))
	for i, r := range recs {
		out[i] = Appended{UIDValidity: mb.UIDValidity, UID: r.UID, Size: r.CRLFSize}
	}
	return out, nil
}

// staged is one message on its way in: in memory (msg, canon), or
// spooled (content).
type staged struct {
	msg, canon []byte
	content    *spool.Content
	size       int64  // canonical octets
	env, body  []byte // cached ENVELOPE and BODYSTRUCTURE
	date       time.Time
	opt        AppendOptions
	entry      folder.Entry // once written
}

func stage(msg []byte, opt AppendOptions) (*staged, error) {
	canon := message.Canonical(msg)
	info, err := message.ParseBytes(canon)
	st, err := newStaged(info, err, opt)
	if err != nil {
		return nil, err
	}
	st.msg, st.canon, st.size = msg, canon, int64(len(canon))
	return st, nil
}

// stageContent is stage for a Content: message.Parse reads a spooled
// one as it streams (one line and the kept header fields in memory),
// ParsePieces one in memory where it lies; the cache is what ParseBytes
// would have made of the same octets, and no Canonical pass is spent on
// octets the spool made canonical.
func stageContent(c *spool.Content, opt AppendOptions) (*staged, error) {
	var info *message.Info
	var err error
	if head, body, ok := c.Pieces(); ok {
		info, err = message.ParsePieces(head, body)
	} else {
		info, err = message.Parse(c.NewReader())
	}
	st, err := newStaged(info, err, opt)
	if err != nil {
		return nil, err
	}
	st.content, st.size = c, c.Size()
	return st, nil
}

// newStaged is what stage and stageContent share: the index's cached
// envelope and structure from the parse (parseErr its error), and the
// arrival date (now, unless the append gives one).
func newStaged(info *message.Info, parseErr error, opt AppendOptions) (*staged, error) {
	if parseErr != nil {
		return nil, fmt.Errorf("store: parse: %w", parseErr)
	}
	env, body, err := encodeInfo(info)
	if err != nil {
		return nil, err
	}
	date := opt.Date
	if date.IsZero() {
		date = time.Now()
	}
	return &staged{env: env, body: body, date: date, opt: opt}, nil
}

// writeStaged writes the message's file durably.
func (m *Mailbox) writeStaged(ctx context.Context, st *staged, keys *[]string) error {
	e, err := m.folder().Append(ctx, m.newMessage(st, keys))
	st.entry = e
	return err
}

// newMessage is what the format is given to store st; the keys it
// reserves are pending (see the package invariants) and added to keys.
//
// An append without a date arrives now: the format is given no date, so
// the file keeps the mtime the kernel gave it (the same instant as the
// index's INTERNALDATE, to the clock tick) and no utimensat is spent on
// setting it again.
func (m *Mailbox) newMessage(st *staged, keys *[]string) folder.NewMessage {
	return folder.NewMessage{
		Data: st.msg, Content: st.content, Flags: st.opt.Flags, Date: st.opt.Date, Sender: st.opt.Sender,
		Reserve: func(k string) { *keys = append(*keys, k); m.pend(k) },
	}
}

// indexStaged indexes written messages in one transaction.
func (m *Mailbox) indexStaged(sts []*staged) ([]index.Message, index.Mailbox, error) {
	var recs []index.Message
	var mb index.Mailbox
	err := m.acct.idx.Commit(func(tx *index.Tx) (err error) {
		// RFC 8514 §3: the save date is the time of the save; a COPY or
		// MOVE appends here too, so it gets the time of the copy.
		recs, mb, err = m.addStaged(tx, sts, time.Now(), recs[:0])
		return err
	})
	if err != nil {
		return nil, mb, fmt.Errorf("store: index append: %w", err)
	}
	return recs, mb, nil
}

// addStaged adds sts to the mailbox in tx, their records appended to
// recs, and reads the mailbox after.
func (m *Mailbox) addStaged(tx *index.Tx, sts []*staged, now time.Time, recs []index.Message) ([]index.Message, index.Mailbox, error) {
	for _, st := range sts {
		e := st.entry
		rec, err := tx.AddMessage(m.id, index.NewMessage{
			Key: e.Key, Name: e.Name, Flags: e.Flags, InternalDate: st.date,
			Size: e.Size, CRLFSize: st.size, Envelope: st.env, Body: st.body,
			SaveDate: now,
		})
		if err != nil {
			return recs, index.Mailbox{}, err
		}
		recs = append(recs, rec)
	}
	mb, err := tx.MailboxByID(m.id)
	return recs, mb, err
}

func (m *Mailbox) publishAdded(recs []index.Message, origin *Sub) {
	ev := Event{Mailbox: m.id, Kind: Added, Origin: origin}
	for _, r := range recs {
		ev.UIDs = append(ev.UIDs, r.UID)
		ev.ModSeq = max(ev.ModSeq, r.ModSeq)
		ev.Keywords = append(ev.Keywords, r.Flags.Keywords...)
	}
	m.acct.hub.Publish(ev)
}

func (m *Mailbox) unpendAll(keys *[]string) {
	for _, k := range *keys {
		m.unpend(k)
	}
}

func (m *Mailbox) pend(key string) {
	m.pmu.Lock()
	m.pending[key]++
	m.pmu.Unlock()
}

func (m *Mailbox) unpend(key string) {
	m.pmu.Lock()
	if m.pending[key]--; m.pending[key] <= 0 {
		delete(m.pending, key)
	}
	m.pmu.Unlock()
}

func (m *Mailbox) isPending(key string) bool {
	m.pmu.Lock()
	defer m.pmu.Unlock()
	return m.pending[key] > 0
}

// Open returns a message's bytes in canonical form.
func (m *Mailbox) Open(msg Message) (io.ReadCloser, error) {
	return m.folder().Open(folder.Entry{Key: msg.Key, Name: msg.Name, Size: msg.Size})
}

// ReadStored returns a message as it was stored: see Append.
func (m *Mailbox) ReadStored(msg Message) ([]byte, error) {
	return m.folder().ReadStored(folder.Entry{Key: msg.Key, Name: msg.Name})
}

// encodeInfo is the cache form of a parsed message kept in the index.
func encodeInfo(info *message.Info) (env, body []byte, err error) {
	env, err = info.Envelope.MarshalBinary()
	if err != nil {
		return nil, nil, fmt.Errorf("store: encode envelope: %w", err)
	}
	if info.Body != nil {
		if body, err = info.Body.MarshalBinary(); err != nil {
			return nil, nil, fmt.Errorf("store: encode body structure: %w", err)
		}
	}
	return env, body, nil
}

// CreateMailbox makes a mailbox, creating missing parents as RFC 9051
// §6.3.4 says.
func (a *Account) CreateMailbox(name, specialUse string) error {
	if err := folder.CheckName(name); err != nil {
		return err
	}
	name = folder.CanonicalName(name)
	a.mu.Lock()
	defer a.mu.Unlock()
	var chain []string
	for n, ok := name, true; ok; n, ok = folder.Parent(n) {
		chain = append([]string{n}, chain...)
	}
	for i, n := range chain {
		exists := a.files.Exists(n)
		if exists && i == len(chain)-1 {
			return fmt.Errorf("%w: %s", folder.ErrExists, n)
		}
		if !exists {
			if err := a.files.Create(n); err != nil {
				return err
			}
		}
		use := ""
		if i == len(chain)-1 {
			use = specialUse
		}
		var created uint64
		err := a.idx.Commit(func(tx *index.Tx) error {
			created = 0
			if _, err := tx.Mailbox(n); err == nil {
				return nil
			}
			mb, err := tx.CreateMailbox(n, use)
			created = mb.ID
			return err
		})
		if err != nil {
			return err
		}
		if created != 0 {
			a.hub.Publish(Event{Mailbox: created, Kind: Created, Name: n})
		}
	}
	return a.markUIDValidity()
}
