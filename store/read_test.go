package store

import (
	"context"
	"errors"
	"testing"

	"github.com/storaged/storaged/folder"
)

func TestReadAPI(t *testing.T) {
	ctx := context.Background()
	_, a := openAccount(t, t.TempDir())
	mb, err := a.Mailbox("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		f := folder.Flags{}
		if i == 2 {
			f.Sys = folder.Seen
		}
		if _, err := mb.Append(ctx, msg(i), AppendOptions{Flags: f}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := mb.Expunge(ctx, []uint32{2}, nil); err != nil {
		t.Fatal(err)
	}

	metas, err := mb.ReadBatch([]uint32{1, 2, 3}, FieldEnvelope|FieldBodyStructure)
	if err != nil {
		t.Fatal(err)
	}
	if len(metas) != 3 || !metas[0].Found || metas[1].Found || metas[1].UID != 2 || !metas[2].Found {
		t.Fatalf("ReadBatch found = %+v", metas)
	}
	if metas[0].Envelope == nil || metas[0].Envelope.Subject != "m0" || metas[2].Envelope.Subject != "m2" {
		t.Fatalf("envelopes: %+v %+v", metas[0].Envelope, metas[2].Envelope)
	}
	if metas[0].Body == nil || metas[0].Body.Type != "text" || metas[1].Envelope != nil {
		t.Fatalf("bodies: %+v, expunged envelope %+v", metas[0].Body, metas[1].Envelope)
	}
	plain, err := mb.ReadBatch([]uint32{1}, 0)
	if err != nil || plain[0].Envelope != nil || plain[0].Body != nil || plain[0].CRLFSize == 0 {
		t.Fatalf("ReadBatch without fields = %+v, %v", plain, err)
	}

	if m, ok, err := mb.Message(3); err != nil || !ok || !m.Flags.Sys.Has(folder.Seen) {
		t.Fatalf("Message(3) = %+v %v %v", m, ok, err)
	}
	if _, ok, err := mb.Message(2); err != nil || ok {
		t.Fatalf("Message(2) after expunge: ok=%v err=%v", ok, err)
	}

	var walked []uint32
	if err := mb.ForEach(func(m *Message) error {
		walked = append(walked, m.UID)
		if m.UID == 3 {
			return ErrStop
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(walked) != 2 || walked[0] != 1 || walked[1] != 3 {
		t.Fatalf("ForEach walked %v, want [1 3] (stopped at 3)", walked)
	}
	boom := errors.New("boom")
	if err := mb.ForEach(func(*Message) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("ForEach error = %v, want boom", err)
	}

	info, snap, err := mb.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if info.Messages != 3 || info.UIDNext != 5 || len(snap) != 3 || snap[2].UID != 4 {
		t.Fatalf("Snapshot = %+v, %d messages", info, len(snap))
	}

	var tombs []uint32
	if err := mb.Tombstones(func(uid uint32, modseq uint64) error {
		if modseq == 0 || modseq > info.HighestModSeq {
			t.Errorf("tombstone %d modseq %d, highest %d", uid, modseq, info.HighestModSeq)
		}
		tombs = append(tombs, uid)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(tombs) != 1 || tombs[0] != 2 {
		t.Fatalf("tombstones %v, want [2]", tombs)
	}
}
