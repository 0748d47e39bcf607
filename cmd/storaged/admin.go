package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/storaged/storaged/admin"
	"github.com/storaged/storaged/auth"
	"github.com/storaged/storaged/config"
	"github.com/storaged/storaged/server"
)

// adminCmd runs an admin verb in the running server, through its admin
// socket, or here over the store when no server runs (admin package).
func adminCmd(cfg *config.Config, logger *slog.Logger, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if cfg.Admin.Socket != "" {
		// The server reads and writes import and export paths from its
		// own working directory: give it the admin's.
		sent := args
		if cwd, err := os.Getwd(); err == nil {
			sent = admin.AbsPaths(args, cwd)
		}
		code, err := admin.Call(cfg.Admin.Socket, sent, stdin, stdout, stderr)
		if err == nil {
			return code
		}
		if !errors.Is(err, admin.ErrNoServer) {
			fmt.Fprintln(stderr, "storaged:", err)
			return exTempFail
		}
	}
	// No server: the verb opens the store itself. Nothing here creates
	// a file the verb does not write.
	if _, err := os.Stat(cfg.Users.File); err != nil {
		fmt.Fprintf(stderr, "storaged: no users file %s: %v\n", cfg.Users.File, err)
		return exNoUser
	}
	users, err := auth.Open(cfg.Users.File, logger)
	if err != nil {
		fmt.Fprintln(stderr, "storaged:", err)
		return exConfig
	}
	accts, err := server.NewAccounts(cfg, users, logger, time.Second, nil)
	if err != nil {
		fmt.Fprintln(stderr, "storaged:", err)
		return exConfig
	}
	defer accts.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return admin.Run(ctx, &admin.Env{Config: cfg, Users: users, Accounts: accts, Log: logger}, args, stdin, stdout, stderr)
}
