package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/index"
	"github.com/storaged/storaged/message"
	"github.com/storaged/storaged/quota"
)

// Importing messages from another store (package migrate drives it):
// batched appends that keep the source's UIDs where the target allows
// it, and marks that make a second run add nothing twice.
//
// Duplicates are recognised by an import mark kept in the index with
// each imported message: the SHA-256 (first 16 octets) of the message's
// canonical form and its ordinal among identical messages of the source
// folder ("the second copy of this text"), so true duplicates inside a
// source survive and a rerun, or a resumed run, skips exactly what is
// there already. Marks outlive an expunge: what the user deleted after
// the import is not imported again.
//
// Invariants:
//   - A batch's files are durable (folder.Append, or for a
//     folder.BatchAppender each file's fsync at AppendUnsynced and one
//     directory fsync per batch at Flush) before the one index
//     commit that adds them, their marks and the new high-water UID; the
//     event follows the commit. A kill between leaves files the index
//     does not know: BeginImport of the next run syncs them in (they get
//     UIDs above the high-water) and marks them from their content, so
//     the rerun does not add them again.
//   - For a folder.BatchAppender, up to importWriters files are written
//     and fsynced at once (their fsyncs overlap), each by a goroutine of
//     its own; Flush waits for every one of the batch before the
//     directory fsync. Other formats append one message at a time, in
//     order, as their Append keeps its own syncs.
//   - UIDs follow the source order whatever order the files finish in:
//     they are given at the commit, in the order Add took the messages.
//   - Add returning nil means the message will be indexed by the next
//     Flush unless that Flush fails: a write begun is finished even when
//     ctx is cancelled (an interrupt waits for at most importWriters
//     files), and a write that fails is counted by Lost, not indexed.
//     Add returning an error took nothing: over quota and unparsable
//     refuse that message only; any other error ends the import.
//   - Source UIDs are kept only when the target mailbox was empty (or has
//     the source's UIDVALIDITY already: an interrupted run), through
//     index.AddMessageUID, which never reuses a UID.

// ErrUnparsable: an imported message could not be parsed; it is refused
// alone.
var ErrUnparsable = errors.New("store: message cannot be parsed")

// importBatch bounds a batch in messages and in parsed-structure bytes.
const (
	importBatch      = 128
	importBatchBytes = 16 << 20
	// importEntryBytes stands for a message's key and name in the
	// batch's bytes before its file (which chooses them) is written.
	importEntryBytes = 128
)

// importWriters bounds the files an import writes at once. Their fsyncs
// overlap (the device serves several flushes in the time of one, and
// ext4 commits concurrent fsyncs in one journal transaction), and at
// most this many messages' contents are held besides the one being read.
const importWriters = 8

// ImportOptions shape one mailbox's import.
type ImportOptions struct {
	// UIDs are the source folder's UIDVALIDITY and UIDNEXT, nil when it
	// has none.
	UIDs *folder.ForeignUIDs
	// IgnoreQuota skips the quota check (an admin moving a user in).
	IgnoreQuota bool
}

// ImportMessage is one message to import.
type ImportMessage struct {
	Data     []byte // as the source stores it; made canonical here
	Flags    folder.Flags
	Date     time.Time // INTERNALDATE; now when zero
	UID      uint32    // the source's UID, 0 when none
	POP3UIDL string    // the UIDL POP3 clients know it by, "" for ours
	Mark     []byte    // ImportMark
}

// ContentDigest is the digest import marks are made of.
func ContentDigest(canonical []byte) [16]byte {
	sum := sha256.Sum256(canonical)
	return [16]byte(sum[:16])
}

// ImportMark is the mark of the n-th (from 1) message with digest d in a
// source folder.
func ImportMark(d [16]byte, n uint32) []byte {
	return binary.AppendUvarint(append([]byte{'d'}, d[:]...), uint64(n))
}

// Imported tells whether a message with this mark was imported here.
func (m *Mailbox) Imported(mark []byte) (bool, error) {
	var ok bool
	err := m.acct.idx.View(func(tx *index.Tx) error { _, ok = tx.Imported(m.id, mark); return nil })
	return ok, err
}

// Importer adds messages to one mailbox in batches. It is used by one
// goroutine; the writers it starts are its own.
type Importer struct {
	m    *Mailbox
	opt  ImportOptions
	keep bool
	// ba is the folder when it is a BatchAppender (its files are then
	// written concurrently), nil otherwise.
	ba folder.BatchAppender

	batch []*pendingImport // in source order
	bytes int

	slots   chan struct{}  // one held per file being written
	writing sync.WaitGroup // the writers of the batch
	mu      sync.Mutex
	werr    error // the first failed write's, sticky
	// lost counts the messages Add took whose file was not written.
	lost, lostBytes int64
}

type pendingImport struct {
	nm   index.NewMessage
	uid  uint32
	mark []byte
	res  *reservation
	// entry is what the format returned, handed back at SyncAppended.
	entry folder.Entry
	// err is the write's, set by its writer before writing.Done.
	err error
}

// BeginImport prepares m for an import: it syncs the folder, marks what
// an interrupted run left unindexed, and takes the source's UIDVALIDITY
// when m is empty.
func (m *Mailbox) BeginImport(ctx context.Context, opt ImportOptions) (*Importer, error) {
	if err := m.Sync(ctx); err != nil {
		return nil, err
	}
	if err := m.markOrphans(ctx); err != nil {
		return nil, err
	}
	im := &Importer{m: m, opt: opt}
	if ba, ok := m.folder().(folder.BatchAppender); ok {
		im.ba, im.slots = ba, make(chan struct{}, importWriters)
	}
	err := m.acct.idx.Commit(func(tx *index.Tx) error {
		im.keep = false
		info, err := tx.MailboxByID(m.id)
		if err != nil {
			return err
		}
		if u := opt.UIDs; u != nil && u.UIDValidity != 0 && u.UIDNext != 0 {
			switch {
			case info.Messages == 0:
				if err := tx.SetUIDs(m.id, u.UIDValidity, u.UIDNext); err != nil {
					return err
				}
				im.keep = true
			case info.UIDValidity == u.UIDValidity:
				im.keep = true
			}
		}
		return tx.SetImportHighWater(m.id)
	})
	if err != nil {
		return nil, err
	}
	if im.keep {
		if err := m.acct.markUIDValidity(); err != nil {
			return nil, err
		}
	}
	return im, nil
}

// KeepsUIDs tells whether the source's UIDs (and UIDVALIDITY) are kept.
func (im *Importer) KeepsUIDs() bool { return im.keep }

// markOrphans marks the messages that came in above the last import's
// high-water: files an interrupted import wrote but did not index.
func (m *Mailbox) markOrphans(ctx context.Context) error {
	var hw uint32
	var ok bool
	var orphans []Message
	err := m.acct.idx.View(func(tx *index.Tx) error {
		if hw, ok = tx.ImportHighWater(m.id); !ok {
			return nil
		}
		return tx.ForEachMessage(m.id, func(msg *index.Message) error {
			if msg.UID >= hw {
				orphans = append(orphans, Message(*msg))
			}
			return nil
		})
	})
	if err != nil || len(orphans) == 0 {
		return err
	}
	digests := make([][16]byte, 0, len(orphans))
	for _, o := range orphans {
		if err := ctx.Err(); err != nil {
			return err
		}
		r, err := m.Open(o)
		if errors.Is(err, folder.ErrGone) {
			digests = append(digests, [16]byte{})
			continue
		}
		if err != nil {
			return err
		}
		h := sha256.New()
		_, err = io.Copy(h, r)
		r.Close()
		if err != nil {
			return fmt.Errorf("store: read %s: %w", o.Key, err)
		}
		digests = append(digests, [16]byte(h.Sum(nil)[:16]))
	}
	err = m.acct.idx.Commit(func(tx *index.Tx) error {
		for i, o := range orphans {
			if digests[i] == ([16]byte{}) {
				continue
			}
			n := uint32(1)
			for ; ; n++ {
				if _, taken := tx.Imported(m.id, ImportMark(digests[i], n)); !taken {
					break
				}
			}
			if err := tx.MarkImported(m.id, ImportMark(digests[i], n), o.UID); err != nil {
				return err
			}
		}
		return tx.SetImportHighWater(m.id)
	})
	if err == nil {
		m.acct.log.Info("import: marked messages an interrupted run left", "mailbox_id", m.id, "messages", len(orphans))
	}
	return err
}

// Add takes one message: it is checked (quota, structure) here, and its
// file is written meanwhile, or for formats other than a BatchAppender
// before Add returns; the index learns of it at the Flush that follows
// every importBatch messages, and at the end. An error that Is
// quota.ErrOverQuota or ErrUnparsable refuses this message only; any
// other error (a cancelled ctx, a failed write or commit of an earlier
// message) took nothing and ends the import, which should Flush what it
// has.
func (im *Importer) Add(ctx context.Context, msg ImportMessage) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := im.writeErr(); err != nil {
		return err
	}
	if len(im.batch) >= importBatch || im.bytes >= importBatchBytes {
		// Before this message is taken, so that an error here says
		// that it was not.
		if err := im.Flush(ctx); err != nil {
			return err
		}
	}
	m := im.m
	canon := message.Canonical(msg.Data)
	var res *reservation
	if !im.opt.IgnoreQuota {
		var err error
		if res, err = m.acct.reserve(m, quota.Usage{Storage: int64(len(canon)), Messages: 1}); err != nil {
			return err
		}
	}
	info, err := message.ParseBytes(canon)
	if err != nil {
		res.release()
		return fmt.Errorf("%w: %w", ErrUnparsable, err)
	}
	env, body, err := encodeInfo(info)
	if err != nil {
		res.release()
		return err
	}
	date := msg.Date
	if date.IsZero() {
		date = time.Now()
	}
	p := &pendingImport{
		nm: index.NewMessage{
			InternalDate: date, CRLFSize: int64(len(canon)), Envelope: env, Body: body, POP3UIDL: msg.POP3UIDL,
			SaveDate: time.Now(), // RFC 8514 §3: saved into this mailbox now
		},
		uid: msg.UID, mark: msg.Mark, res: res,
	}
	nmsg := folder.NewMessage{Data: canon, Flags: msg.Flags, Date: date}
	if im.ba == nil {
		if err := im.write(ctx, m.folder().Append, p, nmsg); err != nil {
			res.release()
			return err
		}
	} else {
		// The file's fsync overlaps those of the messages before it;
		// the directory fsync waits for Flush: one per batch, not one
		// per message. A write begun is finished whatever becomes of
		// ctx, so that what Add took is what the import indexes.
		im.slots <- struct{}{}
		im.writing.Add(1)
		go func() {
			defer im.writing.Done()
			defer func() { <-im.slots }()
			defer func() {
				if r := recover(); r != nil {
					p.err = fmt.Errorf("store: import write panicked: %v", r)
					m.acct.log.Error("import: write panicked", "mailbox_id", m.id, "panic", r, "stack", string(debug.Stack()))
				}
				if p.err != nil {
					im.mu.Lock()
					if im.werr == nil {
						im.werr = p.err
					}
					im.mu.Unlock()
				}
			}()
			p.err = im.write(context.WithoutCancel(ctx), im.ba.AppendUnsynced, p, nmsg)
		}()
	}
	im.batch = append(im.batch, p)
	im.bytes += len(env) + len(body) + importEntryBytes
	return nil
}

// write puts p's file in place with appendFn and fills in what the file
// chose (key, name, flags, size).
func (im *Importer) write(ctx context.Context, appendFn func(context.Context, folder.NewMessage) (folder.Entry, error), p *pendingImport, nmsg folder.NewMessage) error {
	m := im.m
	var keys []string
	nmsg.Reserve = func(k string) { keys = append(keys, k); m.pend(k) }
	e, err := appendFn(ctx, nmsg)
	// The key that stuck stays pending until the commit; the others
	// (MH numbers tried and lost) go now.
	for _, k := range keys {
		if err != nil || k != e.Key {
			m.unpend(k)
		}
	}
	if err != nil {
		return err
	}
	p.nm.Key, p.nm.Name, p.nm.Flags, p.nm.Size = e.Key, e.Name, e.Flags, e.Size
	p.entry = e
	return nil
}

// writeErr is the first failed write's error.
func (im *Importer) writeErr() error {
	im.mu.Lock()
	defer im.mu.Unlock()
	return im.werr
}

// Lost counts the messages Add took whose file could not be written, and
// their canonical octets: an import that counted them as added takes
// them back. A failed write also ends the import (Add and Flush return
// its error).
func (im *Importer) Lost() (messages, bytes int64) { return im.lost, im.lostBytes }

// Flush waits for the batch's files, then indexes those written in one
// commit, in the order Add took them, and tells the mailbox's sessions.
// It returns a failed write's error after indexing the others.
func (im *Importer) Flush(ctx context.Context) error {
	im.writing.Wait()
	if len(im.batch) == 0 {
		return im.writeErr()
	}
	m := im.m
	defer func() {
		for _, p := range im.batch {
			if p.err == nil {
				m.unpend(p.nm.Key)
			}
			p.res.release()
		}
		clear(im.batch)
		im.batch, im.bytes = im.batch[:0], 0
	}()
	written := make([]*pendingImport, 0, len(im.batch))
	for _, p := range im.batch {
		if p.err != nil {
			im.lost++
			im.lostBytes += p.nm.CRLFSize
			continue
		}
		written = append(written, p)
	}
	if len(written) > 0 {
		if err := im.commit(written); err != nil {
			return err
		}
	}
	return im.writeErr()
}

// commit makes the names of batch's files durable, then indexes them in
// one transaction, in batch's order.
func (im *Importer) commit(batch []*pendingImport) error {
	m := im.m
	if im.ba != nil {
		entries := make([]folder.Entry, len(batch))
		for i, p := range batch {
			entries[i] = p.entry
		}
		if err := im.ba.SyncAppended(entries); err != nil {
			// Not indexed: the next run's BeginImport finds the files
			// that survived and marks them.
			return fmt.Errorf("store: import sync: %w", err)
		}
	}
	var uids, taken []uint32
	var modseq uint64
	var kws []string
	err := m.acct.idx.Commit(func(tx *index.Tx) error {
		uids, taken, kws = uids[:0], taken[:0], kws[:0]
		for _, p := range batch {
			var rec index.Message
			var err error
			if im.keep && p.uid != 0 {
				rec, err = tx.AddMessageUID(m.id, p.uid, p.nm)
				if errors.Is(err, index.ErrUIDTaken) {
					taken = append(taken, p.uid)
					rec, err = tx.AddMessage(m.id, p.nm)
				}
			} else {
				rec, err = tx.AddMessage(m.id, p.nm)
			}
			if err != nil {
				return err
			}
			if len(p.mark) > 0 {
				if err := tx.MarkImported(m.id, p.mark, rec.UID); err != nil {
					return err
				}
			}
			uids, modseq = append(uids, rec.UID), rec.ModSeq
			kws = append(kws, rec.Flags.Keywords...)
		}
		return tx.SetImportHighWater(m.id)
	})
	if err != nil {
		// The files stay: the next run's BeginImport indexes and marks them.
		return fmt.Errorf("store: import commit: %w", err)
	}
	if len(taken) > 0 {
		m.acct.log.Warn("import: source UIDs already used here; those messages got new UIDs", "mailbox_id", m.id, "uids", taken)
	}
	m.acct.hub.Publish(Event{Mailbox: m.id, Kind: Added, UIDs: uids, ModSeq: modseq, Keywords: folder.NormalizeKeywords(kws)})
	return nil
}
