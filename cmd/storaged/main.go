// Command storaged is the mail store server and its admin verbs. It wires
// packages together and holds no logic of its own.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"github.com/storaged/storaged/admin"
	"github.com/storaged/storaged/config"
	"github.com/storaged/storaged/internal/logfile"
)

const usage = `storaged: a mail store and access server

Usage:
  storaged [-config FILE] serve                 run LMTP, IMAP, POP3 and ManageSieve
  storaged [-config FILE] deliver [-f SENDER] -a ADDRESS... | -d USER...  < message   (dovecot-lda's flags)
  storaged [-config FILE] user add NAME [-password-stdin] [-format maildir|mbox|mh]
  storaged [-config FILE] user passwd NAME [-password-stdin]
  storaged [-config FILE] user del NAME
  storaged [-config FILE] user list
  storaged [-config FILE] quota get USER|-A     usage and limits, a table
  storaged [-config FILE] quota set USER storage=10G messages=100000   (none for no limit)
  storaged [-config FILE] quota recalc USER|-A  recount from the files; says what differed
  storaged [-config FILE] sieve check FILE      compile a script; errors as FILE:LINE:COL
  storaged [-config FILE] sieve list USER       the user's scripts, the active one marked
  storaged [-config FILE] sieve get USER NAME
  storaged [-config FILE] sieve put USER [-activate] NAME [FILE]   (standard input without FILE)
  storaged [-config FILE] sieve activate USER NAME | deactivate USER | delete USER NAME
  storaged [-config FILE] cert selfsigned [-cert F] [-key F] [-type ecdsa|ed25519] HOST...
                                                a key and a self-signed certificate, for tests
  storaged [-config FILE] import [-dry-run] [-into NAME] [-ignore-quota] USER SOURCE...
                                                an mbox file or tree, a Maildir (Dovecot's too), an MH tree;
                                                safe to repeat; the server must be stopped for now
  storaged [-config FILE] config                print the effective configuration
  storaged [-config FILE] check [-repair] USER|-A  list (and repair) differences between files and index
  storaged version                              the build: module version, commit, Go
` + admin.Usage + `

Without -config, embedded defaults apply and data lives in $STORAGED_DATA or ./data.
-config may come before or after the command. Every command answers --help
with its usage and examples: storaged deliver --help.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is main without the process: tests call it directly.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("storaged", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed below, once
	fs.Usage = func() {}
	cfgPath := new(string)
	fs.Var((*onceFlag)(cfgPath), "config", "configuration file (TOML)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return 0
		}
		fmt.Fprintf(stderr, "storaged: %v (storaged --help lists the commands; their flags go after them)\n", err)
		return exUsage
	}
	// "storaged serve -config FILE" reads as the admin meant it: the
	// global flag after the command, not a file silently ignored.
	rest, after := takeConfigFlag(fs.Args())
	if after != "" {
		if *cfgPath != "" && after != *cfgPath {
			fmt.Fprintf(stderr, "storaged: -config given twice (%s and %s)\n", *cfgPath, after)
			return exUsage
		}
		*cfgPath = after
	}
	if len(rest) == 0 {
		fmt.Fprint(stderr, usage)
		return exUsage
	}
	// Help needs no config, so it works with a broken one (help.go); the
	// admin verbs answer their own.
	if rest[0] == "help" {
		verb := ""
		if len(rest) > 1 {
			verb = rest[1]
		}
		if !printHelp(stdout, verb) {
			fmt.Fprintf(stderr, "storaged: no help for %q; there is for %s\n", verb, helpVerbs())
			return exUsage
		}
		return 0
	}
	if (!admin.Handles(rest) || rest[0] == "import" || rest[0] == "export" || rest[0] == "index") && wantsHelp(rest[1:]) && printHelp(stdout, rest[0]) {
		return 0
	}
	// Verbs that take no arguments refuse them rather than ignore them.
	switch rest[0] {
	case "serve", "config", "version":
		if len(rest) > 1 {
			fmt.Fprintf(stderr, "storaged: %s takes no arguments, not %q\n", rest[0], rest[1])
			return exUsage
		}
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil && rest[0] == "deliver" && errors.Is(err, os.ErrPermission) {
		// The MTA runs the LDA as the recipient or as nobody: a config
		// it may not read is a local setup to fix, and the mail must wait
		// for it (75), not bounce (EX_CONFIG is 5.3.5 to Postfix).
		fmt.Fprintf(stderr, "storaged deliver: %v (running as uid %d gid %d: run deliver as the server's user, or let it read the file); the MTA will retry\n", err, os.Getuid(), os.Getgid())
		return exTempFail
	}
	if err != nil {
		fmt.Fprintln(stderr, "storaged:", err)
		return exConfig
	}
	logger := newLogger(cfg, stderr)
	if admin.Handles(rest) {
		return adminCmd(cfg, logger, rest, stdin, stdout, stderr)
	}
	switch rest[0] {
	case "serve":
		// The level is a variable: a reload (SIGHUP) may change it.
		lv := new(slog.LevelVar)
		lv.Set(levelOf(cfg))
		var logw io.Writer = stderr
		var lf *logfile.File
		if cfg.Log.File != "" {
			if lf, err = logfile.Open(cfg.Log.File); err != nil {
				fmt.Fprintln(stderr, "storaged:", err)
				return exCantCreat
			}
			defer lf.Close()
			logw = lf
		}
		return serve(cfg, *cfgPath, loggerAt(cfg, logw, lv), lv, lf, stdout)
	case "deliver":
		return deliverCmd(cfg, logger, rest[1:], stdin, stderr)
	case "user":
		return userCmd(cfg, logger, rest[1:], stdin, stdout, stderr)
	case "quota":
		return quotaCmd(cfg, logger, rest[1:], stdout, stderr)
	case "sieve":
		return sieveCmd(cfg, logger, rest[1:], stdin, stdout, stderr)
	case "cert":
		return certCmd(cfg, rest[1:], stdout, stderr)
	case "config":
		if err := cfg.Write(stdout); err != nil {
			fmt.Fprintln(stderr, "storaged:", err)
			return exSoftware
		}
		return 0
	case "check":
		return checkCmd(cfg, logger, rest[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, version())
		return 0
	}
	fmt.Fprintf(stderr, "storaged: unknown command %q\n%s", rest[0], usage)
	return exUsage
}

// Exit codes from sysexits.h, which MTAs read from an LDA.
const (
	exUsage     = 64
	exDataErr   = 65
	exNoUser    = 67
	exSoftware  = 70
	exIOErr     = 74
	exTempFail  = 75
	exConfig    = 78
	exNoPerm    = 77
	exUnavail   = 69
	exCantCreat = 73
)

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	return loggerAt(cfg, w, levelOf(cfg))
}

func levelOf(cfg *config.Config) slog.Level {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.Log.Level))
	return lvl
}

func loggerAt(cfg *config.Config, w io.Writer, lvl slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

var errUsage = errors.New("usage")

func trimNL(s string) string { return strings.TrimRight(s, "\r\n") }

// onceFlag is a string flag that refuses to be given twice with two
// values, rather than keep the last one.
type onceFlag string

func (f *onceFlag) String() string { return string(*f) }
func (f *onceFlag) Set(v string) error {
	if *f != "" && string(*f) != v {
		return fmt.Errorf("given twice (%s and %s)", *f, v)
	}
	*f = onceFlag(v)
	return nil
}

// takeConfigFlag removes "-config FILE" (or --config, or -config=FILE)
// from a command's arguments and returns the file.
func takeConfigFlag(args []string) ([]string, string) {
	var out []string
	path := ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			out = append(out, args[i:]...)
			break
		}
		switch {
		case (a == "-config" || a == "--config") && i+1 < len(args):
			path = args[i+1]
			i++
		case strings.HasPrefix(a, "-config=") || strings.HasPrefix(a, "--config="):
			path = a[strings.IndexByte(a, '=')+1:]
		default:
			out = append(out, a)
		}
	}
	return out, path
}

// version describes the build from what the Go toolchain recorded.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "storaged (no build information)"
	}
	v := "storaged " + bi.Main.Version
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v += " " + s.Value
		case "vcs.modified":
			if s.Value == "true" {
				v += " (modified)"
			}
		}
	}
	return v + " " + bi.GoVersion
}
