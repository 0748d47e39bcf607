package admin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/storaged/storaged/migrate"
)

// AbsPaths makes the SOURCE and DEST paths of an import or export
// absolute against cwd, so that the server, which runs them through the
// socket, reads the files the admin meant.
func AbsPaths(args []string, cwd string) []string {
	if len(args) == 0 || (args[0] != "import" && args[0] != "export") {
		return args
	}
	out := append([]string(nil), args...)
	user := false
	for i := 1; i < len(out); i++ {
		a := out[i]
		if strings.HasPrefix(a, "-") {
			if f := strings.TrimLeft(a, "-"); (f == "into" || f == "format") && i+1 < len(out) {
				i++
			}
			continue
		}
		if !user {
			user = true // USER comes first
			continue
		}
		if !filepath.IsAbs(a) && !strings.Contains(a, "://") {
			out[i] = filepath.Join(cwd, a)
		}
	}
	return out
}

// NeedsStdin tells the verbs that read standard input: auth test
// without a password, and an import from a server (its password).
func NeedsStdin(args []string) bool {
	if len(args) == 3 && args[0] == "auth" {
		return true
	}
	if len(args) > 0 && args[0] == "import" {
		for _, a := range args[1:] {
			if migrate.IsRemote(a) {
				return true
			}
		}
	}
	return false
}

// importVerb: import [--dry-run] [--into NAME] [--ignore-quota] USER
// SOURCE...; through the socket, the imported mail reaches the sessions
// that watch those mailboxes at once.
func importVerb(ctx context.Context, env *Env, o *out, args []string, stdin io.Reader) int {
	pos, f, err := flagArgs(args, []string{"into"}, []string{"dry-run", "ignore-quota"})
	if err != nil || len(pos) < 2 {
		if err == nil {
			err = errors.New("takes USER SOURCE...")
		}
		o.errf("import: %v", err)
		return ExUsage
	}
	_, dry := f["dry-run"]
	_, ignoreQuota := f["ignore-quota"]
	u, ok := env.user(o, pos[0])
	if !ok {
		return ExNoUser
	}
	acct, err := env.Accounts.Open(ctx, u.Name)
	if err != nil {
		o.errf("%s: %v", u.Name, err)
		return ExTempFail
	}
	// A server source's password is the first line of standard input
	// (the CLI puts there what --password-file or STORAGED_IMPORT_PASSWORD
	// held): never an argument, which ps and histories would show.
	password := ""
	if NeedsStdin(append([]string{"import"}, args...)) {
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		password = strings.TrimRight(line, "\r\n")
	}
	code := 0
	tw := tabwriter.NewWriter(o.stdout, 0, 4, 2, ' ', 0)
	verb := "ADDED"
	if dry {
		verb = "WOULD ADD"
	}
	fmt.Fprintf(tw, "SOURCE\tFOLDER\tTARGET\t%s\tBYTES\tDUPLICATES\tSKIPPED\tUIDS\n", verb)
	for _, path := range pos[1:] {
		var src migrate.Source
		var err error
		if migrate.IsRemote(path) {
			var rs migrate.RemoteSource
			if rs, err = migrate.OpenRemote(ctx, path, password); err == nil {
				defer rs.Close()
				src = rs
			}
		} else {
			src, err = migrate.Open(path)
		}
		if err != nil {
			o.errf("%s: %v", path, err)
			code = ExDataErr
			continue
		}
		pr := o.progressTo("import")
		rep, err := migrate.Import(ctx, acct, src, migrate.Options{
			DryRun: dry, Into: f["into"], IgnoreQuota: ignoreQuota, Progress: pr.update, Logger: env.Log,
		})
		pr.finish()
		for _, fr := range rep.Folders {
			uids := "new"
			if fr.KeptUIDs {
				uids = "kept"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%s\t%s\n", src.Kind(), fr.Source, fr.Target, fr.Messages, humanBytes(fr.Bytes), fr.Duplicates, skipped(fr.Skipped), uids)
		}
		t := rep.Totals
		fmt.Fprintf(tw, "%s\t(%d folders)\t\t%d\t%s\t%d\t%d\t%.1fs, %.0f msg/s\n", src.Kind(), t.Folders, t.Messages, humanBytes(t.Bytes), t.Duplicates, t.Skipped,
			t.Elapsed.Seconds(), float64(t.Messages)/max(t.Elapsed.Seconds(), 0.001))
		if t.Skipped > 0 && code == 0 {
			code = ExDataErr
		}
		if err != nil {
			tw.Flush()
			if errors.Is(err, context.Canceled) {
				o.errf("%s: interrupted; run the same command again to go on", path)
				return ExTempFail
			}
			o.errf("%s: %v", path, err)
			code = ExSoftware
		}
	}
	tw.Flush()
	return code
}

// exportVerb: export [--format maildir|mbox] USER DEST.
func exportVerb(ctx context.Context, env *Env, o *out, args []string) int {
	pos, f, err := flagArgs(args, []string{"format"}, nil)
	if err != nil || len(pos) != 2 {
		if err == nil {
			err = errors.New("takes USER DEST")
		}
		o.errf("export: %v", err)
		return ExUsage
	}
	format := f["format"]
	if format == "" {
		format = "maildir"
	}
	u, ok := env.user(o, pos[0])
	if !ok {
		return ExNoUser
	}
	acct, code := env.account(ctx, o, u.Name)
	if acct == nil {
		return code
	}
	pr := o.progressTo("export")
	rep, err := migrate.Export(ctx, acct, pos[1], format, migrate.Options{Progress: pr.update})
	pr.finish()
	tw := tabwriter.NewWriter(o.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "FOLDER\tMESSAGES\tBYTES\tSKIPPED\n")
	for _, fr := range rep.Folders {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", fr.Source, fr.Messages, humanBytes(fr.Bytes), skipped(fr.Skipped))
	}
	t := rep.Totals
	fmt.Fprintf(tw, "(%d folders)\t%d\t%s\t%d\t%.1fs into %s (%s)\n", t.Folders, t.Messages, humanBytes(t.Bytes), t.Skipped, t.Elapsed.Seconds(), pos[1], format)
	tw.Flush()
	switch {
	case errors.Is(err, context.Canceled):
		o.errf("export: interrupted; remove %s and run it again", pos[1])
		return ExTempFail
	case err != nil:
		o.errf("export: %v", err)
		return ExSoftware
	case t.Skipped > 0:
		return ExDataErr
	}
	return 0
}

func skipped(m map[string]int64) string {
	var n int64
	reasons := make([]string, 0, len(m))
	for r, k := range m {
		n += k
		reasons = append(reasons, fmt.Sprintf("%s: %d", r, k))
	}
	if n == 0 {
		return "0"
	}
	sort.Strings(reasons)
	return fmt.Sprintf("%d (%s)", n, strings.Join(reasons, "; "))
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
