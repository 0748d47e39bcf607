package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/storaged/storaged/auth"
	"github.com/storaged/storaged/config"
	"github.com/storaged/storaged/index"
	"github.com/storaged/storaged/quota"
)

// quotaCmd: quota get USER|-A, quota set USER storage=10G messages=N,
// quota recalc USER|-A.
func quotaCmd(cfg *config.Config, logger *slog.Logger, args []string, stdout, stderr io.Writer) int {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return exUsage
	}
	verb, who, rest := args[0], args[1], args[2:]
	switch verb {
	case "set":
		return quotaSet(cfg, logger, who, rest, stdout, stderr)
	case "get", "recalc":
	default:
		fmt.Fprintf(stderr, "storaged: unknown quota command %q\n", verb)
		return exUsage
	}
	if len(rest) > 0 {
		fmt.Fprintf(stderr, "storaged: quota %s takes one USER or -A\n", verb)
		return exUsage
	}
	// Nothing here creates a file: not the data directory, not the store
	// of a user who has none (readonly.go).
	db, accts, err := openReadOnly(cfg, logger)
	if err != nil {
		fmt.Fprintln(stderr, "storaged:", err)
		return exConfig
	}
	defer accts.Close()
	users, ok := pickUsers(db, who)
	if !ok {
		fmt.Fprintf(stderr, "storaged: no such user %q\n", who)
		return exNoUser
	}
	ctx := context.Background()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if verb == "get" {
		fmt.Fprintln(tw, "USER\tRESOURCE\tUSED\tLIMIT\t%")
	}
	code := 0
	for _, usr := range users {
		name := usr.Name
		if !hasStore(cfg, name) {
			if verb == "recalc" {
				fmt.Fprintf(stdout, "%s: no store yet, nothing to recount\n", name)
				continue
			}
			l, err := userLimits(cfg, usr)
			if err != nil {
				fmt.Fprintf(stderr, "storaged: %s: %v\n", name, err)
				code = exConfig
				continue
			}
			quotaRows(tw, name, quota.Usage{}, l)
			continue
		}
		acct, err := accts.Open(ctx, name)
		if err != nil {
			if errors.Is(err, index.ErrLocked) {
				err = fmt.Errorf("the running server holds the index; stop it first (%w)", err)
			}
			fmt.Fprintf(stderr, "storaged: %s: %v\n", name, err)
			code = exTempFail
			continue
		}
		if verb == "recalc" {
			r, err := acct.Recalc(ctx)
			if err != nil {
				fmt.Fprintf(stderr, "storaged: %s: %v\n", name, err)
				code = exSoftware
				continue
			}
			if r.Before == r.After && r.Resized == 0 {
				fmt.Fprintf(stdout, "%s: %d messages, %s: the index was right (%d files read)\n", name, r.After.Messages, quota.FormatSize(r.After.Storage), r.Files)
				continue
			}
			fmt.Fprintf(stdout, "%s: was %d messages, %s; now %d messages, %s (%d files read, %d sizes corrected)\n", name,
				r.Before.Messages, quota.FormatSize(r.Before.Storage), r.After.Messages, quota.FormatSize(r.After.Storage), r.Files, r.Resized)
			continue
		}
		l, err := acct.Limits()
		var u quota.Usage
		if err == nil {
			u, err = acct.Usage()
		}
		if err != nil {
			fmt.Fprintf(stderr, "storaged: %s: %v\n", name, err)
			code = exSoftware
			continue
		}
		quotaRows(tw, name, u, l)
	}
	tw.Flush()
	return code
}

// quotaRows prints a user's two lines of quota get.
func quotaRows(tw io.Writer, name string, u quota.Usage, l quota.Limits) {
	fmt.Fprintf(tw, "%s\tSTORAGE\t%s\t%s\t%s\n", name, quota.FormatSize(u.Storage), limitText(l.Storage, quota.FormatSize), percent(u.Storage, l.Storage))
	fmt.Fprintf(tw, "%s\tMESSAGE\t%d\t%s\t%s\n", name, u.Messages, limitText(l.Messages, func(n int64) string { return strconv.FormatInt(n, 10) }), percent(u.Messages, l.Messages))
}

func limitText(n int64, f func(int64) string) string {
	if n <= 0 {
		return "-"
	}
	return f(n)
}

func percent(used, limit int64) string {
	if limit <= 0 {
		return "-"
	}
	return strconv.FormatInt(used*100/limit, 10)
}

// quotaSet writes the user's "*" rule into the passwd-file, in Dovecot's
// spelling, keeping the user's other rules; a running server reads it at
// its next check.
func quotaSet(cfg *config.Config, logger *slog.Logger, name string, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "storaged: quota set USER storage=SIZE|none messages=N|none")
		return exUsage
	}
	db, err := auth.Open(cfg.Users.File, logger)
	if err != nil {
		fmt.Fprintln(stderr, "storaged:", err)
		return exIOErr
	}
	u, ok := db.Lookup(name)
	if !ok {
		fmt.Fprintf(stderr, "storaged: no such user %q\n", name)
		return exNoUser
	}
	// The field holding the user's "*" rule, or a free one.
	key, rule := "", quota.Rule{Mailbox: "*"}
	var keys []string
	for k := range u.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		n := strings.TrimPrefix(k, "userdb_")
		if !strings.HasPrefix(n, "quota_rule") {
			continue
		}
		if r, err := quota.ParseRule(u.Extra[k]); err == nil && r.Mailbox == "*" {
			key, rule = k, r
			break
		}
	}
	if key == "" {
		key = "userdb_quota_rule"
		for i := 2; u.Extra[key] != "" || u.Extra[strings.TrimPrefix(key, "userdb_")] != ""; i++ {
			key = "userdb_quota_rule" + strconv.Itoa(i)
		}
	}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			fmt.Fprintf(stderr, "storaged: %q is not storage=SIZE or messages=N\n", a)
			return exUsage
		}
		none := v == "none" || v == "0"
		switch k {
		case "storage":
			n, err := quota.ParseSize(v)
			if err != nil && !none {
				fmt.Fprintln(stderr, "storaged:", err)
				return exUsage
			}
			rule.Storage = quota.Value{Set: true, N: n}
		case "messages":
			n, err := strconv.ParseInt(v, 10, 64)
			if (err != nil || n < 0) && !none {
				fmt.Fprintf(stderr, "storaged: %q is not a number of messages\n", v)
				return exUsage
			}
			rule.Messages = quota.Value{Set: true, N: max(n, 0)}
		default:
			fmt.Fprintf(stderr, "storaged: unknown resource %q (storage or messages)\n", k)
			return exUsage
		}
	}
	text := quota.FormatRule(rule)
	if err := db.SetExtra(u.Name, key, text); err != nil {
		fmt.Fprintln(stderr, "storaged:", err)
		return exIOErr
	}
	fmt.Fprintf(stdout, "%s: %s=%s\n", u.Name, key, text)
	return 0
}
