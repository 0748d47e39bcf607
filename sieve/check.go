package sieve

import (
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// The checker turns the syntax tree into cnodes the interpreter runs:
// it knows the command table (spec.go), the require list, and the rules
// each extension adds. Every error names what to change, in the words a
// user editing the script can act on.

// cval is one checked argument.
type cval struct {
	pos  Pos
	num  int64
	strs []tmpl
	raw  []string // the strings as written (escapes and encoded characters applied)
	spos []Pos
}

type cnode struct {
	name  string
	pos   Pos
	tags  map[string]*cval
	args  []*cval
	tests []*cnode
	block []*cnode
	elses []*cnode // for if: the elsif and else branches, in order
	m     *matcher
	// include
	inc     *Script
	incKey  string
	setName string
	setGlob bool
	mods    []string
}

func (n *cnode) has(tag string) bool { _, ok := n.tags[tag]; return ok }

type checker struct {
	ic      *includeCtx
	s       *Script
	depth   int
	globals map[string]bool
	other   bool // a command other than require has been seen
}

func (c *checker) enabled(ext string) bool {
	if c.ic.opts.Extensions == nil {
		for _, e := range Extensions {
			if e == ext {
				return true
			}
		}
		return false
	}
	for _, e := range c.ic.opts.Extensions {
		if strings.EqualFold(e, ext) {
			return true
		}
	}
	return false
}

func (c *checker) has(ext string) bool { return c.s.requires[ext] }

func (c *checker) commands(ns []*node, top bool) ([]*cnode, error) {
	var out []*cnode
	for _, n := range ns {
		if n.name == "require" {
			if !top || c.other {
				return nil, errAt(n.pos, "require must come at the beginning of the script, before any other command")
			}
			if err := c.require(n); err != nil {
				return nil, err
			}
			continue
		}
		c.other = true
		cn, err := c.node(n, false)
		if err != nil {
			return nil, err
		}
		if cn.name == "elsif" || cn.name == "else" {
			var prev *cnode
			if len(out) > 0 {
				prev = out[len(out)-1]
			}
			if prev == nil || prev.name != "if" || (len(prev.elses) > 0 && prev.elses[len(prev.elses)-1].name == "else") {
				return nil, errAt(n.pos, "'%s' must follow an 'if' or 'elsif' block", cn.name)
			}
			prev.elses = append(prev.elses, cn)
			continue
		}
		out = append(out, cn)
	}
	return out, nil
}

func (c *checker) require(n *node) error {
	if len(n.args) != 1 || n.args[0].kind != aStrings || len(n.tests) > 0 || n.hasBlock {
		return errAt(n.pos, "require takes one string or string list of extension names, like require [\"fileinto\", \"vacation\"];")
	}
	a := n.args[0]
	for i, ext := range a.strs {
		ext = strings.ToLower(ext)
		if !c.enabled(ext) {
			return errAt(a.strPos[i], "the Sieve extension \"%s\" is not supported here", a.strs[i])
		}
		c.s.requires[ext] = true
		for _, x := range implied[ext] {
			c.s.requires[x] = true
		}
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (c *checker) node(n *node, test bool) (*cnode, error) {
	sp, ok := specs[n.name]
	if !ok {
		if test {
			return nil, errAt(n.pos, "unknown test '%s'", n.name)
		}
		return nil, errAt(n.pos, "unknown command '%s'", n.name)
	}
	if sp.test != test {
		if test {
			return nil, errAt(n.pos, "'%s' is a command, not a test", n.name)
		}
		return nil, errAt(n.pos, "'%s' is a test, not a command: use it in an if, like if %s ... { ... }", n.name, n.name)
	}
	if len(sp.exts) > 0 {
		ok := false
		for _, e := range sp.exts {
			ok = ok || c.has(e)
		}
		if !ok {
			what := "command"
			if test {
				what = "test"
			}
			return nil, errAt(n.pos, "the %s '%s' needs require \"%s\"; at the top of the script", what, n.name, sp.exts[0])
		}
	}
	cn := &cnode{name: n.name, pos: n.pos, tags: map[string]*cval{}}
	groups := map[string]string{}
	var pos []*arg
	for i := 0; i < len(n.args); i++ {
		a := n.args[i]
		if a.kind != aTag {
			pos = append(pos, a)
			continue
		}
		ts, ok := sp.tags[a.tag]
		if !ok {
			return nil, errAt(a.pos, "'%s' has no tag :%s", n.name, a.tag)
		}
		if ts.ext != "" && !c.has(ts.ext) && !(a.tag == "percent" && c.has("spamtestplus")) {
			return nil, errAt(a.pos, "the tag :%s needs require \"%s\"; at the top of the script", a.tag, ts.ext)
		}
		if len(pos) > 0 {
			return nil, errAt(a.pos, "the tag :%s must come before the other arguments of '%s'", a.tag, n.name)
		}
		if _, dup := cn.tags[a.tag]; dup {
			return nil, errAt(a.pos, "the tag :%s is given twice", a.tag)
		}
		if ts.group != "" {
			if prev, ok := groups[ts.group]; ok {
				return nil, errAt(a.pos, "the tags :%s and :%s cannot be used together", prev, a.tag)
			}
			groups[ts.group] = a.tag
		}
		v := &cval{pos: a.pos}
		if ts.has {
			if i+1 >= len(n.args) || n.args[i+1].kind == aTag {
				return nil, errAt(a.pos, "the tag :%s must be followed by %s", a.tag, kindName(ts.param))
			}
			i++
			p := n.args[i]
			var err error
			if v, err = c.value(p, ts.param, ":"+a.tag); err != nil {
				return nil, err
			}
		}
		cn.tags[a.tag] = v
	}
	min, max := len(sp.pos)-sp.opt, len(sp.pos)
	if len(pos) < min || len(pos) > max {
		want := fmt.Sprintf("%d", max)
		if min != max {
			want = fmt.Sprintf("%d or %d", min, max)
		}
		p := n.pos
		if len(pos) > max {
			p = pos[max].pos
		}
		return nil, errAt(p, "'%s' takes %s %s, not %d", n.name, want, plural(max, "argument", "arguments"), len(pos))
	}
	kinds := sp.pos
	cn.args = make([]*cval, len(sp.pos))
	skip := 0
	if len(pos) < max && sp.lead {
		skip = max - len(pos)
	}
	for i, a := range pos {
		v, err := c.value(a, kinds[i+skip], "")
		if err != nil {
			return nil, err
		}
		cn.args[i+skip] = v
	}
	switch {
	case sp.tests == 0 && len(n.tests) > 0:
		if ts, ok := specs[n.tests[0].name]; ok && !ts.test {
			return nil, errAt(n.tests[0].pos, "'%s' takes no test: is a '{' or ';' missing before '%s'?", n.name, n.tests[0].name)
		}
		return nil, errAt(n.tests[0].pos, "'%s' takes no test", n.name)
	case sp.tests == 1 && (len(n.tests) != 1 || n.testList):
		return nil, errAt(n.pos, "'%s' needs exactly one test", n.name)
	case sp.tests == -1 && !n.testList:
		return nil, errAt(n.pos, "'%s' needs a list of tests in parentheses, like %s (true, false)", n.name, n.name)
	}
	for _, t := range n.tests {
		ct, err := c.node(t, true)
		if err != nil {
			return nil, err
		}
		cn.tests = append(cn.tests, ct)
	}
	if sp.block != n.hasBlock {
		if sp.block {
			return nil, errAt(n.pos, "'%s' needs a block in { }", n.name)
		}
		return nil, errAt(n.pos, "'%s' takes no block; end it with ';'", n.name)
	}
	if n.hasBlock {
		b, err := c.commands(n.block, false)
		if err != nil {
			return nil, err
		}
		cn.block = b
	}
	if _, ok := sp.tags["comparator"]; ok {
		if err := c.matcher(cn); err != nil {
			return nil, err
		}
	}
	return cn, c.semantics(cn)
}

func kindName(k pkind) string {
	switch k {
	case pNumber:
		return "a number"
	case pString:
		return "a string"
	}
	return "a string or string list"
}

// value checks one argument against its kind and applies the string
// transformations the require list asks for.
func (c *checker) value(a *arg, k pkind, what string) (*cval, error) {
	if what == "" {
		what = "this argument"
	}
	v := &cval{pos: a.pos, num: a.num}
	switch k {
	case pNumber:
		if a.kind != aNumber {
			return nil, errAt(a.pos, "%s must be a number, not a %s", what, a.describe())
		}
		return v, nil
	case pString:
		if a.kind != aStrings || a.list && len(a.strs) != 1 {
			return nil, errAt(a.pos, "%s must be a single string, not a %s", what, a.describe())
		}
	case pList:
		if a.kind != aStrings {
			return nil, errAt(a.pos, "%s must be a string or string list, not a %s", what, a.describe())
		}
	}
	for i, s := range a.strs {
		if c.has("encoded-character") {
			var err error
			if s, err = decodeEncoded(s, a.strPos[i]); err != nil {
				return nil, err
			}
		}
		t := literal(s)
		if c.has("variables") {
			var err error
			if t, err = parseTemplate(s, a.strPos[i], c.has("include")); err != nil {
				return nil, err
			}
			for j := range t.parts {
				if t.parts[j].name != "" && c.globals[t.parts[j].name] {
					t.parts[j].global = true
				}
			}
		}
		v.raw = append(v.raw, s)
		v.strs = append(v.strs, t)
		v.spos = append(v.spos, a.strPos[i])
	}
	return v, nil
}

func (c *checker) matcher(n *cnode) error {
	m := &matcher{mt: mIs, cmp: cmpCasemap}
	if n.name == "string" {
		// Pigeonhole compares the string test with i;octet unless told
		// otherwise (RFC 5228 §2.7.3 says i;ascii-casemap); scripts come
		// from Dovecot, so they keep meaning what they meant there.
		m.cmp = cmpOctet
	}
	var mtag string
	for _, t := range []string{"is", "contains", "matches", "regex", "count", "value"} {
		if v, ok := n.tags[t]; ok {
			mtag = t
			m.mt = map[string]matchType{"is": mIs, "contains": mContains, "matches": mMatches,
				"regex": mRegex, "count": mCount, "value": mValue}[t]
			if t == "count" || t == "value" {
				op := strings.ToLower(v.raw[0])
				r, ok := relOps[op]
				if !ok {
					return errAt(v.spos[0], "\"%s\" is no relational operator; use one of \"gt\", \"ge\", \"lt\", \"le\", \"eq\", \"ne\"", v.raw[0])
				}
				m.rel = r
			}
		}
	}
	if v, ok := n.tags["comparator"]; ok {
		name := strings.ToLower(v.raw[0])
		cmp, ok := comparatorNames[name]
		if !ok {
			return errAt(v.spos[0], "unknown comparator \"%s\"", v.raw[0])
		}
		if cmp != cmpCasemap && cmp != cmpOctet && !c.has("comparator-"+name) {
			return errAt(v.spos[0], "the comparator \"%s\" needs require \"comparator-%s\"; at the top of the script", name, name)
		}
		if cmp == cmpNumeric && (m.mt == mContains || m.mt == mMatches || m.mt == mRegex) {
			return errAt(n.tags[mtag].pos, "the comparator i;ascii-numeric cannot be used with :%s", mtag)
		}
		m.cmp = cmp
	}
	n.m = m
	if m.mt == mRegex {
		keys := n.args[len(n.args)-1]
		if n.name == "deleteheader" {
			keys = n.args[1]
		}
		if keys == nil {
			return nil
		}
		m.re = make([]*regexp.Regexp, len(keys.strs))
		for i, k := range keys.strs {
			s, ok := k.constant()
			if !ok {
				continue
			}
			re, err := compileRegex(m.cmp, s)
			if err != nil {
				var re *syntax.Error
				msg := err.Error()
				if errors.As(err, &re) {
					msg = fmt.Sprintf("%s: %s", re.Code, re.Expr)
				}
				return errAt(keys.spos[i], "invalid regular expression: %s", msg)
			}
			m.re[i] = re
		}
	}
	return nil
}

// validHeaderName is RFC 5322 §3.6.8 field-name.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 || s[i] == ':' {
			return false
		}
	}
	return true
}

var dateParts = map[string]bool{"year": true, "month": true, "day": true, "date": true,
	"julian": true, "hour": true, "minute": true, "second": true, "time": true,
	"iso8601": true, "std11": true, "zone": true, "weekday": true}

// semantics holds the rules of single commands beyond their arity.
func (c *checker) semantics(n *cnode) error {
	constants := func(v *cval, f func(s string, p Pos) error) error {
		if v == nil {
			return nil
		}
		for i, t := range v.strs {
			if s, ok := t.constant(); ok {
				if err := f(s, v.spos[i]); err != nil {
					return err
				}
			}
		}
		return nil
	}
	headerNames := func(v *cval) error {
		return constants(v, func(s string, p Pos) error {
			if !validHeaderName(s) {
				return errAt(p, "\"%s\" is not a valid header field name", s)
			}
			return nil
		})
	}
	if n.has("last") && !n.has("index") && n.name != "addheader" && n.name != "duplicate" {
		return errAt(n.tags["last"].pos, "the tag :last needs :index")
	}
	if v, ok := n.tags["index"]; ok && v.num < 1 {
		return errAt(v.pos, ":index counts from 1")
	}
	switch n.name {
	case "header", "address", "exists":
		return headerNames(n.args[0])
	case "date":
		if err := headerNames(n.args[0]); err != nil {
			return err
		}
		fallthrough
	case "currentdate":
		dp := n.args[len(n.args)-2]
		if err := constants(dp, func(s string, p Pos) error {
			if !dateParts[strings.ToLower(s)] {
				return errAt(p, "unknown date part \"%s\"; use one of year, month, day, date, julian, hour, minute, second, time, iso8601, std11, zone, weekday", s)
			}
			return nil
		}); err != nil {
			return err
		}
		return constants(n.tags["zone"], func(s string, p Pos) error {
			if _, ok := parseZone(s); !ok {
				return errAt(p, "\"%s\" is not a time zone offset like \"+0100\" or \"-0500\"", s)
			}
			return nil
		})
	case "envelope":
		return constants(n.args[0], func(s string, p Pos) error {
			switch strings.ToLower(s) {
			case "from", "to", "auth", "orig_to":
				return nil
			}
			return errAt(p, "the envelope has no part \"%s\"; use \"from\" or \"to\"", s)
		})
	case "size":
		if !n.has("over") && !n.has("under") {
			return errAt(n.pos, "size needs :over or :under, like size :over 100K")
		}
	case "redirect":
		return constants(n.args[0], func(s string, p Pos) error {
			if _, err := parseRedirect(s); err != nil {
				return errAt(p, "\"%s\" is not a valid mail address for redirect", s)
			}
			return nil
		})
	case "fileinto":
		return constants(n.args[0], func(s string, p Pos) error {
			if s == "" || !utf8.ValidString(s) {
				return errAt(p, "the folder name must be non-empty UTF-8")
			}
			return nil
		})
	case "vacation":
		if err := constants(n.tags["from"], func(s string, p Pos) error {
			if _, err := mail.ParseAddress(s); err != nil {
				return errAt(p, "vacation :from \"%s\" is not a valid mail address", s)
			}
			return nil
		}); err != nil {
			return err
		}
		return constants(n.tags["addresses"], func(s string, p Pos) error {
			if _, err := mail.ParseAddress(s); err != nil {
				return errAt(p, "vacation :addresses \"%s\" is not a valid mail address", s)
			}
			return nil
		})
	case "set":
		name := n.args[0].raw[0]
		if !isIdent(name) {
			if k := strings.IndexByte(name, '.'); k > 0 && strings.EqualFold(name[:k], "global") && c.has("include") && isIdent(name[k+1:]) {
				n.setName, n.setGlob = strings.ToLower(name[k+1:]), true
			} else {
				return errAt(n.args[0].spos[0], "\"%s\" is not a valid variable name (letters, digits and _, not starting with a digit)", name)
			}
		} else {
			n.setName = strings.ToLower(name)
			n.setGlob = c.globals[n.setName]
		}
		for _, m := range []string{"lower", "upper", "lowerfirst", "upperfirst", "quotewildcard", "quoteregex", "length"} {
			if n.has(m) {
				n.mods = append(n.mods, m)
			}
		}
	case "setflag", "addflag", "removeflag", "hasflag":
		if n.args[0] != nil && !c.has("variables") {
			return errAt(n.args[0].pos, "a variable name in '%s' needs require \"variables\";", n.name)
		}
		return constants(n.args[0], func(s string, p Pos) error {
			if !isIdent(s) {
				return errAt(p, "\"%s\" is not a valid variable name", s)
			}
			return nil
		})
	case "global":
		if !c.has("variables") {
			return errAt(n.pos, "'global' needs require \"variables\"; as well as \"include\"")
		}
		for i, s := range n.args[0].raw {
			if !isIdent(s) {
				return errAt(n.args[0].spos[i], "\"%s\" is not a valid variable name", s)
			}
			c.globals[strings.ToLower(s)] = true
		}
	case "addheader", "deleteheader":
		return headerNames(n.args[0])
	case "include":
		return c.include(n)
	}
	return nil
}

func parseRedirect(s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", err
	}
	return a.Address, nil
}

// include compiles the included script now (RFC 6609 §3.2): cycles are
// errors, and so is a missing script unless :optional.
func (c *checker) include(n *cnode) error {
	name, ok := n.args[0].strs[0].constant()
	p := n.args[0].spos[0]
	if !ok {
		return errAt(p, "the name of an included script cannot hold variables")
	}
	if name == "" || strings.ContainsAny(name, "/\x00") || !utf8.ValidString(name) {
		return errAt(p, "\"%s\" is not a valid script name", name)
	}
	loc := Personal
	if n.has("global") {
		loc = Global
	}
	key := loc.String() + ":" + name
	n.incKey = key
	ic := c.ic
	if c.depth+1 > ic.opts.MaxIncludeDepth {
		return errAt(n.pos, "includes are nested too deeply (limit %d)", ic.opts.MaxIncludeDepth)
	}
	if ic.active[key] || key == c.s.key {
		return errAt(n.pos, "the %s script \"%s\" includes itself (directly or through other scripts)", loc, name)
	}
	if s, ok := ic.cache[key]; ok {
		n.inc = s
		return nil
	}
	if len(ic.cache) >= ic.opts.MaxIncludes {
		return errAt(n.pos, "too many included scripts (limit %d)", ic.opts.MaxIncludes)
	}
	if ic.opts.Loader == nil {
		if n.has("optional") {
			return nil
		}
		return errAt(n.pos, "cannot include \"%s\": included scripts are not available here", name)
	}
	src, err := ic.opts.Loader.Load(loc, name)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			if n.has("optional") {
				return nil
			}
			return errAt(n.pos, "the %s script \"%s\" does not exist", loc, name)
		}
		return errAt(n.pos, "cannot load the %s script \"%s\": %v", loc, name, err)
	}
	ic.active[c.s.key] = true
	ic.active[key] = true
	s, err := ic.compile(src, name, loc, key, c.depth+1)
	delete(ic.active, key)
	if err != nil {
		return err
	}
	ic.cache[key] = s
	n.inc = s
	return nil
}
