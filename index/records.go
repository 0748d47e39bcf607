package index

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/internal/codec"
)

var errCorrupt = fmt.Errorf("index: %w", codec.ErrCorrupt)

// Mailbox is one mailbox's state.
type Mailbox struct {
	ID            uint64
	Name          string
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	// RecentUID: messages with UID ≥ RecentUID have not yet been seen by
	// any session, so the next session to select the mailbox gets them as
	// \Recent (RFC 3501 §2.3.2: recent in exactly one session).
	RecentUID  uint32
	SpecialUse string // "\Sent", "\Drafts", … or ""
	Messages   uint32
	Unseen     uint32
	Deleted    uint32 // messages with \Deleted
	Size       int64  // sum of canonical sizes (STATUS SIZE)
	// Token is the folder's on-disk state at the last complete sync.
	Token []byte
}

// Message is one message's state.
type Message struct {
	UID          uint32
	Key          string // the folder's stable key
	Name         string // the folder's locator, may go stale (folder.Open resolves Key)
	Flags        folder.Flags
	ModSeq       uint64
	InternalDate time.Time
	Size         int64 // octets on disk
	CRLFSize     int64 // canonical octets: RFC822.SIZE
	// POP3UIDL, when set, is the UIDL POP3 shows instead of the one
	// built from UID and UIDVALIDITY: one a migrated message had on the
	// server it came from, so POP3 clients do not fetch it again.
	POP3UIDL string
	// SaveDate is when the message was saved into this mailbox (RFC 8514
	// §3: its append, or the COPY/MOVE that put it here), fixed for as
	// long as it stays. Zero when unknown: records from before version 2
	// and messages adopted from another server's store.
	SaveDate time.Time
}

// Record versions. A mailbox record is version 1. A message record is
// version 2 when written; version 1 (no save date) is still read, so an
// index from before SAVEDATE opens as it was; its messages read with a
// zero SaveDate (unknown) and keep it when a flag change rewrites them
// as version 2. A binary older than version 2 reads such records as
// corrupt: downgrading needs the index rebuilt.
//
//	message v1: version flags modseq date-sec date-off size crlfsize key name
//	            nkw kw... [pop3uidl]
//	message v2: the same with save-sec save-off after the keywords (both 0:
//	            no save date), then [pop3uidl]
//
// Every version begins version, flags, MODSEQ (ChangedSince reads only
// that head).
const (
	recordVersion  = 1 // mailbox records
	messageVersion = 2
	messageV1      = 1
)

// knownMessageVersion reports whether v is a message record version this
// code reads.
func knownMessageVersion(v byte) bool { return v == messageV1 || v == messageVersion }

func putUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func encodeMessage(m *Message) []byte {
	b := make([]byte, 0, 64+len(m.Key)+len(m.Name))
	b = append(b, messageVersion, byte(m.Flags.Sys))
	b = putUvarint(b, m.ModSeq)
	b = binary.AppendVarint(b, m.InternalDate.Unix())
	_, off := m.InternalDate.Zone()
	b = binary.AppendVarint(b, int64(off))
	b = putUvarint(b, uint64(m.Size))
	b = putUvarint(b, uint64(m.CRLFSize))
	b = codec.AppendString(b, m.Key)
	b = codec.AppendString(b, m.Name)
	b = putUvarint(b, uint64(len(m.Flags.Keywords)))
	for _, k := range m.Flags.Keywords {
		b = codec.AppendString(b, k)
	}
	var saveSec, saveOff int64
	if !m.SaveDate.IsZero() {
		saveSec = m.SaveDate.Unix()
		_, off := m.SaveDate.Zone()
		saveOff = int64(off)
	}
	b = binary.AppendVarint(b, saveSec)
	b = binary.AppendVarint(b, saveOff)
	// Optional trailing fields: records without them (all older ones)
	// decode as before.
	if m.POP3UIDL != "" {
		b = codec.AppendString(b, m.POP3UIDL)
	}
	return b
}

func decodeMessage(uid uint32, b []byte, m *Message) error {
	r := codec.Reader{B: b}
	version := r.Byte()
	if !knownMessageVersion(version) {
		return fmt.Errorf("%w: message %d version", errCorrupt, uid)
	}
	m.UID = uid
	m.Flags.Sys = folder.SysFlags(r.Byte())
	m.ModSeq = r.Uvarint()
	sec := r.Varint()
	off := r.Varint()
	m.InternalDate = time.Unix(sec, 0).In(zone(int(off)))
	m.Size = int64(r.Uvarint())
	m.CRLFSize = int64(r.Uvarint())
	m.Key = r.String()
	m.Name = r.String()
	n := r.Uvarint()
	m.Flags.Keywords = nil
	if n > 0 && n <= uint64(len(r.B)) {
		m.Flags.Keywords = make([]string, 0, n)
		for i := uint64(0); i < n; i++ {
			m.Flags.Keywords = append(m.Flags.Keywords, r.String())
		}
	}
	m.SaveDate = time.Time{}
	if version >= 2 {
		sec, off := r.Varint(), r.Varint()
		if sec != 0 || off != 0 {
			m.SaveDate = time.Unix(sec, 0).In(zone(int(off)))
		}
	}
	m.POP3UIDL = ""
	if r.Err == nil && len(r.B) > 0 {
		m.POP3UIDL = r.String()
	}
	if r.Err != nil {
		return fmt.Errorf("%w: message %d", r.Err, uid)
	}
	return nil
}

// zone returns a fixed zone for an offset, sharing UTC for offset 0 so
// that times compare and print as clients expect.
func zone(off int) *time.Location {
	if off == 0 {
		return time.UTC
	}
	return time.FixedZone("", off)
}

func encodeMailbox(mb *Mailbox) []byte {
	b := make([]byte, 0, 64+len(mb.Token))
	b = append(b, recordVersion)
	b = codec.AppendString(b, mb.Name)
	b = putUvarint(b, uint64(mb.UIDValidity))
	b = putUvarint(b, uint64(mb.UIDNext))
	b = putUvarint(b, mb.HighestModSeq)
	b = putUvarint(b, uint64(mb.RecentUID))
	b = codec.AppendString(b, mb.SpecialUse)
	b = putUvarint(b, uint64(mb.Messages))
	b = putUvarint(b, uint64(mb.Unseen))
	b = putUvarint(b, uint64(mb.Deleted))
	b = putUvarint(b, uint64(mb.Size))
	b = codec.AppendString(b, string(mb.Token))
	return b
}

func decodeMailbox(id uint64, b []byte, mb *Mailbox) error {
	r := codec.Reader{B: b}
	if r.Byte() != recordVersion {
		return fmt.Errorf("%w: mailbox %d version", errCorrupt, id)
	}
	mb.ID = id
	mb.Name = r.String()
	mb.UIDValidity = uint32(r.Uvarint())
	mb.UIDNext = uint32(r.Uvarint())
	mb.HighestModSeq = r.Uvarint()
	mb.RecentUID = uint32(r.Uvarint())
	mb.SpecialUse = r.String()
	mb.Messages = uint32(r.Uvarint())
	mb.Unseen = uint32(r.Uvarint())
	mb.Deleted = uint32(r.Uvarint())
	mb.Size = int64(r.Uvarint())
	mb.Token = r.Bytes()
	if r.Err != nil {
		return fmt.Errorf("%w: mailbox %d", r.Err, id)
	}
	return nil
}

func uidKey(uid uint32) []byte {
	return binary.BigEndian.AppendUint32(nil, uid)
}

func idKey(id uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, id)
}
