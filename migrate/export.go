package migrate

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/mbox"
	"github.com/storaged/storaged/store"
)

// Export writes a user's mail to dest in a format another server reads
// as it is: "maildir", Dovecot's Maildir++ layout with its own files
// (dovecot-uidlist with each folder's UIDVALIDITY, UIDNEXT and every
// message's UID, dovecot-keywords, subscriptions), so that a move back
// to Dovecot keeps UIDs, flags and POP3 UIDLs; or "mbox", one mboxrd
// file a folder with the flags in Status/X-Status/X-Keywords, as mutt
// and Dovecot read them. dest must not exist or be an empty directory:
// an export never writes into mail that is already there.
//
// Messages are read one at a time (bounded memory) and written with LF
// line ends, as other servers store them; a Maildir file's mtime is the
// message's INTERNALDATE, which is what Dovecot reads it from.
func Export(ctx context.Context, acct *store.Account, dest, format string, opt Options) (Report, error) {
	start := time.Now()
	var rep Report
	if format != "maildir" && format != "mbox" {
		return rep, fmt.Errorf("migrate: export format %q: want maildir or mbox", format)
	}
	if err := emptyDest(dest); err != nil {
		return rep, err
	}
	mbs, err := acct.Mailboxes()
	if err != nil {
		return rep, err
	}
	sort.Slice(mbs, func(i, j int) bool { return mbs[i].Name < mbs[j].Name })
	names := map[string]bool{}
	for _, mb := range mbs {
		names[mb.Name] = true
	}
	for _, info := range mbs {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		fr := FolderReport{Source: info.Name, Target: info.Name, Skipped: map[string]int64{}, KeptUIDs: format == "maildir"}
		var err error
		switch format {
		case "maildir":
			err = exportMaildirFolder(ctx, acct, dest, info, &fr, &rep.Totals, opt)
		case "mbox":
			err = exportMboxFolder(ctx, acct, dest, info, names, &fr, &rep.Totals, opt)
		}
		rep.Folders = append(rep.Folders, fr)
		rep.Totals.Folders++
		for _, n := range fr.Skipped {
			rep.Totals.Skipped += n
		}
		if err != nil {
			rep.Totals.Elapsed = time.Since(start)
			return rep, err
		}
	}
	if format == "maildir" {
		subs, err := acct.Subscriptions()
		if err != nil {
			return rep, err
		}
		if err := writeSubscriptions(dest, subs); err != nil {
			return rep, err
		}
	}
	rep.Totals.Elapsed = time.Since(start)
	return rep, nil
}

func emptyDest(dest string) error {
	ents, err := os.ReadDir(dest)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return os.MkdirAll(dest, 0o700)
	case err != nil:
		return fmt.Errorf("migrate: export: %w", err)
	case len(ents) > 0:
		return fmt.Errorf("migrate: export: %s is not empty; an export never writes into existing mail", dest)
	}
	return nil
}

// eachStored calls fn with every message of a mailbox and its content
// (canonical CRLF form), in UID order, one message in memory at a time.
func eachStored(ctx context.Context, mb *store.Mailbox, fn func(m *store.Message, data []byte) error) error {
	var msgs []store.Message
	if err := mb.ForEach(func(m *store.Message) error { msgs = append(msgs, *m); return nil }); err != nil {
		return err
	}
	for i := range msgs {
		if err := ctx.Err(); err != nil {
			return err
		}
		rc, err := mb.Open(msgs[i])
		if err != nil {
			if errors.Is(err, folder.ErrNotFound) {
				continue // expunged meanwhile
			}
			return err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		if err := fn(&msgs[i], data); err != nil {
			return err
		}
	}
	return nil
}

// toLF turns the canonical CRLF form into the LF files other servers keep.
func toLF(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")) }

// maildirDir is the Maildir++ directory of a mailbox: the root for INBOX,
// ".a.b" for "a/b", each level in modified UTF-7 as Dovecot names them.
func maildirDir(dest, name string) (string, error) {
	if strings.EqualFold(name, folder.Inbox) {
		return dest, nil
	}
	levels := strings.Split(name, "/")
	for i, l := range levels {
		if strings.Contains(l, ".") {
			return "", errors.New("the name holds a '.', which Maildir++ takes for a level separator")
		}
		levels[i] = folder.EncodeMUTF7(l)
	}
	return filepath.Join(dest, "."+strings.Join(levels, ".")), nil
}

func exportMaildirFolder(ctx context.Context, acct *store.Account, dest string, info store.MailboxInfo, fr *FolderReport, tot *Totals, opt Options) error {
	dir, err := maildirDir(dest, info.Name)
	if err != nil {
		fr.Skipped[err.Error()]++
		fr.KeptUIDs = false
		return nil
	}
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return fmt.Errorf("migrate: export: %w", err)
		}
	}
	if dir != dest {
		if err := os.WriteFile(filepath.Join(dir, "maildirfolder"), nil, 0o600); err != nil {
			return fmt.Errorf("migrate: export: %w", err)
		}
	}
	mb, err := acct.Mailbox(info.Name)
	if err != nil {
		return err
	}
	var keywords []string // Dovecot's letters: index 0 is 'a'
	letter := func(kw string) (byte, bool) {
		for i, k := range keywords {
			if k == kw {
				return byte('a' + i), true
			}
		}
		if len(keywords) == 26 {
			return 0, false
		}
		keywords = append(keywords, kw)
		return byte('a' + len(keywords) - 1), true
	}
	var uidlist bytes.Buffer
	err = eachStored(ctx, mb, func(m *store.Message, data []byte) error {
		file := toLF(data)
		base := fmt.Sprintf("%d.S%dU%d.storaged,S=%d,W=%d", m.InternalDate.Unix(), info.UIDValidity, m.UID, len(file), len(data))
		var flags []byte
		for _, p := range []struct {
			f folder.SysFlags
			c byte
		}{{folder.Draft, 'D'}, {folder.Flagged, 'F'}, {folder.Answered, 'R'}, {folder.Seen, 'S'}, {folder.Deleted, 'T'}} {
			if m.Flags.Sys.Has(p.f) {
				flags = append(flags, p.c)
			}
		}
		var kws []byte
		for _, kw := range m.Flags.Keywords {
			if c, ok := letter(kw); ok {
				kws = append(kws, c)
			} else {
				fr.Skipped["keywords past Dovecot's 26 a folder"]++
			}
		}
		sort.Slice(kws, func(i, j int) bool { return kws[i] < kws[j] })
		path := filepath.Join(dir, "cur", base+":2,"+string(flags)+string(kws))
		if err := writeNew(path, file, m.InternalDate); err != nil {
			return err
		}
		uidlist.WriteString(strconv.FormatUint(uint64(m.UID), 10))
		if m.POP3UIDL != "" {
			uidlist.WriteString(" P" + m.POP3UIDL)
		}
		fmt.Fprintf(&uidlist, " W%d :%s\n", len(data), base)
		fr.Messages++
		fr.Bytes += int64(len(data))
		tot.Messages++
		tot.Bytes += int64(len(data))
		if opt.Progress != nil {
			opt.Progress(*tot)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var guid [16]byte
	rand.Read(guid[:])
	head := fmt.Sprintf("3 V%d N%d G%s\n", info.UIDValidity, info.UIDNext, hex.EncodeToString(guid[:]))
	if err := writeNew(filepath.Join(dir, "dovecot-uidlist"), append([]byte(head), uidlist.Bytes()...), time.Time{}); err != nil {
		return err
	}
	if len(keywords) > 0 {
		var b strings.Builder
		for i, k := range keywords {
			fmt.Fprintf(&b, "%d %s\n", i, k)
		}
		if err := writeNew(filepath.Join(dir, "dovecot-keywords"), []byte(b.String()), time.Time{}); err != nil {
			return err
		}
	}
	return nil
}

// writeSubscriptions writes Dovecot's version 2 file: a header, then one
// name a line with its levels split by TAB.
func writeSubscriptions(dest string, subs []string) error {
	var b strings.Builder
	b.WriteString("V\t2\n\n")
	for _, s := range subs {
		b.WriteString(strings.ReplaceAll(s, "/", "\t") + "\n")
	}
	return writeNew(filepath.Join(dest, "subscriptions"), []byte(b.String()), time.Time{})
}

// writeNew creates path (never through an existing file or link), writes
// data, and sets its mtime when mtime is set.
func writeNew(path string, data []byte, mtime time.Time) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("migrate: export: %w", err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && !mtime.IsZero() {
		err = os.Chtimes(path, mtime, mtime)
	}
	if err != nil {
		return fmt.Errorf("migrate: export: %w", err)
	}
	return nil
}

// exportMboxFolder writes one mbox file: dest/INBOX, dest/a/b for "a/b".
// A mailbox that has children and messages cannot be both a file and a
// directory: its messages are skipped with that reason.
func exportMboxFolder(ctx context.Context, acct *store.Account, dest string, info store.MailboxInfo, names map[string]bool, fr *FolderReport, tot *Totals, opt Options) error {
	for n := range names {
		if strings.HasPrefix(n, info.Name+"/") {
			if info.Messages > 0 {
				fr.Skipped["a folder with subfolders cannot be an mbox file"] += int64(info.Messages)
			}
			return nil
		}
	}
	path := filepath.Join(dest, filepath.FromSlash(info.Name))
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("migrate: export: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("migrate: export: %w", err)
	}
	mb, err := acct.Mailbox(info.Name)
	if err != nil {
		f.Close()
		return err
	}
	var rec []byte
	err = eachStored(ctx, mb, func(m *store.Message, data []byte) error {
		rec = mbox.AppendRecord(rec[:0], "", m.InternalDate, toLF(data), m.Flags, true)
		if _, err := f.Write(rec); err != nil {
			return fmt.Errorf("migrate: export: %w", err)
		}
		fr.Messages++
		fr.Bytes += int64(len(data))
		tot.Messages++
		tot.Bytes += int64(len(data))
		if opt.Progress != nil {
			opt.Progress(*tot)
		}
		return nil
	})
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("migrate: export: %w", cerr)
	}
	return err
}
