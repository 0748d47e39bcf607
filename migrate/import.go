package migrate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/message"
	"github.com/storaged/storaged/quota"
	"github.com/storaged/storaged/store"
)

// specialByName maps common names of special folders (lower case, as
// clients and other servers spell them) to their RFC 6154 attribute.
var specialByName = map[string]string{
	"drafts": `\Drafts`, "draft": `\Drafts`, "entwürfe": `\Drafts`, "[gmail]/drafts": `\Drafts`, "inbox/drafts": `\Drafts`,
	"sent": `\Sent`, "sent items": `\Sent`, "sent messages": `\Sent`, "sent mail": `\Sent`, "[gmail]/sent mail": `\Sent`,
	"gesendet": `\Sent`, "gesendete objekte": `\Sent`, "inbox/sent": `\Sent`, "outbox": `\Sent`,
	"trash": `\Trash`, "deleted items": `\Trash`, "deleted messages": `\Trash`, "deleted": `\Trash`, "bin": `\Trash`,
	"[gmail]/trash": `\Trash`, "[gmail]/bin": `\Trash`, "papierkorb": `\Trash`, "inbox/trash": `\Trash`,
	"junk": `\Junk`, "spam": `\Junk`, "junk e-mail": `\Junk`, "junk email": `\Junk`, "bulk mail": `\Junk`,
	"[gmail]/spam": `\Junk`, "inbox/junk": `\Junk`, "inbox/spam": `\Junk`,
	"archive": `\Archive`, "archives": `\Archive`, "archiv": `\Archive`, "[gmail]/all mail": `\Archive`, "inbox/archive": `\Archive`,
}

// Options shape an import.
type Options struct {
	// DryRun reads the source and the target's marks and reports what
	// would happen, changing nothing.
	DryRun bool
	// Into puts every source folder under this mailbox ("" for the top).
	Into string
	// IgnoreQuota lets an admin import past the user's quota.
	IgnoreQuota bool
	Logger      *slog.Logger
	// Progress, if set, is called after every message with the totals.
	Progress func(Totals)
}

// Totals count what an import did (or, in a dry run, would do).
type Totals struct {
	Folders    int
	Messages   int64 // added (or to be added)
	Bytes      int64
	Duplicates int64 // already there from an earlier run
	Skipped    int64 // refused: over quota, unparsable
	Elapsed    time.Duration
	// Read is what the source yielded so far, duplicates and skipped
	// messages included, in its own bytes; Expect* are the sources'
	// estimates of the whole (0: unknown), in the same units.
	Read, ExpectMessages, ExpectBytes int64
}

// Processed counts the messages read so far, whatever became of them.
func (t Totals) Processed() int64 { return t.Messages + t.Duplicates + t.Skipped }

// FolderReport is one source folder's outcome.
type FolderReport struct {
	Source, Target string
	Created        bool
	KeptUIDs       bool
	Messages       int64
	Bytes          int64
	Duplicates     int64
	Skipped        map[string]int64 // by reason
}

// Report is the whole import's outcome.
type Report struct {
	Folders []FolderReport
	Totals  Totals
}

// Import copies src into acct.
func Import(ctx context.Context, acct *store.Account, src Source, opt Options) (Report, error) {
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	start := time.Now()
	var rep Report
	folders, err := src.Folders()
	if err != nil {
		return rep, err
	}
	existing, err := acct.Mailboxes()
	if err != nil {
		return rep, err
	}
	if opt.Progress != nil {
		// Before the first message: the estimate lists folders, as the
		// import will, and holds nothing of them afterwards.
		for _, f := range folders {
			if f.Estimate != nil {
				m, b := f.Estimate(ctx)
				rep.Totals.ExpectMessages += m
				rep.Totals.ExpectBytes += b
			}
		}
		opt.Progress(rep.Totals)
	}
	targets := make(map[string]string) // source name → target
	for _, f := range folders {
		target, use := targetName(f, existing, opt.Into)
		targets[f.Name] = target
		fr, err := importFolder(ctx, acct, f, target, use, &rep.Totals, opt, start)
		rep.Folders = append(rep.Folders, fr)
		if err != nil {
			rep.Totals.Elapsed = time.Since(start)
			return rep, fmt.Errorf("migrate: folder %s: %w", f.Name, err)
		}
		rep.Totals.Folders++
		log.Info("import: folder done", "source", f.Name, "target", target, "added", fr.Messages, "duplicates", fr.Duplicates, "kept_uids", fr.KeptUIDs)
	}
	if !opt.DryRun {
		subs, ok := src.Subscriptions()
		if !ok {
			// No list: what was imported is what the user wants to see.
			for _, fr := range rep.Folders {
				subs = append(subs, fr.Source)
			}
		}
		for _, s := range subs {
			t, known := targets[s]
			if !known {
				t = s
				if opt.Into != "" {
					t = opt.Into + folder.Separator + s
				}
			}
			if err := acct.Subscribe(t, true); err != nil {
				log.Warn("import: subscription not taken over", "name", t, "err", err)
			}
		}
	}
	rep.Totals.Elapsed = time.Since(start)
	return rep, nil
}

// targetName maps a source folder onto the account: special folders onto
// the account's own (by attribute, else its default name), the rest by
// name, under into.
func targetName(f Folder, existing []store.MailboxInfo, into string) (name, use string) {
	if folder.CanonicalName(f.Name) == folder.Inbox && into == "" {
		return folder.Inbox, ""
	}
	use = f.SpecialUse
	if use == "" {
		use = specialByName[strings.ToLower(f.Name)]
	}
	if use != "" {
		for _, mb := range existing {
			if mb.SpecialUse == use {
				return mb.Name, use
			}
		}
		for _, d := range store.DefaultMailboxes {
			if d.SpecialUse == use {
				return d.Name, use
			}
		}
	}
	name = f.Name
	if into != "" {
		name = into + folder.Separator + name
	}
	return name, ""
}

func importFolder(ctx context.Context, acct *store.Account, f Folder, target, use string, tot *Totals, opt Options, start time.Time) (FolderReport, error) {
	fr := FolderReport{Source: f.Name, Target: target, Skipped: map[string]int64{}}
	mb, err := acct.Mailbox(target)
	if errors.Is(err, folder.ErrNotFound) {
		fr.Created = true
		if opt.DryRun {
			mb = nil
		} else {
			if err := acct.CreateMailbox(target, use); err != nil {
				return fr, err
			}
			if mb, err = acct.Mailbox(target); err != nil {
				return fr, err
			}
		}
	} else if err != nil {
		return fr, err
	}
	var im *store.Importer
	if !opt.DryRun {
		if im, err = mb.BeginImport(ctx, store.ImportOptions{UIDs: f.UIDs, IgnoreQuota: opt.IgnoreQuota}); err != nil {
			return fr, err
		}
		fr.KeptUIDs = im.KeepsUIDs()
	} else if f.UIDs != nil {
		fr.KeptUIDs = mb == nil
		if mb != nil {
			info, err := mb.Info()
			if err != nil {
				return fr, err
			}
			fr.KeptUIDs = info.Messages == 0 || info.UIDValidity == f.UIDs.UIDValidity
		}
	}
	ordinals := make(map[[16]byte]uint32)
	err = f.Each(ctx, func(m *Message) error {
		tot.Read += int64(len(m.Data))
		if opt.Progress != nil {
			// After the message, whatever became of it: duplicates
			// move the bar too (a resumed run skips through them).
			defer func() {
				tot.Elapsed = time.Since(start)
				opt.Progress(*tot)
			}()
		}
		canon := message.Canonical(m.Data)
		d := store.ContentDigest(canon)
		ordinals[d]++
		mark := store.ImportMark(d, ordinals[d])
		if mb != nil {
			seen, err := mb.Imported(mark)
			if err != nil {
				return err
			}
			if seen {
				fr.Duplicates++
				tot.Duplicates++
				return nil
			}
		}
		uidl := m.POP3UIDL
		if uidl == "" && m.UID != 0 && !fr.KeptUIDs {
			// Dovecot's default pop3_uidl_format of the source's UID,
			// as its POP3 clients know the message.
			uidl = fmt.Sprintf("%08x%08x", m.UID, f.UIDs.UIDValidity)
		}
		if !opt.DryRun {
			err := im.Add(ctx, store.ImportMessage{Data: canon, Flags: m.Flags, Date: m.Date, UID: m.UID, POP3UIDL: uidl, Mark: mark})
			switch {
			case errors.Is(err, quota.ErrOverQuota):
				fr.Skipped["over quota"]++
				tot.Skipped++
				return nil
			case errors.Is(err, store.ErrUnparsable):
				fr.Skipped["unparsable"]++
				tot.Skipped++
				return nil
			case err != nil:
				return err
			}
		}
		fr.Messages++
		fr.Bytes += int64(len(canon))
		tot.Messages++
		tot.Bytes += int64(len(canon))
		return nil
	})
	if im != nil {
		// Whatever was written is indexed, also when the walk stopped
		// (an interrupt): the next run then has less to do.
		if ferr := im.Flush(context.WithoutCancel(ctx)); err == nil {
			err = ferr
		}
		// Files are written while the next messages are read: one
		// counted above whose write failed was not added after all.
		if n, b := im.Lost(); n > 0 {
			fr.Messages -= n
			fr.Bytes -= b
			tot.Messages -= n
			tot.Bytes -= b
			fr.Skipped["write failed"] += n
			tot.Skipped += n
		}
	}
	return fr, err
}
