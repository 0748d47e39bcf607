package sieve

import (
	"errors"
	"fmt"
)

// Error is a compile or run-time error in a script, with where it is.
// Line and Col start at 1; both are 0 when the error has no place (a
// script too large). Script names the included script the error is in,
// "" for the script being compiled.
type Error struct {
	Script    string
	Line, Col int
	Msg       string
	err       error // the cause, for errors.Is(err, ErrLimit)
}

func (e *Error) Unwrap() error { return e.err }

func (e *Error) Error() string {
	prefix := ""
	if e.Script != "" {
		prefix = e.Script + ": "
	}
	if e.Line == 0 {
		return prefix + e.Msg
	}
	return fmt.Sprintf("%sline %d, column %d: %s", prefix, e.Line, e.Col, e.Msg)
}

// Location is where an included script lives (RFC 6609 §3.2).
type Location uint8

const (
	Personal Location = iota
	Global
)

func (l Location) String() string {
	if l == Global {
		return "global"
	}
	return "personal"
}

// ErrNotFound is what a Loader returns (possibly wrapped) for a script
// that does not exist; include :optional then does nothing.
var ErrNotFound = errors.New("sieve: script not found")

// Loader gives the source of scripts named by include.
type Loader interface {
	Load(loc Location, name string) ([]byte, error)
}

// LoaderFunc adapts a function to Loader.
type LoaderFunc func(loc Location, name string) ([]byte, error)

func (f LoaderFunc) Load(loc Location, name string) ([]byte, error) { return f(loc, name) }

// Options control compilation. The zero value enables every extension
// with the default limits.
type Options struct {
	// Name names the script in errors from included scripts.
	Name string
	// Extensions that scripts may require; nil means all of Extensions.
	Extensions []string
	// MaxScriptSize bounds the source of one script in bytes (1 MiB).
	MaxScriptSize int
	// MaxNesting bounds the depth of blocks and tests together (32).
	MaxNesting int
	// MaxStringList bounds the strings of one string list (1024).
	MaxStringList int
	// MaxIncludeDepth bounds how deep includes nest (10, Pigeonhole's
	// sieve_include_max_nesting_depth), MaxIncludes how many distinct
	// scripts one compile may pull in (255).
	MaxIncludeDepth int
	MaxIncludes     int
	// Loader gives included scripts; without one, include is an error
	// unless :optional.
	Loader Loader
	// SubaddressSeparator splits user and detail (RFC 5233): "+".
	SubaddressSeparator string
}

func (o Options) withDefaults() Options {
	if o.MaxScriptSize <= 0 {
		o.MaxScriptSize = 1 << 20
	}
	if o.MaxNesting <= 0 {
		o.MaxNesting = 32
	}
	if o.MaxStringList <= 0 {
		o.MaxStringList = 1024
	}
	if o.MaxIncludeDepth <= 0 {
		o.MaxIncludeDepth = 10
	}
	if o.MaxIncludes <= 0 {
		o.MaxIncludes = 255
	}
	if o.SubaddressSeparator == "" {
		o.SubaddressSeparator = "+"
	}
	return o
}

// Script is a compiled script, safe for concurrent use by many Runs.
type Script struct {
	name     string
	loc      Location
	key      string
	cmds     []*cnode
	requires map[string]bool
	opts     Options
}

// Requires reports whether the script (not its includes) requires ext.
func (s *Script) Requires(ext string) bool { return s.requires[ext] }

// Compile parses and checks a script. Errors are *Error. Included
// scripts are loaded and compiled now, through opts.Loader, so a script
// that compiles has no include error left for delivery time except
// those :optional allows.
func Compile(src []byte, opts Options) (*Script, error) {
	opts = opts.withDefaults()
	ic := &includeCtx{opts: &opts, cache: map[string]*Script{}, active: map[string]bool{}}
	return ic.compile(src, opts.Name, Personal, "", 0)
}

// includeCtx is shared by a script and everything it includes.
type includeCtx struct {
	opts   *Options
	cache  map[string]*Script
	active map[string]bool // include keys being compiled: a cycle if met again
}

func (ic *includeCtx) compile(src []byte, name string, loc Location, key string, depth int) (s *Script, err error) {
	defer func() {
		// Never panic on input: a bug here becomes an error for the one
		// script, and the message gets its implicit keep.
		if r := recover(); r != nil {
			s, err = nil, &Error{Script: name, Msg: fmt.Sprintf("internal error compiling script: %v", r), err: ErrInternal}
		}
	}()
	if len(src) > ic.opts.MaxScriptSize {
		return nil, &Error{Script: name, Msg: fmt.Sprintf("script is too large (%d bytes, limit %d)", len(src), ic.opts.MaxScriptSize)}
	}
	nodes, err := parse(src, ic.opts.MaxNesting, ic.opts.MaxStringList)
	if err != nil {
		return nil, withScript(err, name)
	}
	s = &Script{name: name, loc: loc, key: key, requires: map[string]bool{}, opts: *ic.opts}
	c := &checker{ic: ic, s: s, depth: depth, globals: map[string]bool{}}
	s.cmds, err = c.commands(nodes, true)
	if err != nil {
		return nil, withScript(err, name)
	}
	return s, nil
}

func withScript(err error, name string) error {
	var e *Error
	if errors.As(err, &e) && e.Script == "" && name != "" {
		e.Script = name
	}
	return err
}
