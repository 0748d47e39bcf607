package main

import (
	"bufio"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/storaged/storaged/auth"
	"github.com/storaged/storaged/config"
	"github.com/storaged/storaged/server"
)

func userCmd(cfg *config.Config, logger *slog.Logger, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exUsage
	}
	verb, args := args[0], args[1:]
	switch verb {
	case "add", "passwd", "del", "list":
	default:
		fmt.Fprintf(stderr, "storaged: unknown user command %q (add, passwd, del, list, show)\n", verb)
		return exUsage
	}
	fs := flag.NewFlagSet("user "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	format := fs.String("format", "", "user add: the user's storage format (maildir, mbox or mh) instead of mail.format")
	if err := fs.Parse(flagsFirst(args, "format")); err != nil {
		return exUsage
	}
	// A flag the verb does not use is refused, not ignored.
	allowed := map[string]map[string]bool{
		"add": {"password-stdin": true, "format": true}, "passwd": {"password-stdin": true},
	}
	refused := ""
	fs.Visit(func(f *flag.Flag) {
		if !allowed[verb][f.Name] && refused == "" {
			refused = f.Name
		}
	})
	if refused != "" {
		fmt.Fprintf(stderr, "storaged: user %s takes no -%s\n", verb, refused)
		return exUsage
	}
	// list only reads: it creates nothing, not even the data directory.
	if verb != "list" {
		if err := server.EnsureDataDir(cfg); err != nil {
			fmt.Fprintln(stderr, "storaged:", err)
			return exCantCreat
		}
	}
	db, err := auth.Open(cfg.Users.File, logger)
	if err != nil {
		fmt.Fprintln(stderr, "storaged:", err)
		return exIOErr
	}
	needName := func() (string, bool) {
		if fs.NArg() != 1 {
			fmt.Fprintf(stderr, "storaged: user %s takes one NAME\n", verb)
			return "", false
		}
		return fs.Arg(0), true
	}
	password := func() (string, bool, error) {
		if !*fromStdin {
			p, err := randomPassword()
			return p, true, err
		}
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && line == "" {
			return "", false, fmt.Errorf("no password on standard input")
		}
		p := trimNL(line)
		if p == "" {
			return "", false, fmt.Errorf("empty password")
		}
		return p, false, nil
	}
	switch verb {
	case "add", "passwd":
		name, ok := needName()
		if !ok {
			return exUsage
		}
		pw, generated, err := password()
		if err != nil {
			fmt.Fprintln(stderr, "storaged:", err)
			return exDataErr
		}
		if verb == "add" {
			var extra map[string]string
			switch *format {
			case "":
			case "maildir", "mbox", "mh":
				extra = map[string]string{"userdb_mail": *format}
			default:
				fmt.Fprintf(stderr, "storaged: -format %q is not maildir, mbox or mh\n", *format)
				return exUsage
			}
			err = db.Add(name, pw, extra)
		} else {
			err = db.SetPassword(name, pw)
		}
		if err != nil {
			fmt.Fprintln(stderr, "storaged:", err)
			return exDataErr
		}
		if generated {
			fmt.Fprintf(stdout, "%s: password %s\n", name, pw)
		} else {
			fmt.Fprintf(stdout, "%s: password set\n", name)
		}
		return 0
	case "del":
		name, ok := needName()
		if !ok {
			return exUsage
		}
		if err := db.Delete(name); err != nil {
			fmt.Fprintln(stderr, "storaged:", err)
			return exNoUser
		}
		fmt.Fprintf(stdout, "%s: deleted from %s (the mail under %s stays)\n", name, cfg.Users.File, cfg.Mail.Dir)
		return 0
	case "list":
		if fs.NArg() != 0 {
			fmt.Fprintf(stderr, "storaged: user list takes no arguments, not %q\n", fs.Arg(0))
			return exUsage
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSCHEME\tEXTRA")
		for _, u := range db.List() {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Name, scheme(u.Hash), u.ExtraRaw)
		}
		tw.Flush()
		return 0
	}
	fmt.Fprintf(stderr, "storaged: unknown user command %q\n", verb)
	return exUsage
}

func scheme(hash string) string {
	if strings.HasPrefix(hash, "{") {
		if i := strings.IndexByte(hash, '}'); i > 0 {
			return hash[1:i]
		}
	}
	return "CRYPT"
}

// randomPassword gives 16 characters from an alphabet without look-alikes
// (about 90 bits).
func randomPassword() (string, error) {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b), nil
}

// flagsFirst moves flags ahead of the other arguments, so that "user add
// NAME -password-stdin" parses as the usage shows it (package flag stops
// at the first non-flag). withValue names the flags that take a value.
func flagsFirst(args []string, withValue ...string) []string {
	var flags, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			rest = append(rest, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		for _, w := range withValue {
			if name == w && i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
		}
	}
	return append(flags, rest...)
}
