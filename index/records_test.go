package index

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/internal/codec"
)

// encodeMessageV1 is a message record as written before SAVEDATE
// (record version 1), byte for byte.
func encodeMessageV1(m *Message) []byte {
	b := []byte{1, byte(m.Flags.Sys)}
	b = binary.AppendUvarint(b, m.ModSeq)
	b = binary.AppendVarint(b, m.InternalDate.Unix())
	_, off := m.InternalDate.Zone()
	b = binary.AppendVarint(b, int64(off))
	b = binary.AppendUvarint(b, uint64(m.Size))
	b = binary.AppendUvarint(b, uint64(m.CRLFSize))
	b = codec.AppendString(b, m.Key)
	b = codec.AppendString(b, m.Name)
	b = binary.AppendUvarint(b, uint64(len(m.Flags.Keywords)))
	for _, k := range m.Flags.Keywords {
		b = codec.AppendString(b, k)
	}
	if m.POP3UIDL != "" {
		b = codec.AppendString(b, m.POP3UIDL)
	}
	return b
}

// Version 1 records (no save date) still read, with and without their
// optional POP3 UIDL; version 2 keeps the save date and its zone; a v1
// record rewritten by a flag change keeps "no save date".
func TestMessageRecordVersions(t *testing.T) {
	idate := time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("", 3600))
	sdate := time.Date(2025, 6, 7, 8, 9, 10, 0, time.FixedZone("", -5*3600))
	base := Message{UID: 7, Key: "k", Name: "cur/k:2,S", Flags: folder.Flags{Sys: folder.Seen, Keywords: []string{"$a", "b"}},
		ModSeq: 42, InternalDate: idate, Size: 100, CRLFSize: 103}
	for _, tc := range []struct {
		name string
		in   Message
		rec  func(*Message) []byte
		want time.Time
	}{
		{"v1", base, encodeMessageV1, time.Time{}},
		{"v1 uidl", func() Message { m := base; m.POP3UIDL = "UIDL-1"; return m }(), encodeMessageV1, time.Time{}},
		{"v2", func() Message { m := base; m.SaveDate = sdate; return m }(), encodeMessage, sdate},
		{"v2 uidl", func() Message { m := base; m.SaveDate = sdate; m.POP3UIDL = "UIDL-2"; return m }(), encodeMessage, sdate},
		{"v2 none", func() Message { m := base; m.POP3UIDL = "UIDL-3"; return m }(), encodeMessage, time.Time{}},
	} {
		var got Message
		if err := decodeMessage(7, tc.rec(&tc.in), &got); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !got.SaveDate.Equal(tc.want) || got.SaveDate.IsZero() != tc.want.IsZero() {
			t.Errorf("%s: save date %v, want %v", tc.name, got.SaveDate, tc.want)
		}
		if !tc.want.IsZero() && got.SaveDate.Format(time.RFC3339) != tc.want.Format(time.RFC3339) {
			t.Errorf("%s: save date zone %s, want %s", tc.name, got.SaveDate.Format(time.RFC3339), tc.want.Format(time.RFC3339))
		}
		if got.POP3UIDL != tc.in.POP3UIDL || got.ModSeq != 42 || got.Key != "k" || got.Name != "cur/k:2,S" ||
			!got.Flags.Equal(tc.in.Flags) || got.Size != 100 || got.CRLFSize != 103 ||
			got.InternalDate.Format(time.RFC3339) != "2024-01-02T03:04:05+01:00" {
			t.Errorf("%s: decoded %+v", tc.name, got)
		}
	}
	var m Message
	if err := decodeMessage(1, []byte{3, 0, 1}, &m); err == nil {
		t.Error("version 3 record decoded")
	}
}

// An index written before SAVEDATE: its v1 records are read through
// every path (Message, ForEachMessage, ChangedSince), and UpdateMessage
// and SetSize rewrite them as v2 without inventing a save date; a new
// message keeps the save date it was given.
func TestMessageRecordUpgrade(t *testing.T) {
	db, _ := openTest(t)
	mb := create(t, db, "INBOX")
	add(t, db, mb.ID, "a", 10, 0)
	saved := time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC)
	err := db.Commit(func(tx *Tx) error {
		_, err := tx.AddMessage(mb.ID, NewMessage{Key: "b", Name: "new/b", Size: 5, CRLFSize: 6, InternalDate: saved, SaveDate: saved})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Turn message 1 back into the record an old binary wrote.
	err = db.Commit(func(tx *Tx) error {
		m, _, err := tx.Message(mb.ID, 1)
		if err != nil {
			return err
		}
		return tx.sub(mb.ID, 0).Put(uidKey(1), encodeMessageV1(&m))
	})
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string, wantV1 byte) {
		t.Helper()
		db.View(func(tx *Tx) error {
			if v, _ := tx.getUID(mb.ID, 0, 1); len(v) == 0 || v[0] != wantV1 {
				t.Errorf("%s: record 1 is version %v, want %d", when, v[:1], wantV1)
			}
			var saves []time.Time
			if err := tx.ForEachMessage(mb.ID, func(m *Message) error { saves = append(saves, m.SaveDate); return nil }); err != nil {
				t.Errorf("%s: ForEachMessage: %v", when, err)
			}
			if len(saves) != 2 || !saves[0].IsZero() || !saves[1].Equal(saved) {
				t.Errorf("%s: save dates %v", when, saves)
			}
			var n int
			if err := tx.ChangedSince(mb.ID, 0, func(uint32, uint64) error { n++; return nil }); err != nil || n != 2 {
				t.Errorf("%s: ChangedSince: %d, %v", when, n, err)
			}
			return nil
		})
	}
	check("v1 on disk", 1)
	err = db.Commit(func(tx *Tx) error {
		_, err := tx.UpdateMessage(mb.ID, 1, folder.Flags{Sys: folder.Seen}, "cur/a:2,S")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	check("after a flag change", 2)
	if err := db.Commit(func(tx *Tx) error { return tx.SetSize(mb.ID, 2, 7, 8) }); err != nil {
		t.Fatal(err)
	}
	check("after SetSize", 2)
}
