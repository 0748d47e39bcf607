package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/storaged/storaged/config"
	"github.com/storaged/storaged/index"
	"github.com/storaged/storaged/quota"
	"github.com/storaged/storaged/server"
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
	srv, err := server.New(cfg, logger, time.Second)
	if err != nil {
		fmt.Fprintln(stderr, "storaged:", err)
		return exTempFail
	}
	defer srv.Close()
	var users []string
	if args[0] == "-A" {
		for _, u := range srv.Users.List() {
			users = append(users, u.Name)
		}
	} else if u, ok := srv.Users.Lookup(args[0]); ok {
		users = []string{u.Name}
	} else {
		fmt.Fprintf(stderr, "storaged: no such user %q\n", args[0])
		return exNoUser
	}
	code := 0
	ctx := context.Background()
	for _, name := range users {
		acct, err := srv.Accounts.Open(ctx, name)
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
