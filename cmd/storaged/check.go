package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/storaged/storaged/config"
	"github.com/storaged/storaged/index"
	"github.com/storaged/storaged/quota"
	"github.com/storaged/storaged/store"
)

// checkCmd: storaged check USER|-A. Opening an account validates its
// index (a damaged one is moved aside and rebuilt from the files); then
// every mailbox is synced with its files and the counters recounted.
func checkCmd(cfg *config.Config, logger *slog.Logger, args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "storaged: check takes one USER or -A")
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
			var rc store.Recalc
			if rc, err = acct.Recalc(ctx); err == nil {
				state := "ok"
				if rc.Before != rc.After || rc.Resized > 0 {
					state = fmt.Sprintf("repaired: counters were %d messages, %s", rc.Before.Messages, quota.FormatSize(rc.Before.Storage))
				}
				mbs, _ := acct.Mailboxes()
				fmt.Fprintf(stdout, "%s: %s (%d mailboxes, %d messages, %s; %d files read)\n", name, state, len(mbs), rc.After.Messages, quota.FormatSize(rc.After.Storage), rc.Files)
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
