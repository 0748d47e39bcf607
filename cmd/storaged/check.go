package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"

	"github.com/storaged/storaged/config"
	"github.com/storaged/storaged/index"
	"github.com/storaged/storaged/store"
)

// checkCmd: storaged check [-repair] USER|-A. Opening an account
// validates its index (a damaged one is moved aside and rebuilt from the
// files, repair or not: there is nothing else to compare). Then every
// mailbox's files are compared with the index and each difference is
// listed; with -repair they are also repaired (sync, counters and sizes
// recounted). Differences left unrepaired exit 1, as diff does.
func checkCmd(cfg *config.Config, logger *slog.Logger, args []string, stdout, stderr io.Writer) int {
	repair := false
	var rest []string
	for _, a := range args {
		switch a {
		case "-repair", "--repair":
			repair = true
		default:
			rest = append(rest, a)
		}
	}
	args = rest
	if len(args) != 1 {
		fmt.Fprintln(stderr, "storaged: check takes [-repair] and one USER or -A")
		return exUsage
	}
	// A user without a store gets none made (readonly.go).
	db, accts, err := openReadOnly(cfg, logger)
	if err != nil {
		fmt.Fprintln(stderr, "storaged:", err)
		return exConfig
	}
	defer accts.Close()
	users, ok := pickUsers(db, args[0])
	if !ok {
		fmt.Fprintf(stderr, "storaged: no such user %q\n", args[0])
		return exNoUser
	}
	code := 0
	ctx := context.Background()
	for _, u := range users {
		name := u.Name
		if !hasStore(cfg, name) {
			fmt.Fprintf(stdout, "%s: no store yet, nothing to check\n", name)
			continue
		}
		acct, err := accts.Open(ctx, name)
		if err == nil {
			var diffs []store.Difference
			if diffs, err = acct.Check(ctx, repair); err == nil {
				mbs, _ := acct.Mailboxes()
				var msgs int
				for _, mb := range mbs {
					msgs += int(mb.Messages)
				}
				switch {
				case len(diffs) == 0:
					fmt.Fprintf(stdout, "%s: ok (%d mailboxes, %d messages)\n", name, len(mbs), msgs)
				case repair:
					fmt.Fprintf(stdout, "%s: %d differences, repaired (%d mailboxes, %d messages now)\n", name, len(diffs), len(mbs), msgs)
				default:
					fmt.Fprintf(stdout, "%s: %d differences (storaged check -repair %s repairs them)\n", name, len(diffs), name)
					code = max(code, 1)
				}
				if len(diffs) > 0 {
					tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "  MAILBOX\tKIND\tUID\tFILE\tDETAIL")
					for _, d := range diffs {
						uid := "-"
						if d.UID != 0 {
							uid = fmt.Sprint(d.UID)
						}
						file := d.File
						if file == "" {
							file = "-"
						}
						fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", d.Mailbox, d.Kind, uid, file, d.Detail)
					}
					tw.Flush()
				}
				continue
			}
		}
		if errors.Is(err, index.ErrLocked) {
			err = fmt.Errorf("the running server holds the index; stop it first (%w)", err)
		}
		fmt.Fprintf(stderr, "storaged: %s: %v\n", name, err)
		code = exSoftware
	}
	return code
}
