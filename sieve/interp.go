package sieve

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The interpreter runs a compiled script against one message. Rules it
// keeps:
//   - it never panics: a bug becomes a run-time error, and the caller
//     keeps the message;
//   - it does no I/O: mailboxes, duplicates and time come from Env;
//   - every command, test and comparison is a step, and MaxSteps bounds
//     them, so no script (include fan-out included) runs for long;
//   - actions are checked as they are added (RFC 5228 §2.10.3 merging,
//     RFC 5429 §2.1 and RFC 5230 §4.7 conflicts), so an error stops the
//     run before the result could hold a contradiction.

type ctl uint8

const (
	ctlNext ctl = iota
	ctlStop
	ctlReturn
)

// ErrLimit is wrapped by run-time errors from RunLimits.
var ErrLimit = errors.New("sieve: limit exceeded")

// ErrInternal is wrapped by the error that replaces a panic: a bug of
// ours, never the script's fault.
var ErrInternal = errors.New("sieve: internal error")

type frame struct {
	s    *Script
	vars map[string]string
}

type hfield struct {
	Field
	dec    string
	hasDec bool
}

type runner struct {
	ctx      context.Context
	env      *Env
	lim      RunLimits
	now      time.Time
	header   []hfield
	edited   bool
	msg      *Message
	res      *Result
	globals  map[string]string
	flags    []string
	matchv   []string
	steps    int
	once     map[string]bool
	depth    int
	cancel   bool // implicit keep cancelled
	rejected bool
	vacation bool
	redirs   int
	discard  bool
	body     *bodyCache
	dups     map[string]bool
	res2re   map[string]*regexp.Regexp
}

// Run executes the script against msg. A run-time error (an *Error, or
// one wrapping ErrLimit or the context's error) means the result must
// not be used: the caller keeps the message and logs the error.
func (s *Script) Run(ctx context.Context, msg *Message, env Env) (res *Result, err error) {
	if msg == nil {
		msg = &Message{}
	}
	r := &runner{ctx: ctx, env: &env, lim: env.Limits.withDefaults(), msg: msg,
		res: &Result{}, globals: map[string]string{}, once: map[string]bool{},
		dups: map[string]bool{}, res2re: map[string]*regexp.Regexp{}}
	r.now = env.Now
	if r.now.IsZero() {
		r.now = time.Now()
	}
	r.header = make([]hfield, len(msg.Header))
	for i, f := range msg.Header {
		r.header[i] = hfield{Field: f}
	}
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, &Error{Script: s.name, Msg: fmt.Sprintf("internal error running script: %v", p), err: ErrInternal}
		}
	}()
	if _, err := r.exec(s.cmds, &frame{s: s, vars: map[string]string{}}); err != nil {
		return nil, err
	}
	if !r.cancel {
		r.res.ImplicitKeep = true
		r.res.ImplicitKeepFlags = append([]string(nil), r.flags...)
	}
	if r.edited {
		r.res.Header = make([]Field, len(r.header))
		for i, f := range r.header {
			r.res.Header[i] = f.Field
		}
	}
	return r.res, nil
}

func (r *runner) step(n *cnode, fr *frame) error {
	r.steps++
	if r.steps > r.lim.MaxSteps {
		return r.fail(n, fr, fmt.Errorf("%w: the script ran more than %d steps", ErrLimit, r.lim.MaxSteps))
	}
	if r.steps&1023 == 0 {
		if err := r.ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) fail(n *cnode, fr *frame, err error) error {
	e := &Error{Script: fr.s.name, Msg: err.Error(), err: err}
	if n != nil {
		e.Line, e.Col = n.pos.Line, n.pos.Col
	}
	return e
}

func (r *runner) exec(cmds []*cnode, fr *frame) (ctl, error) {
	for _, n := range cmds {
		if err := r.step(n, fr); err != nil {
			return ctlStop, err
		}
		c, err := r.command(n, fr)
		if err != nil || c != ctlNext {
			return c, err
		}
	}
	return ctlNext, nil
}

// expand renders a template with the variables of fr, the globals and
// the match variables.
func (r *runner) expand(t tmpl, fr *frame) string {
	if s, ok := t.constant(); ok {
		return s
	}
	var b strings.Builder
	for _, p := range t.parts {
		var v string
		switch {
		case p.num >= 0:
			if p.num < len(r.matchv) {
				v = r.matchv[p.num]
			}
		case p.name != "":
			if p.global {
				v = r.globals[p.name]
			} else {
				v = fr.vars[p.name]
			}
		default:
			b.WriteString(p.lit)
			continue
		}
		if b.Len()+len(v) > r.lim.MaxStringSize {
			v = truncUTF8(v, max(0, r.lim.MaxStringSize-b.Len()))
		}
		b.WriteString(v)
	}
	return b.String()
}

func (r *runner) strs(v *cval, fr *frame) []string {
	if v == nil {
		return nil
	}
	out := make([]string, len(v.strs))
	for i, t := range v.strs {
		out[i] = r.expand(t, fr)
	}
	return out
}

func (r *runner) str(v *cval, fr *frame) string {
	if v == nil || len(v.strs) == 0 {
		return ""
	}
	return r.expand(v.strs[0], fr)
}

func (r *runner) command(n *cnode, fr *frame) (ctl, error) {
	switch n.name {
	case "if":
		ok, err := r.test(n.tests[0], fr)
		if err != nil {
			return ctlStop, err
		}
		if ok {
			return r.exec(n.block, fr)
		}
		for _, e := range n.elses {
			if e.name == "else" {
				return r.exec(e.block, fr)
			}
			if err := r.step(e, fr); err != nil {
				return ctlStop, err
			}
			ok, err := r.test(e.tests[0], fr)
			if err != nil {
				return ctlStop, err
			}
			if ok {
				return r.exec(e.block, fr)
			}
		}
		return ctlNext, nil
	case "stop":
		return ctlStop, nil
	case "return":
		if r.depth == 0 {
			return ctlStop, nil // RFC 6609 §3.3: return at top level ends the script
		}
		return ctlReturn, nil
	case "global":
		return ctlNext, nil
	case "include":
		return r.include(n, fr)
	case "set":
		v := r.str(n.args[1], fr)
		for _, m := range sortedMods(n.mods) {
			v = applyModifier(m, v)
		}
		return ctlNext, r.setVar(n, fr, n.setName, n.setGlob, v)
	case "setflag", "addflag", "removeflag":
		return ctlNext, r.flagCmd(n, fr)
	case "addheader":
		return ctlNext, r.addHeader(n, fr)
	case "deleteheader":
		return ctlNext, r.deleteHeader(n, fr)
	}
	return ctlNext, r.action(n, fr)
}

func sortedMods(m []string) []string {
	out := append([]string(nil), m...)
	sort.SliceStable(out, func(i, j int) bool { return modifierPrec[out[i]] > modifierPrec[out[j]] })
	return out
}

func (r *runner) setVar(n *cnode, fr *frame, name string, global bool, v string) error {
	v = truncUTF8(v, r.lim.MaxVariableSize)
	scope := fr.vars
	if global {
		scope = r.globals
	}
	if _, ok := scope[name]; !ok && len(scope) >= r.lim.MaxVariables {
		return r.fail(n, fr, fmt.Errorf("%w: more than %d variables", ErrLimit, r.lim.MaxVariables))
	}
	scope[name] = v
	return nil
}

func (r *runner) include(n *cnode, fr *frame) (ctl, error) {
	if n.inc == nil {
		return ctlNext, nil // :optional, and missing
	}
	if n.has("once") {
		if r.once[n.incKey] {
			return ctlNext, nil
		}
		r.once[n.incKey] = true
	}
	if r.depth+1 > fr.s.opts.MaxIncludeDepth {
		return ctlStop, r.fail(n, fr, fmt.Errorf("%w: includes nested more than %d deep", ErrLimit, fr.s.opts.MaxIncludeDepth))
	}
	r.depth++
	saved := r.matchv
	r.matchv = nil
	c, err := r.exec(n.inc.cmds, &frame{s: n.inc, vars: map[string]string{}})
	r.matchv = saved
	r.depth--
	if c == ctlReturn {
		c = ctlNext
	}
	return c, err
}

// ---- actions ----

func (r *runner) addAction(n *cnode, fr *frame, a Action) error {
	if len(r.res.Actions) >= r.lim.MaxActions {
		return r.fail(n, fr, fmt.Errorf("%w: more than %d actions", ErrLimit, r.lim.MaxActions))
	}
	r.res.Actions = append(r.res.Actions, a)
	return nil
}

// storeTarget names where a keep or fileinto stores, so that two of them
// to one mailbox are one (RFC 5228 §2.10.3); keep is INBOX, as in
// Pigeonhole.
func storeTarget(a Action) (string, bool) {
	switch a := a.(type) {
	case Keep:
		return "INBOX", true
	case FileInto:
		if strings.EqualFold(a.Mailbox, "INBOX") {
			return "INBOX", true
		}
		return a.Mailbox, true
	}
	return "", false
}

func (r *runner) delivers() (string, bool) {
	for _, a := range r.res.Actions {
		switch a.(type) {
		case Keep, FileInto:
			return "a keep or fileinto", true
		case Redirect:
			return "a redirect", true
		}
	}
	return "", false
}

func (r *runner) flagList(n *cnode, fr *frame) []string {
	if v, ok := n.tags["flags"]; ok {
		return normFlags(r.strs(v, fr))
	}
	return append([]string(nil), r.flags...)
}

func (r *runner) store(n *cnode, fr *frame, a Action) error {
	if r.rejected {
		return r.fail(n, fr, errors.New("the message was rejected: it cannot also be stored"))
	}
	t, _ := storeTarget(a)
	for i, old := range r.res.Actions {
		if ot, ok := storeTarget(old); ok && ot == t {
			// The same mailbox twice: once, with the last flags given.
			switch o := old.(type) {
			case Keep:
				o.Flags = flagsOf(a)
				r.res.Actions[i] = o
			case FileInto:
				o.Flags = flagsOf(a)
				if f, ok := a.(FileInto); ok {
					o.Create = o.Create || f.Create
					o.Copy = o.Copy && f.Copy
				}
				r.res.Actions[i] = o
			}
			return nil
		}
	}
	return r.addAction(n, fr, a)
}

func flagsOf(a Action) []string {
	switch a := a.(type) {
	case Keep:
		return a.Flags
	case FileInto:
		return a.Flags
	}
	return nil
}

func (r *runner) action(n *cnode, fr *frame) error {
	switch n.name {
	case "keep":
		r.cancel = true
		return r.store(n, fr, Keep{Flags: r.flagList(n, fr)})
	case "fileinto":
		mb := r.str(n.args[0], fr)
		if mb == "" {
			return r.fail(n, fr, errors.New("fileinto: the folder name is empty"))
		}
		if !n.has("copy") {
			r.cancel = true
		}
		return r.store(n, fr, FileInto{Mailbox: mb, Flags: r.flagList(n, fr), Copy: n.has("copy"), Create: n.has("create")})
	case "redirect":
		raw := r.str(n.args[0], fr)
		a, err := parseRedirect(raw)
		if err != nil {
			return r.fail(n, fr, fmt.Errorf("redirect: %q is not a valid mail address", raw))
		}
		if r.rejected {
			return r.fail(n, fr, errors.New("the message was rejected: it cannot also be redirected"))
		}
		if !n.has("copy") {
			r.cancel = true
		}
		for i, old := range r.res.Actions {
			if o, ok := old.(Redirect); ok && sameAddress(o.Address, a) {
				o.Copy = o.Copy && n.has("copy")
				r.res.Actions[i] = o
				return nil
			}
		}
		if r.redirs >= r.lim.MaxRedirects {
			return r.fail(n, fr, fmt.Errorf("%w: more than %d redirects", ErrLimit, r.lim.MaxRedirects))
		}
		r.redirs++
		return r.addAction(n, fr, Redirect{Address: a, Copy: n.has("copy")})
	case "discard":
		r.cancel = true
		if r.discard {
			return nil
		}
		r.discard = true
		return r.addAction(n, fr, Discard{})
	case "reject", "ereject":
		// RFC 5429 §2.1: reject goes with no delivery, no other reject and
		// no vacation; Pigeonhole refuses the same combinations.
		if r.rejected {
			return r.fail(n, fr, errors.New("only one reject or ereject may run"))
		}
		if what, ok := r.delivers(); ok {
			return r.fail(n, fr, fmt.Errorf("%s cannot reject the message after %s", n.name, what))
		}
		if r.vacation {
			return r.fail(n, fr, fmt.Errorf("%s cannot be used with vacation", n.name))
		}
		r.rejected, r.cancel = true, true
		return r.addAction(n, fr, Reject{Reason: r.str(n.args[0], fr), Extended: n.name == "ereject"})
	case "vacation":
		return r.vacationAction(n, fr)
	}
	return r.fail(n, fr, fmt.Errorf("command %q is not implemented", n.name))
}

func sameAddress(a, b string) bool {
	ia, ib := strings.LastIndexByte(a, '@'), strings.LastIndexByte(b, '@')
	if ia < 0 || ib < 0 {
		return a == b
	}
	return a[:ia] == b[:ib] && strings.EqualFold(a[ia:], b[ib:])
}

func (r *runner) vacationAction(n *cnode, fr *frame) error {
	if r.vacation {
		return r.fail(n, fr, errors.New("vacation may run only once"))
	}
	if r.rejected {
		return r.fail(n, fr, errors.New("vacation cannot be used with reject"))
	}
	v := Vacation{Reason: r.str(n.args[0], fr), Subject: r.str(n.tags["subject"], fr),
		From: r.str(n.tags["from"], fr), Addresses: r.strs(n.tags["addresses"], fr), MIME: n.has("mime")}
	switch {
	case n.has("seconds"):
		v.Period = time.Duration(n.tags["seconds"].num) * time.Second
	case n.has("days"):
		v.Period = time.Duration(max(1, n.tags["days"].num)) * 24 * time.Hour
	default:
		v.Period = 7 * 24 * time.Hour // RFC 5230 §4.1 suggests 7
	}
	if h, ok := n.tags["handle"]; ok {
		v.Handle = r.str(h, fr)
	} else {
		// RFC 5230 §4.2: without :handle, the reply's content identifies
		// it; the layout is Pigeonhole's, so migrated memories still match.
		subject, from := v.Subject, v.From
		if subject == "" {
			subject = "<default-subject>"
		}
		if from == "" {
			from = "<default-from>"
		}
		mimeMark := "<NO-MIME>"
		if v.MIME {
			mimeMark = "<MIME>"
		}
		v.Handle = v.Reason + subject + from + mimeMark
	}
	r.vacation = true
	return r.addAction(n, fr, v)
}

// ---- imap4flags (RFC 5232) ----

var systemFlags = map[string]string{"\\seen": "\\Seen", "\\answered": "\\Answered",
	"\\flagged": "\\Flagged", "\\deleted": "\\Deleted", "\\draft": "\\Draft"}

// normFlags splits flag strings at spaces and drops duplicates; system
// flags get their usual spelling and unknown "\" flags are dropped, as
// RFC 5232 §3 allows and Pigeonhole does.
func normFlags(list []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range list {
		for _, f := range strings.Fields(s) {
			k := strings.ToLower(f)
			if strings.HasPrefix(f, "\\") {
				sf, ok := systemFlags[k]
				if !ok {
					continue
				}
				f = sf
			}
			if !seen[k] {
				seen[k] = true
				out = append(out, f)
			}
		}
	}
	return out
}

func (r *runner) flagCmd(n *cnode, fr *frame) error {
	list := normFlags(r.strs(n.args[1], fr))
	var cur []string
	varName := ""
	if n.args[0] != nil {
		varName = strings.ToLower(r.str(n.args[0], fr))
		if !isIdent(varName) {
			return r.fail(n, fr, fmt.Errorf("%q is not a valid variable name", varName))
		}
		cur = normFlags([]string{fr.vars[varName]})
	} else {
		cur = r.flags
	}
	switch n.name {
	case "setflag":
		cur = list
	case "addflag":
		cur = normFlags([]string{strings.Join(cur, " "), strings.Join(list, " ")})
	case "removeflag":
		drop := map[string]bool{}
		for _, f := range list {
			drop[strings.ToLower(f)] = true
		}
		var keep []string
		for _, f := range cur {
			if !drop[strings.ToLower(f)] {
				keep = append(keep, f)
			}
		}
		cur = keep
	}
	if varName != "" {
		return r.setVar(n, fr, varName, false, strings.Join(cur, " "))
	}
	r.flags = cur
	return nil
}

// ---- editheader (RFC 5293) ----

// protectedHeader: RFC 5293 §6 leaves it to the implementation to
// refuse edits that hide a message's history; like Pigeonhole, Received
// and Auto-Submitted cannot be added or deleted. Such edits are ignored.
func protectedHeader(name string) bool {
	return strings.EqualFold(name, "received") || strings.EqualFold(name, "auto-submitted")
}

func (r *runner) addHeader(n *cnode, fr *frame) error {
	name := r.str(n.args[0], fr)
	if !validHeaderName(name) {
		return r.fail(n, fr, fmt.Errorf("addheader: %q is not a valid header field name", name))
	}
	if protectedHeader(name) {
		return nil
	}
	val := r.str(n.args[1], fr)
	val = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(val)
	if !isASCII(val) {
		val = mime.QEncoding.Encode("utf-8", val)
	}
	f := hfield{Field: Field{Name: name, Value: val}}
	if n.has("last") {
		r.header = append(r.header, f)
	} else {
		r.header = append([]hfield{f}, r.header...)
	}
	r.edited = true
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func (r *runner) deleteHeader(n *cnode, fr *frame) error {
	name := r.str(n.args[0], fr)
	if !validHeaderName(name) {
		return r.fail(n, fr, fmt.Errorf("deleteheader: %q is not a valid header field name", name))
	}
	if protectedHeader(name) {
		return nil
	}
	idx := r.fieldIndexes(name, n)
	var keys []string
	if n.args[1] != nil {
		keys = r.strs(n.args[1], fr)
	}
	del := map[int]bool{}
	for _, i := range idx {
		if n.args[1] != nil {
			if err := r.step(n, fr); err != nil {
				return err
			}
			ok, err := r.matchValues(n, fr, []string{r.decoded(i)}, keys)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
		}
		del[i] = true
	}
	if len(del) == 0 {
		return nil
	}
	out := r.header[:0:0]
	for i, f := range r.header {
		if !del[i] {
			out = append(out, f)
		}
	}
	r.header = out
	r.edited = true
	return nil
}

// fieldIndexes returns the positions of the fields named name, narrowed
// by :index and :last (RFC 5260 §6).
func (r *runner) fieldIndexes(name string, n *cnode) []int {
	var idx []int
	for i, f := range r.header {
		if strings.EqualFold(f.Name, name) {
			idx = append(idx, i)
		}
	}
	if v, ok := n.tags["index"]; ok {
		k := int(min(v.num, int64(len(idx)+1))) - 1
		if n.has("last") {
			k = len(idx) - 1 - k
		}
		if k < 0 || k >= len(idx) {
			return nil
		}
		return idx[k : k+1]
	}
	return idx
}

func (r *runner) decoded(i int) string {
	f := &r.header[i]
	if !f.hasDec {
		f.dec, f.hasDec = decodeHeader(f.Value), true
	}
	return f.dec
}

// ---- tests ----

func (r *runner) test(n *cnode, fr *frame) (bool, error) {
	if err := r.step(n, fr); err != nil {
		return false, err
	}
	switch n.name {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "not":
		ok, err := r.test(n.tests[0], fr)
		return !ok, err
	case "allof", "anyof":
		want := n.name == "anyof"
		for _, t := range n.tests {
			ok, err := r.test(t, fr)
			if err != nil || ok == want {
				return want, err
			}
		}
		return !want, nil
	case "exists":
		for _, h := range r.strs(n.args[0], fr) {
			found := false
			for _, f := range r.header {
				if strings.EqualFold(f.Name, h) {
					found = true
					break
				}
			}
			if !found {
				return false, nil
			}
		}
		return true, nil
	case "size":
		size := r.msg.Size
		if size == 0 {
			for _, f := range r.msg.Header {
				size += int64(len(f.Raw))
			}
			size += 2 + int64(len(r.msg.Body))
		}
		if n.has("over") {
			return size > n.args[0].num, nil
		}
		return size < n.args[0].num, nil
	case "header":
		var vals []string
		for _, h := range r.strs(n.args[0], fr) {
			for _, i := range r.fieldIndexes(h, n) {
				vals = append(vals, r.decoded(i))
			}
		}
		return r.matchValues(n, fr, vals, r.strs(n.args[1], fr))
	case "address":
		var vals []string
		part := addrPart(n)
		for _, h := range r.strs(n.args[0], fr) {
			for _, i := range r.fieldIndexes(h, n) {
				for _, a := range parseAddresses(r.header[i].Value) {
					if v, ok := a.part(part, fr.s.opts.SubaddressSeparator); ok {
						vals = append(vals, v)
					}
				}
			}
		}
		return r.matchValues(n, fr, vals, r.strs(n.args[1], fr))
	case "envelope":
		var vals []string
		part := addrPart(n)
		for _, p := range r.strs(n.args[0], fr) {
			var raw string
			switch strings.ToLower(p) {
			case "from":
				raw = r.env.From
			case "to":
				raw = r.env.To
				if raw == "" {
					continue
				}
			case "orig_to":
				raw = r.env.OrigTo
				if raw == "" {
					continue
				}
			case "auth":
				raw = r.env.Auth
				if raw == "" {
					continue
				}
			default:
				continue
			}
			if v, ok := parsePath(raw).part(part, fr.s.opts.SubaddressSeparator); ok {
				vals = append(vals, v)
			}
		}
		return r.matchValues(n, fr, vals, r.strs(n.args[1], fr))
	case "string":
		vals := r.strs(n.args[0], fr)
		if n.m.mt == mCount {
			var nonEmpty []string
			for _, v := range vals {
				if v != "" {
					nonEmpty = append(nonEmpty, v)
				}
			}
			vals = nonEmpty
		}
		return r.matchValues(n, fr, vals, r.strs(n.args[1], fr))
	case "hasflag":
		cur := r.flags
		if n.args[0] != nil {
			var all []string
			for _, v := range r.strs(n.args[0], fr) {
				all = append(all, fr.vars[strings.ToLower(v)])
			}
			cur = normFlags(all)
		}
		return r.matchValues(n, fr, cur, r.strs(n.args[1], fr))
	case "mailboxexists":
		for _, mb := range r.strs(n.args[0], fr) {
			if r.env.MailboxExists == nil || !r.env.MailboxExists(mb) {
				return false, nil
			}
		}
		return true, nil
	case "body":
		return r.bodyTest(n, fr)
	case "date", "currentdate":
		return r.dateTest(n, fr)
	case "duplicate":
		return r.duplicate(n, fr)
	case "environment":
		name := strings.ToLower(r.str(n.args[0], fr))
		v, ok := r.env.Environment[name]
		if !ok {
			v, ok = defaultEnvironment[name]
		}
		var vals []string
		if ok {
			vals = []string{v}
		}
		return r.matchValues(n, fr, vals, r.strs(n.args[1], fr))
	case "spamtest", "virustest":
		v := scoreValue(r, n.name == "virustest", n.has("percent"))
		return r.matchValues(n, fr, []string{v}, r.strs(n.args[0], fr))
	}
	return false, r.fail(n, fr, fmt.Errorf("test %q is not implemented", n.name))
}

var defaultEnvironment = map[string]string{"name": "storaged", "phase": "during"}

func addrPart(n *cnode) string {
	for _, p := range []string{"localpart", "domain", "user", "detail"} {
		if n.has(p) {
			return p
		}
	}
	return "all"
}

// matchValues is the heart of every comparing test: values against keys
// under the test's match type and comparator. A successful :matches or
// :regex sets the match variables (RFC 5229 §3.2); a failed one leaves
// them as they were.
func (r *runner) matchValues(n *cnode, fr *frame, vals, keys []string) (bool, error) {
	m := n.m
	if m.mt == mCount {
		cnt := strconv.Itoa(len(vals))
		for _, k := range keys {
			if m.rel.holds(compare(m.cmp, cnt, k)) {
				return true, nil
			}
		}
		return false, nil
	}
	var caps []string
	wantCaps := m.mt == mMatches || m.mt == mRegex
	for _, v := range vals {
		for i, k := range keys {
			if err := r.step(n, fr); err != nil {
				return false, err
			}
			var re *regexp.Regexp
			if m.mt == mRegex {
				if i < len(m.re) && m.re[i] != nil {
					re = m.re[i]
				} else {
					var err error
					if re, err = r.regex(m.cmp, k); err != nil {
						return false, r.fail(n, fr, fmt.Errorf("invalid regular expression %q: %v", k, err))
					}
				}
			}
			var cp *[]string
			if wantCaps {
				cp = &caps
			}
			if m.matchOne(v, k, re, cp) {
				if wantCaps {
					r.matchv = caps
				}
				return true, nil
			}
		}
	}
	return false, nil
}

func (r *runner) regex(c comparator, k string) (*regexp.Regexp, error) {
	key := strconv.Itoa(int(c)) + k
	if re, ok := r.res2re[key]; ok {
		return re, nil
	}
	if len(k) > 4096 {
		return nil, errors.New("expression too long")
	}
	re, err := compileRegex(c, k)
	if err != nil {
		return nil, err
	}
	if len(r.res2re) < 64 {
		r.res2re[key] = re
	}
	return re, nil
}

func (r *runner) dateTest(n *cnode, fr *frame) (bool, error) {
	zone := r.now.Location()
	orig := false
	if v, ok := n.tags["zone"]; ok {
		z, ok := parseZone(r.str(v, fr))
		if !ok {
			return false, r.fail(n, fr, fmt.Errorf(":zone %q is not a zone like \"+0100\"", r.str(v, fr)))
		}
		zone = z
	}
	if n.has("originalzone") {
		orig = true
	}
	var t time.Time
	var part string
	var keys []string
	if n.name == "currentdate" {
		t = r.now.In(zone)
		part, keys = r.str(n.args[0], fr), r.strs(n.args[1], fr)
	} else {
		h := r.str(n.args[0], fr)
		part, keys = r.str(n.args[1], fr), r.strs(n.args[2], fr)
		idx := r.fieldIndexes(h, n)
		if len(idx) == 0 {
			return r.matchValues(n, fr, nil, keys)
		}
		var ok bool
		t, ok = headerDate(h, r.decoded(idx[0]))
		if !ok {
			return r.matchValues(n, fr, nil, keys)
		}
		if !orig {
			t = t.In(zone)
		}
	}
	if !dateParts[strings.ToLower(part)] {
		return false, r.fail(n, fr, fmt.Errorf("unknown date part %q", part))
	}
	return r.matchValues(n, fr, []string{datePart(t, part)}, keys)
}

// duplicate is RFC 7352 §3: the id is the Message-ID unless :header or
// :uniqueid say otherwise; a message without one is never a duplicate.
func (r *runner) duplicate(n *cnode, fr *frame) (bool, error) {
	var id string
	switch {
	case n.has("uniqueid"):
		id = r.str(n.tags["uniqueid"], fr)
	default:
		h := "message-id"
		if v, ok := n.tags["header"]; ok {
			h = r.str(v, fr)
		}
		idx := r.fieldIndexes(h, &cnode{})
		if len(idx) == 0 {
			return false, nil
		}
		id = strings.TrimSpace(r.decoded(idx[0]))
		if strings.EqualFold(h, "message-id") {
			id = strings.TrimSpace(strings.Trim(id, "<>"))
		}
		if id == "" {
			return false, nil
		}
	}
	handle := r.str(n.tags["handle"], fr)
	sum := sha256.Sum256([]byte(handle + "\x00" + id))
	key := hex.EncodeToString(sum[:])
	period := 12 * time.Hour // Pigeonhole's sieve_duplicate_default_period
	if v, ok := n.tags["seconds"]; ok {
		period = time.Duration(v.num) * time.Second
	}
	if seen, ok := r.dups[key]; ok {
		return seen, nil
	}
	seen := false
	if r.env.Duplicates != nil {
		var err error
		if seen, err = r.env.Duplicates.Seen(r.ctx, key); err != nil {
			return false, r.fail(n, fr, fmt.Errorf("duplicate: %w", err))
		}
	}
	r.dups[key] = seen
	if !seen || n.has("last") {
		r.res.Duplicates = append(r.res.Duplicates, DuplicateMark{Key: key, Period: period, Last: n.has("last")})
	}
	return seen, nil
}
