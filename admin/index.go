package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/index"
)

// indexRebuild: index rebuild USER [MAILBOX]: the user's index rebuilt
// from the files, keeping UIDs, flags and keywords where the old index
// (or a dovecot-uidlist) still gives them (store/rebuild.go). Through
// the socket it runs in the server, and sessions see the result at once.
func indexRebuild(ctx context.Context, env *Env, o *out, args []string) int {
	if len(args) < 1 || len(args) > 2 {
		o.errf("index rebuild takes USER [MAILBOX]")
		return ExUsage
	}
	u, ok := env.user(o, args[0])
	if !ok {
		return ExNoUser
	}
	if !env.storeExists(u.Name) {
		o.errf("%s: no mail store yet (nothing was delivered)", u.Name)
		return ExNoUser
	}
	only := ""
	if len(args) == 2 {
		only = args[1]
	}
	r, err := env.Accounts.RebuildIndex(ctx, u.Name, only)
	if err != nil {
		o.errf("%s: index rebuild: %v", u.Name, err)
		switch {
		case errors.Is(err, folder.ErrNotFound), errors.Is(err, folder.ErrBadName):
			return ExDataErr
		case errors.Is(err, index.ErrLocked):
			return ExTempFail
		}
		return ExSoftware
	}
	if o.json {
		enc := json.NewEncoder(o.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(r)
		return 0
	}
	switch {
	case r.MovedTo != "":
		fmt.Fprintf(o.stdout, "%s: the index was damaged (kept as %s); rebuilt from the files with what could be read of it\n", r.User, r.MovedTo)
	case r.Damaged:
		fmt.Fprintf(o.stdout, "%s: some index records were unreadable; rebuilt from the files\n", r.User)
	default:
		fmt.Fprintf(o.stdout, "%s: index rebuilt from the files\n", r.User)
	}
	tw := tabwriter.NewWriter(o.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MAILBOX\tMESSAGES\tKEPT UIDS\tNEW UIDS\tGONE\tUIDVALIDITY\t")
	var notes []string
	for _, mb := range r.Mailboxes {
		uv := strconv.FormatUint(uint64(mb.UIDValidity), 10) + " kept"
		if !mb.UIDValidityKept {
			uv = strconv.FormatUint(uint64(mb.UIDValidity), 10) + " changed"
			if mb.OldUIDValidity != 0 {
				uv += " (was " + strconv.FormatUint(uint64(mb.OldUIDValidity), 10) + ")"
			}
			if mb.Why != "" {
				notes = append(notes, fmt.Sprintf("%s: new UIDVALIDITY: %s; clients load it afresh", mb.Mailbox, mb.Why))
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t\n", mb.Mailbox, mb.Messages, mb.KeptUIDs, mb.NewUIDs, mb.Gone, uv)
	}
	tw.Flush()
	for _, n := range notes {
		fmt.Fprintln(o.stdout, n)
	}
	return 0
}
