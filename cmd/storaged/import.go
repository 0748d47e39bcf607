package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/storaged/storaged/config"
	"github.com/storaged/storaged/index"
	"github.com/storaged/storaged/migrate"
	"github.com/storaged/storaged/server"
)

// importCmd: import [-dry-run] [-into NAME] [-ignore-quota] USER SOURCE...
func importCmd(cfg *config.Config, logger *slog.Logger, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dry := fs.Bool("dry-run", false, "report what would be imported; change nothing")
	into := fs.String("into", "", "put the imported folders under this mailbox")
	ignoreQuota := fs.Bool("ignore-quota", false, "import past the user's quota")
	// Flags may follow USER and the sources, as they may elsewhere.
	if err := fs.Parse(flagsFirst(args, "into")); err != nil {
		return exUsage
	}
	if fs.NArg() < 2 {
		fmt.Fprint(stderr, usage)
		return exUsage
	}
	who, sources := fs.Arg(0), fs.Args()[1:]
	srv, err := server.New(cfg, logger, time.Second)
	if err != nil {
		fmt.Fprintln(stderr, "storaged:", err)
		return exTempFail
	}
	defer srv.Close()
	u, ok := srv.Users.Lookup(who)
	if !ok {
		fmt.Fprintf(stderr, "storaged: no such user %q\n", who)
		return exNoUser
	}
	// SIGINT stops between messages; what was written is indexed, and a
	// second run goes on from there.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	acct, err := srv.Accounts.Open(ctx, u.Name)
	if err != nil {
		if errors.Is(err, index.ErrLocked) {
			fmt.Fprintf(stderr, "storaged: %s: the running server holds the index; stop it for the import (going through a running server is not there yet)\n", u.Name)
			return exTempFail
		}
		fmt.Fprintf(stderr, "storaged: %s: %v\n", u.Name, err)
		return exTempFail
	}
	code := 0
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	verb := "ADDED"
	if *dry {
		verb = "WOULD ADD"
	}
	fmt.Fprintf(tw, "SOURCE\tFOLDER\tTARGET\t%s\tBYTES\tDUPLICATES\tSKIPPED\tUIDS\n", verb)
	for _, path := range sources {
		src, err := migrate.Open(path)
		if err != nil {
			fmt.Fprintf(stderr, "storaged: %s: %v\n", path, err)
			code = exDataErr
			continue
		}
		var last time.Time
		rep, err := migrate.Import(ctx, acct, src, migrate.Options{
			DryRun: *dry, Into: *into, IgnoreQuota: *ignoreQuota, Logger: logger,
			Progress: func(t migrate.Totals) {
				if now := time.Now(); now.Sub(last) >= 5*time.Second {
					last = now
					logger.Info("import: progress", "messages", t.Messages, "bytes", t.Bytes, "duplicates", t.Duplicates,
						"rate_per_s", int(float64(t.Messages)/max(t.Elapsed.Seconds(), 0.001)))
				}
			},
		})
		for _, fr := range rep.Folders {
			skipped := int64(0)
			reasons := make([]string, 0, len(fr.Skipped))
			for r, n := range fr.Skipped {
				skipped += n
				reasons = append(reasons, fmt.Sprintf("%s %d", r, n))
			}
			sort.Strings(reasons)
			uids := "new"
			if fr.KeptUIDs {
				uids = "kept"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%d %v\t%s\n", src.Kind(), fr.Source, fr.Target, fr.Messages, humanBytes(fr.Bytes), fr.Duplicates, skipped, reasons, uids)
		}
		t := rep.Totals
		fmt.Fprintf(tw, "%s\t(%d folders)\t\t%d\t%s\t%d\t%d\t%.1fs, %.0f msg/s\n", src.Kind(), t.Folders, t.Messages, humanBytes(t.Bytes), t.Duplicates, t.Skipped,
			t.Elapsed.Seconds(), float64(t.Messages)/max(t.Elapsed.Seconds(), 0.001))
		if t.Skipped > 0 && code == 0 {
			code = exDataErr
		}
		if err != nil {
			if errors.Is(err, context.Canceled) {
				fmt.Fprintf(stderr, "storaged: %s: interrupted; run the same command again to go on\n", path)
				tw.Flush()
				return exTempFail
			}
			fmt.Fprintf(stderr, "storaged: %s: %v\n", path, err)
			code = exSoftware
		}
	}
	tw.Flush()
	return code
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
