package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/storaged/storaged/auth"
	"github.com/storaged/storaged/config"
	"github.com/storaged/storaged/quota"
	"github.com/storaged/storaged/server"
	"github.com/storaged/storaged/sieve"
	"github.com/storaged/storaged/sievestore"
)

// sieveCmd: sieve check FILE; sieve list|get|put|activate|deactivate|delete USER …
// The store's files are safe to change under a running server (every
// write is a rename), so these need no stop.
func sieveCmd(cfg *config.Config, logger *slog.Logger, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return exUsage
	}
	users, err := auth.Open(cfg.Users.File, logger)
	if err != nil {
		fmt.Fprintln(stderr, "storaged:", err)
		return exConfig
	}
	st := server.NewSieveStore(cfg, users, logger)
	verb, rest := args[0], args[1:]
	if verb == "check" {
		if len(rest) != 1 {
			fmt.Fprintln(stderr, "storaged: sieve check FILE")
			return exUsage
		}
		src, err := readSource(rest[0], stdin)
		if err != nil {
			fmt.Fprintln(stderr, "storaged:", err)
			return exIOErr
		}
		if err := st.Check("", src); err != nil {
			return sieveErr(stderr, rest[0], err)
		}
		fmt.Fprintf(stdout, "%s: ok\n", rest[0])
		return 0
	}
	u, ok := users.Lookup(rest[0])
	if !ok {
		fmt.Fprintf(stderr, "storaged: no such user %q\n", rest[0])
		return exNoUser
	}
	user, rest := u.Name, rest[1:]
	need := func(n int, form string) bool {
		if len(rest) != n {
			fmt.Fprintf(stderr, "storaged: sieve %s\n", form)
			return false
		}
		return true
	}
	switch verb {
	case "list":
		if !need(0, "list USER") {
			return exUsage
		}
		list, err := st.List(user)
		if err != nil {
			return sieveErr(stderr, user, err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tACTIVE\tSIZE")
		for _, sc := range list {
			act := ""
			if sc.Active {
				act = "yes"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", sc.Name, act, quota.FormatSize(sc.Size))
		}
		tw.Flush()
	case "get":
		if !need(1, "get USER NAME") {
			return exUsage
		}
		src, err := st.Get(user, rest[0])
		if err != nil {
			return sieveErr(stderr, rest[0], err)
		}
		stdout.Write(src)
	case "put":
		// -activate may come anywhere after USER; any other flag is
		// refused, not taken for a name or a file.
		activate := false
		var names []string
		for i := 0; i < len(rest); i++ {
			a := rest[i]
			if a == "--" {
				names = append(names, rest[i+1:]...)
				break
			}
			if a == "-activate" || a == "--activate" {
				activate = true
				continue
			}
			if strings.HasPrefix(a, "-") && a != "-" {
				fmt.Fprintf(stderr, "storaged: sieve put: unknown flag %s (only -activate)\n", a)
				return exUsage
			}
			names = append(names, a)
		}
		rest = names
		if len(rest) == 1 {
			rest = append(rest, "-")
		}
		if !need(2, "put USER [-activate] NAME [FILE] (standard input without FILE)") {
			return exUsage
		}
		src, err := readSource(rest[1], stdin)
		if err != nil {
			fmt.Fprintln(stderr, "storaged:", err)
			return exIOErr
		}
		if err := st.Put(user, rest[0], src); err != nil {
			return sieveErr(stderr, rest[0], err)
		}
		if activate {
			if err := st.SetActive(user, rest[0]); err != nil {
				return sieveErr(stderr, rest[0], err)
			}
		}
	case "activate":
		if !need(1, "activate USER NAME") {
			return exUsage
		}
		if err := st.SetActive(user, rest[0]); err != nil {
			return sieveErr(stderr, rest[0], err)
		}
	case "deactivate":
		if !need(0, "deactivate USER") {
			return exUsage
		}
		if err := st.SetActive(user, ""); err != nil {
			return sieveErr(stderr, user, err)
		}
	case "delete":
		if !need(1, "delete USER NAME") {
			return exUsage
		}
		if err := st.Delete(user, rest[0]); err != nil {
			return sieveErr(stderr, rest[0], err)
		}
	default:
		fmt.Fprintf(stderr, "storaged: unknown sieve command %q\n", verb)
		return exUsage
	}
	return 0
}

func readSource(path string, stdin io.Reader) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(io.LimitReader(stdin, 64<<20))
	}
	return os.ReadFile(path)
}

// sieveErr prints an error as "FILE:LINE:COL: message" when it has a
// place, the way compilers do, so editors can jump to it.
func sieveErr(stderr io.Writer, what string, err error) int {
	var se *sieve.Error
	switch {
	case errors.As(err, &se):
		where := what
		if se.Script != "" {
			where = se.Script
		}
		if se.Line > 0 {
			fmt.Fprintf(stderr, "%s:%d:%d: %s\n", where, se.Line, se.Col, se.Msg)
		} else {
			fmt.Fprintf(stderr, "%s: %s\n", where, se.Msg)
		}
		return exDataErr
	case errors.Is(err, sievestore.ErrNotFound):
		fmt.Fprintf(stderr, "storaged: %s: no such script\n", what)
		return exNoUser
	case errors.Is(err, sievestore.ErrBadName), errors.Is(err, sievestore.ErrActive),
		errors.Is(err, sievestore.ErrTooBig), errors.Is(err, sievestore.ErrTooMany), errors.Is(err, sievestore.ErrExists):
		fmt.Fprintf(stderr, "storaged: %s: %v\n", what, err)
		return exDataErr
	}
	fmt.Fprintf(stderr, "storaged: %s: %v\n", what, err)
	return exIOErr
}
