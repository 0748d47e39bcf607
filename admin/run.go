package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/storaged/storaged/auth"
	"github.com/storaged/storaged/config"
	"github.com/storaged/storaged/store"
)

// Exit codes (sysexits.h), as the rest of the CLI uses them.
const (
	ExUsage    = 64
	ExDataErr  = 65
	ExNoUser   = 67
	ExSoftware = 70
	ExTempFail = 75
	ExNoPerm   = 77
)

// Session is one connected client, for who.
type Session struct {
	Proto   string    `json:"proto"`
	ID      string    `json:"id"`
	User    string    `json:"user"` // "" before login
	Remote  string    `json:"remote"`
	Since   time.Time `json:"since"`
	Mailbox string    `json:"mailbox,omitempty"` // IMAP's selected one
}

// Env is what a verb acts on: the configuration, the users and the
// accounts of this process (the server's own when the verb came over the
// socket).
type Env struct {
	Config   *config.Config
	Users    *auth.DB
	Accounts *store.Accounts
	// Sessions lists the connected clients; nil when no server runs.
	Sessions func() []Session
	// Reload and Stop act on the running server; nil when none runs.
	Reload func() (string, error)
	Stop   func()
	// Now is the clock (tests set it); nil is time.Now.
	Now func() time.Time
	// Log is where long verbs (import) log; nil is slog.Default().
	Log *slog.Logger
}

func (e *Env) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Verbs are the commands Run knows, the first word of args.
var Verbs = []string{"user", "auth", "expunge", "search", "fetch", "who", "reload", "stop", "import", "export", "index"}

// Handles reports whether Run knows the command args name.
func Handles(args []string) bool {
	if len(args) == 0 {
		return false
	}
	switch args[0] {
	case "user":
		return len(args) > 1 && args[1] == "show"
	case "auth":
		return len(args) > 1 && args[1] == "test"
	case "index":
		return len(args) > 1 && args[1] == "rebuild"
	case "expunge", "search", "fetch", "who", "reload", "stop", "import", "export":
		return true
	}
	return false
}

// Usage is the verbs' part of the CLI's usage text.
const Usage = `  storaged user show USER [--json]             store, format, index, quota, uid/gid
  storaged auth test USER [PASSWORD]           check a password (standard input without PASSWORD)
  storaged expunge USER|-A MAILBOX [--before DATE] [--older 30d] [--seen] [--dry-run] [--json]
                                               retention, e.g. expunge -A Trash --older 30d
  storaged search USER MAILBOX QUERY... [--json]
                                               UIDs matching an IMAP SEARCH query, e.g. FROM alice SINCE 1-Jan-2025
  storaged fetch USER MAILBOX UID [--header]   one message as stored (or its header)
  storaged import [--dry-run] [--into NAME] [--ignore-quota] USER SOURCE...
                                               mbox files or trees, Maildirs (Dovecot's: UIDs kept), MH trees;
                                               safe to repeat and to interrupt
  storaged export [--format maildir|mbox] USER DEST
                                               Dovecot's Maildir++ with dovecot-uidlist (UIDs kept), or mbox files
  storaged index rebuild USER [MAILBOX] [--json]
                                               the index rebuilt from the files, UIDs and flags kept where it allows
  storaged who [--json]                        connected sessions (a running server only)
  storaged reload | stop                       tell the running server to reload (as SIGHUP) or to stop
`

type out struct {
	stdout, stderr io.Writer
	json           bool
}

func (o *out) errf(format string, a ...any) {
	fmt.Fprintf(o.stderr, "storaged: "+format+"\n", a...)
}

// table prints rows under a header, aligned, or as a JSON array of
// objects keyed by the header's lower-cased names with --json.
func (o *out) table(header []string, rows [][]string, objs any) {
	if o.json {
		enc := json.NewEncoder(o.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(objs)
		return
	}
	tw := tabwriter.NewWriter(o.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// Run runs one verb and returns its exit status.
func Run(ctx context.Context, env *Env, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o := &out{stdout: stdout, stderr: stderr}
	var rest []string
	for _, a := range args {
		switch a {
		case "--json", "-json":
			o.json = true
		default:
			rest = append(rest, a)
		}
	}
	if !Handles(rest) {
		o.errf("unknown admin verb %q\n%s", strings.Join(rest, " "), Usage)
		return ExUsage
	}
	for _, a := range rest {
		if a == "-h" || a == "--help" || a == "help" {
			fmt.Fprint(stdout, Usage)
			return 0
		}
	}
	switch rest[0] {
	case "user":
		return userShow(ctx, env, o, rest[2:])
	case "auth":
		return authTest(ctx, env, o, rest[2:], stdin)
	case "index":
		return indexRebuild(ctx, env, o, rest[2:])
	case "expunge":
		return expunge(ctx, env, o, rest[1:])
	case "search":
		return search(ctx, env, o, rest[1:])
	case "import":
		return importVerb(ctx, env, o, rest[1:], stdin)
	case "export":
		return exportVerb(ctx, env, o, rest[1:])
	case "fetch":
		return fetch(ctx, env, o, rest[1:])
	case "who":
		return who(env, o, rest[1:])
	case "reload":
		if env.Reload == nil {
			o.errf("reload: no server is running on %s", env.Config.DataDir)
			return ExTempFail
		}
		msg, err := env.Reload()
		if err != nil {
			o.errf("reload: %v", err)
			return ExSoftware
		}
		fmt.Fprintln(stdout, msg)
		return 0
	case "stop":
		if env.Stop == nil {
			o.errf("stop: no server is running on %s", env.Config.DataDir)
			return ExTempFail
		}
		env.Stop()
		fmt.Fprintln(stdout, "stopping: deliveries in flight finish, sessions are told BYE")
		return 0
	}
	return ExUsage
}

// user resolves a name as the passwd-file has it.
func (e *Env) user(o *out, name string) (auth.User, bool) {
	u, ok := e.Users.Lookup(name)
	if !ok {
		o.errf("no such user %q", name)
	}
	return u, ok
}

// storeExists tells whether the user has a store yet; read-only verbs
// must not create one by opening the account.
func (e *Env) storeExists(user string) bool {
	_, err := os.Stat(filepath.Join(e.Config.Mail.Dir, user))
	return err == nil
}

// account opens the user's account for a verb that reads or changes
// mail; no store yet is an error, not a new store.
func (e *Env) account(ctx context.Context, o *out, user string) (*store.Account, int) {
	if !e.storeExists(user) {
		o.errf("%s: no mail store yet (nothing was delivered)", user)
		return nil, ExNoUser
	}
	acct, err := e.Accounts.Open(ctx, user)
	if err != nil {
		o.errf("%s: %v", user, err)
		if errors.Is(err, context.Canceled) {
			return nil, ExTempFail
		}
		return nil, ExTempFail
	}
	return acct, 0
}
