package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/storaged/storaged/admin"
	"github.com/storaged/storaged/auth"
	"github.com/storaged/storaged/config"
	"github.com/storaged/storaged/server"
)

// importPassword takes "--password-file F" out of an import's arguments
// and hands the verb the password of a server source as its standard
// input: from F, else from $STORAGED_IMPORT_PASSWORD. Never from the
// command line, where ps and shell histories would keep it.
func importPassword(args []string, stdin io.Reader) ([]string, io.Reader, error) {
	var out []string
	pw, file := os.Getenv("STORAGED_IMPORT_PASSWORD"), ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && name == "password-file" {
			if !hasVal {
				if i+1 >= len(args) {
					return nil, nil, errors.New("--password-file needs a file")
				}
				i++
				val = args[i]
			}
			file = val
			continue
		}
		out = append(out, a)
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, nil, err
		}
		pw, _, _ = strings.Cut(string(b), "\n")
		pw = strings.TrimRight(pw, "\r")
	}
	if !admin.NeedsStdin(out) {
		return out, stdin, nil
	}
	return out, strings.NewReader(pw + "\n"), nil
}

// adminCmd runs an admin verb in the running server, through its admin
// socket, or here over the store when no server runs (admin package).
func adminCmd(cfg *config.Config, logger *slog.Logger, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if args[0] == "import" {
		var err error
		if args, stdin, err = importPassword(args, stdin); err != nil {
			fmt.Fprintln(stderr, "storaged: import:", err)
			return exUsage
		}
	}
	long := args[0] == "import" || args[0] == "export"
	if long {
		// A bar on a terminal, plain lines otherwise, wherever the verb
		// runs: the server sends records, this process draws them.
		stderr = admin.NewRenderer(stderr, admin.IsTerminal(stderr))
	}
	if cfg.Admin.Socket != "" {
		// The server reads and writes import and export paths from its
		// own working directory: give it the admin's.
		sent := args
		if cwd, err := os.Getwd(); err == nil {
			sent = admin.AbsPaths(args, cwd)
		}
		ctx := context.Background()
		if long {
			var done func()
			ctx, done = interruptible(stderr)
			defer done()
		}
		code, err := admin.CallContext(ctx, cfg.Admin.Socket, sent, stdin, stdout, stderr)
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
	usersPath := cfg.Users.File
	if strings.Contains(usersPath, auth.DomainVar) {
		usersPath = filepath.Dir(usersPath) // users/%d: the domains' files' directory
	}
	if _, err := os.Stat(usersPath); err != nil {
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

// interruptible is a context the first SIGINT or SIGTERM ends: the
// server is told to stop the verb and this process waits for its report
// (the summary, the exit status). A second signal ends this process at
// once, as it would without the handler; the server still stops the
// verb, when the socket closes.
func interruptible(stderr io.Writer) (context.Context, func()) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ended := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			stop()
			fmt.Fprintln(stderr, "storaged: interrupted: the server stops after the current message and reports (again to leave at once)")
		case <-ended:
		}
	}()
	return ctx, func() { close(ended); stop() }
}
