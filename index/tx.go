package index

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storaged/storaged/folder"
)

// Tx is a transaction on one user's index.
type Tx struct {
	tx *bolt.Tx

	lastID     uint64
	lastBucket *bolt.Bucket
	subs       [5]*bolt.Bucket
	// curs are the sub-buckets' cursors, kept because Bucket.Get makes a
	// cursor (and its stack) per call: FETCH reads two or three records
	// for each of thousands of messages.
	curs [5]*bolt.Cursor
	key  [4]byte
}

func (t *Tx) metaUint(k []byte) uint64 {
	v := t.tx.Bucket(bMeta).Get(k)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func (t *Tx) setMetaUint(k []byte, v uint64) error {
	return t.tx.Bucket(bMeta).Put(k, binary.BigEndian.AppendUint64(nil, v))
}

// Totals returns the user's message count and canonical byte total.
func (t *Tx) Totals() (messages, bytes int64) {
	return int64(t.metaUint(kMessages)), int64(t.metaUint(kBytes))
}

func (t *Tx) addTotals(dm, db int64) error {
	m, b := t.Totals()
	if err := t.setMetaUint(kMessages, uint64(max(0, m+dm))); err != nil {
		return err
	}
	return t.setMetaUint(kBytes, uint64(max(0, b+db)))
}

// newUIDValidity hands out a UIDVALIDITY greater than any before, from the
// clock when the clock is ahead.
func (t *Tx) newUIDValidity() (uint32, error) {
	last := uint32(t.metaUint(kUIDValidity))
	v := uint32(time.Now().Unix())
	if v <= last {
		v = last + 1
	}
	if v == 0 {
		v = 1
	}
	return v, t.setMetaUint(kUIDValidity, uint64(v))
}

// mbxBucket opens a mailbox's bucket, once per transaction: FETCH reads
// thousands of messages of one mailbox in one transaction.
func (t *Tx) mbxBucket(id uint64) *bolt.Bucket {
	if t.lastBucket != nil && t.lastID == id {
		return t.lastBucket
	}
	b := t.tx.Bucket(bMbx).Bucket(idKey(id))
	if b != nil {
		t.lastID, t.lastBucket = id, b
		t.subs = [5]*bolt.Bucket{}
		t.curs = [5]*bolt.Cursor{}
	}
	return b
}

var subNames = [5][]byte{bMsgs, bKeys, bEnv, bBody, bTombs}

// sub opens a sub-bucket of a mailbox (0 msgs, 1 keys, 2 env, 3 body,
// 4 tombs), cached like mbxBucket: a read-only bbolt transaction opens a
// nested bucket afresh on every call.
func (t *Tx) sub(id uint64, which int) *bolt.Bucket {
	b := t.mbxBucket(id)
	if b == nil {
		return nil
	}
	if t.subs[which] == nil {
		t.subs[which] = b.Bucket(subNames[which])
	}
	return t.subs[which]
}

func (t *Tx) forget() {
	t.lastID, t.lastBucket, t.subs, t.curs = 0, nil, [5]*bolt.Bucket{}, [5]*bolt.Cursor{}
}

// getUID reads one UID-keyed record of a sub-bucket through its cached
// cursor. ok is false when the mailbox or sub-bucket does not exist.
func (t *Tx) getUID(id uint64, which int, uid uint32) (v []byte, ok bool) {
	b := t.sub(id, which)
	if b == nil {
		return nil, false
	}
	c := t.curs[which]
	if c == nil {
		c = b.Cursor()
		t.curs[which] = c
	}
	binary.BigEndian.PutUint32(t.key[:], uid)
	k, v := c.Seek(t.key[:])
	if !bytes.Equal(k, t.key[:]) || v == nil {
		return nil, true
	}
	return v, true
}

// LastUIDValidity is the largest UIDVALIDITY this DB has handed out.
func (t *Tx) LastUIDValidity() uint32 { return uint32(t.metaUint(kUIDValidity)) }

// RaiseUIDValidity makes every later UIDVALIDITY greater than v. A DB
// rebuilt after loss learns from it what the lost one had handed out.
func (t *Tx) RaiseUIDValidity(v uint32) error {
	if v <= t.LastUIDValidity() {
		return nil
	}
	return t.setMetaUint(kUIDValidity, uint64(v))
}

// Mailbox returns the named mailbox.
func (t *Tx) Mailbox(name string) (Mailbox, error) {
	var mb Mailbox
	v := t.tx.Bucket(bNames).Get([]byte(name))
	if len(v) != 8 {
		return mb, fmt.Errorf("index: %w: %q", folder.ErrNotFound, name)
	}
	return t.mailboxByID(binary.BigEndian.Uint64(v), name)
}

// MailboxByID returns a mailbox by its id; Name is left empty.
func (t *Tx) MailboxByID(id uint64) (Mailbox, error) { return t.mailboxByID(id, "") }

func (t *Tx) mailboxByID(id uint64, name string) (Mailbox, error) {
	var mb Mailbox
	b := t.mbxBucket(id)
	if b == nil {
		return mb, fmt.Errorf("index: %w: %q (id %d)", folder.ErrNotFound, name, id)
	}
	err := decodeMailbox(id, b.Get(kInfo), &mb)
	return mb, err
}

// Mailboxes lists every mailbox, sorted by name.
func (t *Tx) Mailboxes() ([]Mailbox, error) {
	var out []Mailbox
	err := t.tx.Bucket(bNames).ForEach(func(k, v []byte) error {
		if len(v) != 8 {
			return errCorrupt
		}
		mb, err := t.mailboxByID(binary.BigEndian.Uint64(v), string(k))
		if err != nil {
			return err
		}
		out = append(out, mb)
		return nil
	})
	return out, err
}

// PutMailbox stores a mailbox's fields (those callers own: SpecialUse,
// Token, RecentUID); counters and UIDs are kept by the message methods.
func (t *Tx) PutMailbox(mb Mailbox) error {
	cur, err := t.mailboxByID(mb.ID, mb.Name)
	if err != nil {
		return err
	}
	cur.SpecialUse, cur.Token, cur.RecentUID = mb.SpecialUse, mb.Token, mb.RecentUID
	return t.mbxBucket(mb.ID).Put(kInfo, encodeMailbox(&cur))
}

func (t *Tx) putInfo(mb *Mailbox) error {
	return t.mbxBucket(mb.ID).Put(kInfo, encodeMailbox(mb))
}

// CreateMailbox adds a mailbox with a fresh UIDVALIDITY.
func (t *Tx) CreateMailbox(name, specialUse string) (Mailbox, error) {
	names := t.tx.Bucket(bNames)
	if names.Get([]byte(name)) != nil {
		return Mailbox{}, fmt.Errorf("index: %w: %q", folder.ErrExists, name)
	}
	id := t.metaUint(kNextID) + 1
	if err := t.setMetaUint(kNextID, id); err != nil {
		return Mailbox{}, err
	}
	uv, err := t.newUIDValidity()
	if err != nil {
		return Mailbox{}, err
	}
	b, err := t.tx.Bucket(bMbx).CreateBucket(idKey(id))
	if err != nil {
		return Mailbox{}, err
	}
	for _, n := range [][]byte{bMsgs, bKeys, bEnv, bBody, bTombs, bModSeqs} {
		if _, err := b.CreateBucket(n); err != nil {
			return Mailbox{}, err
		}
	}
	mb := Mailbox{ID: id, Name: name, UIDValidity: uv, UIDNext: 1, HighestModSeq: 1, RecentUID: 1, SpecialUse: specialUse}
	if err := t.putInfo(&mb); err != nil {
		return Mailbox{}, err
	}
	return mb, names.Put([]byte(name), idKey(id))
}

// DeleteMailbox drops a mailbox and its messages from the index.
func (t *Tx) DeleteMailbox(name string) error {
	mb, err := t.Mailbox(name)
	if err != nil {
		return err
	}
	if err := t.addTotals(-int64(mb.Messages), -mb.Size); err != nil {
		return err
	}
	t.forget()
	if err := t.tx.Bucket(bMbx).DeleteBucket(idKey(mb.ID)); err != nil {
		return err
	}
	return t.tx.Bucket(bNames).Delete([]byte(name))
}

// RenameMailbox gives a mailbox a new name; its UIDVALIDITY, UIDs and
// messages stay (RFC 9051 §6.3.6 lets a server keep them).
func (t *Tx) RenameMailbox(oldName, newName string) error {
	names := t.tx.Bucket(bNames)
	id := names.Get([]byte(oldName))
	if id == nil {
		return fmt.Errorf("index: %w: %q", folder.ErrNotFound, oldName)
	}
	if names.Get([]byte(newName)) != nil {
		return fmt.Errorf("index: %w: %q", folder.ErrExists, newName)
	}
	id = bytes.Clone(id)
	mb, err := t.mailboxByID(binary.BigEndian.Uint64(id), oldName)
	if err != nil {
		return err
	}
	mb.Name = newName
	if err := t.putInfo(&mb); err != nil {
		return err
	}
	if err := names.Delete([]byte(oldName)); err != nil {
		return err
	}
	return names.Put([]byte(newName), id)
}

// Subscribe adds name to the subscriptions, which need not exist.
func (t *Tx) Subscribe(name string) error {
	return t.tx.Bucket(bSubs).Put([]byte(name), nil)
}

// Unsubscribe removes name from the subscriptions.
func (t *Tx) Unsubscribe(name string) error {
	return t.tx.Bucket(bSubs).Delete([]byte(name))
}

// Subscriptions lists subscribed names, sorted.
func (t *Tx) Subscriptions() []string {
	var out []string
	t.tx.Bucket(bSubs).ForEach(func(k, _ []byte) error {
		out = append(out, string(k))
		return nil
	})
	return out
}

// NewMessage is what AddMessage records.
type NewMessage struct {
	Key, Name    string
	Flags        folder.Flags
	InternalDate time.Time
	Size         int64
	CRLFSize     int64
	Envelope     []byte // cached ENVELOPE, message package encoding
	Body         []byte // cached BODYSTRUCTURE
	POP3UIDL     string // see Message.POP3UIDL
	// SaveDate is Message.SaveDate: the caller's clock at the save
	// (RFC 8514 §3), or zero when it is not known. The index never
	// invents one.
	SaveDate time.Time
}

// AddMessage gives a message the next UID and a new MODSEQ. Adding a key
// the mailbox already holds returns that message's UID, so a Commit that
// runs fn twice adds it once.
func (t *Tx) AddMessage(mailboxID uint64, nm NewMessage) (Message, error) {
	return t.addMessage(mailboxID, 0, nm)
}

// addMessage adds nm under uid, or under the next UID when uid is 0.
// A given uid must be free: no message and no tombstone (adopt.go).
func (t *Tx) addMessage(mailboxID uint64, uid uint32, nm NewMessage) (Message, error) {
	b := t.mbxBucket(mailboxID)
	if b == nil {
		return Message{}, fmt.Errorf("index: %w: id %d", folder.ErrNotFound, mailboxID)
	}
	keys := b.Bucket(bKeys)
	if v := keys.Get([]byte(nm.Key)); len(v) == 4 {
		var m Message
		uid := binary.BigEndian.Uint32(v)
		return m, decodeMessage(uid, b.Bucket(bMsgs).Get(v), &m)
	}
	var mb Mailbox
	if err := decodeMailbox(mailboxID, b.Get(kInfo), &mb); err != nil {
		return Message{}, err
	}
	if uid == 0 {
		if mb.UIDNext == 0 || mb.UIDNext == ^uint32(0) {
			return Message{}, fmt.Errorf("index: mailbox %d: UIDs exhausted", mailboxID)
		}
		uid = mb.UIDNext
	} else if uid == ^uint32(0) || b.Bucket(bMsgs).Get(uidKey(uid)) != nil || b.Bucket(bTombs).Get(uidKey(uid)) != nil {
		return Message{}, fmt.Errorf("%w: %d in mailbox %d", ErrUIDTaken, uid, mailboxID)
	}
	mb.HighestModSeq++
	m := Message{
		UID: uid, Key: nm.Key, Name: nm.Name,
		Flags:  folder.Flags{Sys: nm.Flags.Sys, Keywords: folder.NormalizeKeywords(nm.Flags.Keywords)},
		ModSeq: mb.HighestModSeq, InternalDate: nm.InternalDate, Size: nm.Size, CRLFSize: nm.CRLFSize,
		POP3UIDL: nm.POP3UIDL, SaveDate: nm.SaveDate,
	}
	if uid >= mb.UIDNext {
		mb.UIDNext = uid + 1
	}
	mb.Messages++
	mb.Size += m.CRLFSize
	countFlags(&mb, m.Flags.Sys, 1)
	uk := uidKey(m.UID)
	if err := b.Bucket(bMsgs).Put(uk, encodeMessage(&m)); err != nil {
		return Message{}, err
	}
	if err := putModSeq(b, 0, m.ModSeq, m.UID); err != nil {
		return Message{}, err
	}
	if err := keys.Put([]byte(nm.Key), uk); err != nil {
		return Message{}, err
	}
	if len(nm.Envelope) > 0 {
		if err := b.Bucket(bEnv).Put(uk, nm.Envelope); err != nil {
			return Message{}, err
		}
	}
	if len(nm.Body) > 0 {
		if err := b.Bucket(bBody).Put(uk, nm.Body); err != nil {
			return Message{}, err
		}
	}
	if err := t.putInfo(&mb); err != nil {
		return Message{}, err
	}
	return m, t.addTotals(1, m.CRLFSize)
}

func countFlags(mb *Mailbox, f folder.SysFlags, d int) {
	if !f.Has(folder.Seen) {
		mb.Unseen = uint32(int(mb.Unseen) + d)
	}
	if f.Has(folder.Deleted) {
		mb.Deleted = uint32(int(mb.Deleted) + d)
	}
}

// Message returns one message.
func (t *Tx) Message(mailboxID uint64, uid uint32) (Message, bool, error) {
	var m Message
	v, ok := t.getUID(mailboxID, 0, uid)
	if !ok {
		return m, false, fmt.Errorf("index: %w: id %d", folder.ErrNotFound, mailboxID)
	}
	if v == nil {
		return m, false, nil
	}
	return m, true, decodeMessage(uid, v, &m)
}

// UIDOfKey returns the UID of the message with a folder key.
func (t *Tx) UIDOfKey(mailboxID uint64, key string) (uint32, bool) {
	b := t.mbxBucket(mailboxID)
	if b == nil {
		return 0, false
	}
	v := b.Bucket(bKeys).Get([]byte(key))
	if len(v) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(v), true
}

// ForEachMessage calls fn for every message in UID order. m is reused
// between calls.
func (t *Tx) ForEachMessage(mailboxID uint64, fn func(m *Message) error) error {
	b := t.mbxBucket(mailboxID)
	if b == nil {
		return fmt.Errorf("index: %w: id %d", folder.ErrNotFound, mailboxID)
	}
	var m Message
	c := b.Bucket(bMsgs).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if err := decodeMessage(binary.BigEndian.Uint32(k), v, &m); err != nil {
			return err
		}
		if err := fn(&m); err != nil {
			return err
		}
	}
	return nil
}

// ForEachUID calls fn for every UID in order, decoding nothing else.
func (t *Tx) ForEachUID(mailboxID uint64, fn func(uid uint32) error) error {
	b := t.mbxBucket(mailboxID)
	if b == nil {
		return fmt.Errorf("index: %w: id %d", folder.ErrNotFound, mailboxID)
	}
	c := b.Bucket(bMsgs).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if err := fn(binary.BigEndian.Uint32(k)); err != nil {
			return err
		}
	}
	return nil
}

// Envelope returns the cached ENVELOPE; the slice is valid only inside
// the transaction.
func (t *Tx) Envelope(mailboxID uint64, uid uint32) []byte {
	v, _ := t.getUID(mailboxID, 2, uid)
	return v
}

// BodyStructure returns the cached BODYSTRUCTURE; valid inside the
// transaction only.
func (t *Tx) BodyStructure(mailboxID uint64, uid uint32) []byte {
	v, _ := t.getUID(mailboxID, 3, uid)
	return v
}

// UpdateMessage stores new flags and locator for a message. When the
// flags change it takes a new MODSEQ; a locator-only change does not
// (clients see nothing new). It returns the message as stored.
func (t *Tx) UpdateMessage(mailboxID uint64, uid uint32, flags folder.Flags, name string) (Message, error) {
	b := t.mbxBucket(mailboxID)
	if b == nil {
		return Message{}, fmt.Errorf("index: %w: id %d", folder.ErrNotFound, mailboxID)
	}
	var m Message
	uk := uidKey(uid)
	v := b.Bucket(bMsgs).Get(uk)
	if v == nil {
		return Message{}, fmt.Errorf("index: no message %d", uid)
	}
	if err := decodeMessage(uid, v, &m); err != nil {
		return Message{}, err
	}
	flags.Keywords = folder.NormalizeKeywords(flags.Keywords)
	changed := !m.Flags.Equal(flags)
	if !changed && name == m.Name {
		return m, nil
	}
	var mb Mailbox
	if err := decodeMailbox(mailboxID, b.Get(kInfo), &mb); err != nil {
		return Message{}, err
	}
	if changed {
		countFlags(&mb, m.Flags.Sys, -1)
		countFlags(&mb, flags.Sys, 1)
		mb.HighestModSeq++
		if err := putModSeq(b, m.ModSeq, mb.HighestModSeq, uid); err != nil {
			return Message{}, err
		}
		m.ModSeq = mb.HighestModSeq
		m.Flags = flags
		if err := t.putInfo(&mb); err != nil {
			return Message{}, err
		}
	}
	m.Name = name
	return m, b.Bucket(bMsgs).Put(uk, encodeMessage(&m))
}

// Expunge removes messages, leaving a tombstone with the MODSEQ of their
// removal. UIDs not present are skipped. It returns the UIDs removed.
func (t *Tx) Expunge(mailboxID uint64, uids []uint32) ([]uint32, error) {
	b := t.mbxBucket(mailboxID)
	if b == nil {
		return nil, fmt.Errorf("index: %w: id %d", folder.ErrNotFound, mailboxID)
	}
	var mb Mailbox
	if err := decodeMailbox(mailboxID, b.Get(kInfo), &mb); err != nil {
		return nil, err
	}
	sort.Slice(uids, func(i, j int) bool { return uids[i] < uids[j] })
	msgs := b.Bucket(bMsgs)
	var done []uint32
	var bytes int64
	modseq := mb.HighestModSeq + 1
	for _, uid := range uids {
		uk := uidKey(uid)
		v := msgs.Get(uk)
		if v == nil {
			continue
		}
		var m Message
		if err := decodeMessage(uid, v, &m); err != nil {
			return nil, err
		}
		for _, del := range []func() error{
			func() error { return msgs.Delete(uk) },
			func() error { return dropModSeq(b, m.ModSeq, uid) },
			func() error { return b.Bucket(bKeys).Delete([]byte(m.Key)) },
			func() error { return b.Bucket(bEnv).Delete(uk) },
			func() error { return b.Bucket(bBody).Delete(uk) },
			func() error { return b.Bucket(bTombs).Put(uk, binary.AppendUvarint(nil, modseq)) },
		} {
			if err := del(); err != nil {
				return nil, err
			}
		}
		countFlags(&mb, m.Flags.Sys, -1)
		mb.Messages--
		mb.Size -= m.CRLFSize
		bytes += m.CRLFSize
		done = append(done, uid)
	}
	if len(done) == 0 {
		return nil, nil
	}
	mb.HighestModSeq = modseq
	if err := t.putInfo(&mb); err != nil {
		return nil, err
	}
	return done, t.addTotals(-int64(len(done)), -bytes)
}

// Tombstones calls fn for every expunged UID with the MODSEQ of its
// expunge, in UID order.
func (t *Tx) Tombstones(mailboxID uint64, fn func(uid uint32, modseq uint64) error) error {
	b := t.mbxBucket(mailboxID)
	if b == nil {
		return fmt.Errorf("index: %w: id %d", folder.ErrNotFound, mailboxID)
	}
	return b.Bucket(bTombs).ForEach(func(k, v []byte) error {
		ms, _ := binary.Uvarint(v)
		return fn(binary.BigEndian.Uint32(k), ms)
	})
}

// SetSize corrects a message's sizes on disk and canonical (what a
// recount found in its file), keeping its mailbox's and the user's
// totals in step.
func (t *Tx) SetSize(mailboxID uint64, uid uint32, size, crlfSize int64) error {
	b := t.mbxBucket(mailboxID)
	if b == nil {
		return fmt.Errorf("index: %w: id %d", folder.ErrNotFound, mailboxID)
	}
	uk := uidKey(uid)
	var m Message
	v := b.Bucket(bMsgs).Get(uk)
	if v == nil {
		return nil
	}
	if err := decodeMessage(uid, v, &m); err != nil {
		return err
	}
	d := crlfSize - m.CRLFSize
	if d == 0 && size == m.Size {
		return nil
	}
	var mb Mailbox
	if err := decodeMailbox(mailboxID, b.Get(kInfo), &mb); err != nil {
		return err
	}
	mb.Size += d
	m.CRLFSize, m.Size = crlfSize, size
	if err := t.putInfo(&mb); err != nil {
		return err
	}
	if err := b.Bucket(bMsgs).Put(uk, encodeMessage(&m)); err != nil {
		return err
	}
	return t.addTotals(0, d)
}

// Recount recomputes every mailbox's counters (messages, unseen,
// deleted, size) from its message records and the user's totals from
// the mailboxes, and returns the totals as they were and as they are.
// Nothing else is changed: no MODSEQ moves, clients see nothing.
func (t *Tx) Recount() (beforeMsgs, beforeBytes, afterMsgs, afterBytes int64, err error) {
	beforeMsgs, beforeBytes = t.Totals()
	mbs, err := t.Mailboxes()
	if err != nil {
		return 0, 0, 0, 0, err
	}
	for _, mb := range mbs {
		mb.Messages, mb.Unseen, mb.Deleted, mb.Size = 0, 0, 0, 0
		err := t.ForEachMessage(mb.ID, func(m *Message) error {
			mb.Messages++
			mb.Size += m.CRLFSize
			countFlags(&mb, m.Flags.Sys, 1)
			return nil
		})
		if err != nil {
			return 0, 0, 0, 0, err
		}
		t.forget()
		if err := t.putInfo(&mb); err != nil {
			return 0, 0, 0, 0, err
		}
		afterMsgs += int64(mb.Messages)
		afterBytes += mb.Size
	}
	if err := t.setMetaUint(kMessages, uint64(afterMsgs)); err != nil {
		return 0, 0, 0, 0, err
	}
	return beforeMsgs, beforeBytes, afterMsgs, afterBytes, t.setMetaUint(kBytes, uint64(afterBytes))
}
