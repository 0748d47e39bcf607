package quota

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ErrOverQuota is what every refusal Is: IMAP answers NO [OVERQUOTA],
// LMTP 552 5.2.2 (RFC 3463: mailbox full).
var ErrOverQuota = errors.New("quota exceeded")

// Resource names, as RFC 9208 §5 spells them.
const (
	Storage = "STORAGE"
	Message = "MESSAGE"
)

// Exceeded says which limit a change would pass.
type Exceeded struct {
	Resource string
	Used     int64 // before the change
	Add      int64
	Limit    int64
}

func (e *Exceeded) Error() string {
	if e.Resource == Storage {
		return fmt.Sprintf("quota exceeded: storage %s used + %s > %s", FormatSize(e.Used), FormatSize(e.Add), FormatSize(e.Limit))
	}
	return fmt.Sprintf("quota exceeded: %d messages + %d > %d", e.Used, e.Add, e.Limit)
}

func (e *Exceeded) Is(target error) bool { return target == ErrOverQuota }

// Usage is what a user's store holds, in canonical octets and messages.
type Usage struct {
	Storage  int64
	Messages int64
}

// Limits are one user's limits. The zero value has none.
type Limits struct {
	Storage  int64 // octets; 0: none
	Messages int64 // 0: none
	// Rules for single mailboxes, in the order given.
	Rules []Rule
}

// Rule is one mailbox's rule: "Trash:storage=+100M", "Spam:ignore".
type Rule struct {
	Mailbox  string
	Ignore   bool
	Storage  Value
	Messages Value
}

// Value is a rule's limit: absolute, relative to the user's ("+100M",
// "-10%"), or absent.
type Value struct {
	Set      bool
	Relative bool  // N adds to (or, negative, takes from) the user's limit
	Percent  bool  // N is a percentage of the user's limit
	N        int64 // octets, messages or percent
}

func (v Value) apply(base int64) int64 {
	if !v.Set {
		return base
	}
	n := v.N
	if v.Percent {
		if base == 0 {
			return 0
		}
		n = base * v.N / 100
		if !v.Relative {
			return max(n, 0)
		}
	}
	if v.Relative {
		if base == 0 {
			return 0 // relative to no limit is still none
		}
		return max(base+n, 1)
	}
	return max(n, 0)
}

// None reports whether the limits limit nothing.
func (l Limits) None() bool {
	if l.Storage > 0 || l.Messages > 0 {
		return false
	}
	for _, r := range l.Rules {
		if r.Storage.Set && !r.Storage.Relative && r.Storage.N > 0 || r.Messages.Set && !r.Messages.Relative && r.Messages.N > 0 {
			return false
		}
	}
	return true
}

func (l Limits) rule(mailbox string) *Rule {
	for i := range l.Rules {
		if mailboxEqual(l.Rules[i].Mailbox, mailbox) {
			return &l.Rules[i]
		}
	}
	return nil
}

// mailboxEqual compares names as IMAP does: INBOX in any case is INBOX.
func mailboxEqual(a, b string) bool {
	if strings.EqualFold(a, "INBOX") && strings.EqualFold(b, "INBOX") {
		return true
	}
	return a == b
}

// Ignored reports whether a mailbox is kept out of usage.
func (l Limits) Ignored(mailbox string) bool {
	r := l.rule(mailbox)
	return r != nil && r.Ignore
}

// IgnoredMailboxes lists the mailboxes kept out of usage.
func (l Limits) IgnoredMailboxes() []string {
	var out []string
	for _, r := range l.Rules {
		if r.Ignore {
			out = append(out, r.Mailbox)
		}
	}
	return out
}

// For returns the limits that apply while saving into mailbox.
func (l Limits) For(mailbox string) (storage, messages int64) {
	storage, messages = l.Storage, l.Messages
	if r := l.rule(mailbox); r != nil {
		storage, messages = r.Storage.apply(storage), r.Messages.apply(messages)
	}
	return storage, messages
}

// Check decides whether adding add to u, saving into mailbox, fits. It
// refuses only a change that raises usage past a limit.
func (l Limits) Check(u Usage, mailbox string, add Usage) error {
	if l.Ignored(mailbox) {
		return nil
	}
	storage, messages := l.For(mailbox)
	if storage > 0 && add.Storage > 0 && u.Storage+add.Storage > storage {
		return &Exceeded{Resource: Storage, Used: u.Storage, Add: add.Storage, Limit: storage}
	}
	if messages > 0 && add.Messages > 0 && u.Messages+add.Messages > messages {
		return &Exceeded{Resource: Message, Used: u.Messages, Add: add.Messages, Limit: messages}
	}
	return nil
}

// Full reports whether nothing more fits into mailbox: what LMTP's
// check at RCPT time refuses before the size is known.
func (l Limits) Full(u Usage, mailbox string) bool {
	return l.Check(u, mailbox, Usage{Storage: 1, Messages: 1}) != nil
}

// Percent is the highest share of a limit the usage takes, in percent
// (0 without limits).
func (l Limits) Percent(u Usage) int {
	p := 0
	if l.Storage > 0 {
		p = max(p, int(u.Storage*100/l.Storage))
	}
	if l.Messages > 0 {
		p = max(p, int(u.Messages*100/l.Messages))
	}
	return p
}

// Crossed returns the highest threshold (percent) that usage crosses
// upwards from before to after, or 0.
func (l Limits) Crossed(before, after Usage, thresholds []int) int {
	b, a := l.Percent(before), l.Percent(after)
	best := 0
	for _, t := range thresholds {
		if t > 0 && b < t && a >= t && t > best {
			best = t
		}
	}
	return best
}

// FromFields applies a user's extra fields from the passwd-file over the
// defaults: quota_rule, quota_rule2, … (with or without Dovecot's
// userdb_ prefix). A "*" rule sets the user's limits; one for a mailbox
// adds a mailbox rule.
func FromFields(def Limits, fields map[string]string) (Limits, error) {
	var keys []string
	for k := range fields {
		name := strings.TrimPrefix(k, "userdb_")
		if n, ok := strings.CutPrefix(name, "quota_rule"); ok && (n == "" || isDigits(n)) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return def, nil
	}
	// quota_rule before quota_rule2 before quota_rule10; a userdb_ field
	// after the same one without the prefix.
	sort.Slice(keys, func(i, j int) bool {
		ni, nj := ruleNumber(keys[i]), ruleNumber(keys[j])
		if ni != nj {
			return ni < nj
		}
		return keys[i] < keys[j]
	})
	l := Limits{Storage: def.Storage, Messages: def.Messages, Rules: append([]Rule(nil), def.Rules...)}
	for _, k := range keys {
		r, err := ParseRule(fields[k])
		if err != nil {
			return def, fmt.Errorf("%s: %w", k, err)
		}
		if r.Mailbox == "*" {
			l.Storage = r.Storage.apply(l.Storage)
			l.Messages = r.Messages.apply(l.Messages)
			continue
		}
		l.Rules = setRule(l.Rules, r)
	}
	return l, nil
}

func setRule(rules []Rule, r Rule) []Rule {
	for i := range rules {
		if mailboxEqual(rules[i].Mailbox, r.Mailbox) {
			rules[i] = r
			return rules
		}
	}
	return append(rules, r)
}

func ruleNumber(k string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(strings.TrimPrefix(k, "userdb_"), "quota_rule"))
	return n
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// ParseRule reads one rule as Dovecot writes it: "MAILBOX:ignore" or
// "MAILBOX:NAME=VALUE[:NAME=VALUE]", MAILBOX "*" for the user, NAME one
// of storage (kilobytes unless a unit is given, as in Dovecot), bytes,
// messages; VALUE absolute, "+N"/"-N" relative, "N%" of the user's
// limit; "none" or 0 for no limit.
func ParseRule(s string) (Rule, error) {
	// A mailbox name may hold ':'; the settings after it never do.
	mbox, rest := "", ""
	for j := 0; j < len(s); j++ {
		if s[j] == ':' && j > 0 && isSettings(s[j+1:]) {
			mbox, rest = s[:j], s[j+1:]
			break
		}
	}
	if mbox == "" {
		return Rule{}, fmt.Errorf("quota rule %q: want MAILBOX:storage=SIZE, MAILBOX:messages=N or MAILBOX:ignore", s)
	}
	r := Rule{Mailbox: mbox}
	for _, part := range strings.Split(rest, ":") {
		part = strings.TrimSpace(part)
		if strings.EqualFold(part, "ignore") {
			r.Ignore = true
			continue
		}
		name, val, ok := strings.Cut(part, "=")
		if !ok {
			return Rule{}, fmt.Errorf("quota rule %q: %q is not NAME=VALUE", s, part)
		}
		var err error
		switch strings.ToLower(name) {
		case "storage":
			r.Storage, err = parseValue(val, 1024)
		case "bytes":
			r.Storage, err = parseValue(val, 1)
		case "messages":
			r.Messages, err = parseValue(val, 0)
		default:
			return Rule{}, fmt.Errorf("quota rule %q: unknown limit %q (storage, bytes or messages)", s, name)
		}
		if err != nil {
			return Rule{}, fmt.Errorf("quota rule %q: %w", s, err)
		}
	}
	if r.Ignore && r.Mailbox == "*" {
		return Rule{}, fmt.Errorf("quota rule %q: \"*\" cannot be ignored; use storage=0", s)
	}
	return r, nil
}

func isSettings(s string) bool {
	for _, part := range strings.Split(s, ":") {
		name, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(part)), "=")
		switch name {
		case "ignore", "storage", "bytes", "messages":
		default:
			return false
		}
	}
	return true
}

// parseValue reads a rule's value; unit is the multiplier of a bare
// number (1024 for storage, 1 for bytes, 0 for a count, which takes no
// unit).
func parseValue(s string, unit int64) (Value, error) {
	s = strings.TrimSpace(s)
	v := Value{Set: true}
	if strings.EqualFold(s, "none") || strings.EqualFold(s, "unlimited") {
		return v, nil
	}
	if s != "" && (s[0] == '+' || s[0] == '-') {
		v.Relative = true
	}
	num := strings.TrimLeft(s, "+-")
	if p, ok := strings.CutSuffix(num, "%"); ok {
		v.Percent = true
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n < 0 {
			return Value{}, fmt.Errorf("%q is not a percentage", s)
		}
		v.N = n
	} else if unit == 0 {
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n < 0 {
			return Value{}, fmt.Errorf("%q is not a number of messages", s)
		}
		v.N = n
	} else {
		n, err := parseSize(num, unit)
		if err != nil {
			return Value{}, err
		}
		v.N = n
	}
	if strings.HasPrefix(s, "-") {
		v.N = -v.N
	}
	return v, nil
}

// ParseSize reads a size for the command line and config: "10G", "100M",
// "512k", "2T", "1048576" (octets), binary units.
func ParseSize(s string) (int64, error) { return parseSize(strings.TrimSpace(s), 1) }

func parseSize(s string, bare int64) (int64, error) {
	t := strings.ToUpper(s)
	mult := bare
	switch {
	case strings.HasSuffix(t, "IB"): // KiB, MiB
		t = t[:len(t)-2]
	case len(t) >= 2 && t[len(t)-1] == 'B' && strings.IndexByte("KMGT", t[len(t)-2]) >= 0: // KB, MB
		t = t[:len(t)-1]
	case strings.HasSuffix(t, "B"): // 100B: octets
		t, mult = t[:len(t)-1], 1
	}
	if t != "" {
		if i := strings.IndexByte("KMGT", t[len(t)-1]); i >= 0 {
			mult, t = 1<<(10*(i+1)), t[:len(t)-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size like 100M, 10G or 1048576", s)
	}
	return n * mult, nil
}

// FormatSize prints octets in the largest binary unit that keeps one
// decimal: 1.5G, 100M, 12K, 900B.
func FormatSize(n int64) string {
	for _, u := range []struct {
		s string
		n int64
	}{{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if n >= u.n {
			if n%u.n == 0 || n >= 100*u.n {
				return strconv.FormatInt(n/u.n, 10) + u.s
			}
			return strconv.FormatFloat(float64(n)/float64(u.n), 'f', 1, 64) + u.s
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// FormatRule writes a rule as ParseRule reads it (and Dovecot too).
func FormatRule(r Rule) string {
	if r.Ignore {
		return r.Mailbox + ":ignore"
	}
	s := r.Mailbox
	if r.Storage.Set {
		s += ":" + formatValue(r.Storage, true)
	}
	if r.Messages.Set {
		s += ":" + formatValue(r.Messages, false)
	}
	return s
}

func formatValue(v Value, storage bool) string {
	name := "messages="
	if storage {
		name = "storage="
	}
	sign := ""
	n := v.N
	if v.Relative {
		sign = "+"
		if n < 0 {
			sign, n = "-", -n
		}
	}
	switch {
	case v.Percent:
		return name + sign + strconv.FormatInt(n, 10) + "%"
	case !storage:
		return name + sign + strconv.FormatInt(n, 10)
	case n == 0:
		return name + "0"
	}
	for _, u := range []struct {
		s string
		n int64
	}{{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"k", 1 << 10}} {
		if n%u.n == 0 {
			return name + sign + strconv.FormatInt(n/u.n, 10) + u.s
		}
	}
	return "bytes=" + sign + strconv.FormatInt(n, 10)
}
