package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
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
)

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

// Importer adds messages to one mailbox in batches.
type Importer struct {
	m    *Mailbox
	opt  ImportOptions
	keep bool

	batch []pendingImport
	bytes int
}

type pendingImport struct {
	nm   index.NewMessage
	uid  uint32
	mark []byte
	res  *reservation
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

// Add writes one message's file; the index learns of it at the next
// Flush (every importBatch messages, and at the end). An error that Is
// quota.ErrOverQuota refuses this message only.
func (im *Importer) Add(ctx context.Context, msg ImportMessage) error {
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
	var keys []string
	nmsg := folder.NewMessage{
		Data: canon, Flags: msg.Flags, Date: date,
		Reserve: func(k string) { keys = append(keys, k); m.pend(k) },
	}
	var e folder.Entry
	if ba, ok := m.folder().(folder.BatchAppender); ok {
		// The directory fsync waits for Flush: one per batch, not one
		// per message, which halves an import's fsyncs.
		e, err = ba.AppendUnsynced(ctx, nmsg)
	} else {
		e, err = m.folder().Append(ctx, nmsg)
	}
	// The key that stuck stays pending until the commit; the others
	// (MH numbers tried and lost) go now.
	for _, k := range keys {
		if err != nil || k != e.Key {
			m.unpend(k)
		}
	}
	if err != nil {
		res.release()
		return err
	}
	im.batch = append(im.batch, pendingImport{
		nm: index.NewMessage{
			Key: e.Key, Name: e.Name, Flags: e.Flags, InternalDate: date,
			Size: e.Size, CRLFSize: int64(len(canon)), Envelope: env, Body: body, POP3UIDL: msg.POP3UIDL,
			SaveDate: time.Now(), // RFC 8514 §3: saved into this mailbox now
		},
		uid: msg.UID, mark: msg.Mark, res: res,
	})
	im.bytes += len(env) + len(body) + len(e.Key) + len(e.Name)
	if len(im.batch) >= importBatch || im.bytes >= importBatchBytes {
		return im.Flush(ctx)
	}
	return nil
}

// Flush indexes the batch in one commit and tells the mailbox's sessions.
func (im *Importer) Flush(ctx context.Context) error {
	if len(im.batch) == 0 {
		return nil
	}
	m := im.m
	defer func() {
		for _, p := range im.batch {
			m.unpend(p.nm.Key)
			p.res.release()
		}
		im.batch, im.bytes = im.batch[:0], 0
	}()
	if ba, ok := m.folder().(folder.BatchAppender); ok {
		entries := make([]folder.Entry, len(im.batch))
		for i, p := range im.batch {
			entries[i] = folder.Entry{Key: p.nm.Key, Name: p.nm.Name}
		}
		if err := ba.SyncAppended(entries); err != nil {
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
		for _, p := range im.batch {
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
