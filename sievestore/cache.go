package sievestore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/storaged/storaged/sieve"
)

// stamp is what says a file has not changed: the rename a write ends
// with gives a new inode, and an edit in place a new size or mtime.
type stamp struct {
	ino   uint64
	size  int64
	mtime time.Time
	found bool
}

func stampOf(path string) stamp {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}
	}
	st := stamp{size: fi.Size(), mtime: fi.ModTime(), found: true}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = uint64(sys.Ino)
	}
	return st
}

type dep struct {
	path string
	st   stamp
}

// entry is one compiled file: the script or the error, and every file
// the compile read, with its stamp then.
type entry struct {
	script *sieve.Script
	err    error
	deps   []dep
}

func (e *entry) fresh() bool {
	for _, d := range e.deps {
		if stampOf(d.path) != d.st {
			return false
		}
	}
	return true
}

// cache holds compiled scripts by path.
type cache struct {
	mu           sync.Mutex
	entries      map[string]*entry
	hits, misses atomic.Int64
}

// maxCached bounds the cache; past it, it starts again empty (the next
// delivery of each user compiles once).
const maxCached = 10000

// Stats reports the compile cache's hits and misses since start.
func (s *Store) Stats() (hits, misses int64) {
	return s.cache.hits.Load(), s.cache.misses.Load()
}

// loader serves include for one compile and remembers what it read.
type loader struct {
	s    *Store
	l    layout
	deps []dep
}

func (ld *loader) Load(loc sieve.Location, name string) ([]byte, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	var dir string
	switch loc {
	case sieve.Global:
		dir = ld.s.opts.GlobalDir
	default:
		dir = ld.l.scripts
	}
	if dir == "" {
		return nil, fmt.Errorf("%w: %s script %q", sieve.ErrNotFound, loc, name)
	}
	p := filepath.Join(dir, name+Ext)
	st := stampOf(p)
	ld.deps = append(ld.deps, dep{p, st})
	b, err := readLimited(p, ld.s.opts.MaxScriptSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s script %q", sieve.ErrNotFound, loc, name)
	}
	return b, err
}

func readLimited(p string, max int64) ([]byte, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%w: %s is %d octets, the limit is %d", ErrTooBig, filepath.Base(p), fi.Size(), max)
	}
	return os.ReadFile(p)
}

// compile compiles src as a script of layout l.
func (s *Store) compile(l layout, name string, src []byte) (*sieve.Script, []dep, error) {
	ld := &loader{s: s, l: l}
	opts := s.opts.Compile
	opts.Name = name
	opts.Loader = ld
	sc, err := sieve.Compile(src, opts)
	return sc, ld.deps, err
}

// compiled returns the compiled script at path, from the cache while
// neither it nor its includes changed.
func (s *Store) compiled(l layout, path, name string) (*sieve.Script, error) {
	s.cache.mu.Lock()
	e := s.cache.entries[path]
	s.cache.mu.Unlock()
	if e != nil && e.fresh() {
		s.cache.hits.Add(1)
		return e.script, e.err
	}
	s.cache.misses.Add(1)
	st := stampOf(path)
	src, err := readLimited(path, s.opts.MaxScriptSize)
	if err != nil {
		// Not cached: a file that cannot be read now may be readable at
		// the next delivery.
		return nil, fmt.Errorf("sievestore: %w", err)
	}
	sc, deps, err := s.compile(l, name, src)
	e = &entry{script: sc, err: err, deps: append([]dep{{path, st}}, deps...)}
	s.cache.mu.Lock()
	if len(s.cache.entries) >= maxCached {
		s.cache.entries = map[string]*entry{}
	}
	s.cache.entries[path] = e
	s.cache.mu.Unlock()
	return sc, err
}

// Step is one script of a delivery's sequence.
type Step struct {
	// Name is "before:PATH", "after:PATH" or the user's script name.
	Name   string
	Script *sieve.Script
	// Personal is true for the user's own script.
	Personal bool
}

// Sequence returns what to run for user, in order: the before scripts,
// the active script, the after scripts. The error names the script that
// does not compile (a *sieve.Error inside); the caller keeps the message.
// An empty sequence means no filtering.
func (s *Store) Sequence(user string) ([]Step, error) {
	var out []Step
	if err := s.globals(&out, "before", s.opts.Before); err != nil {
		return nil, err
	}
	none, stamps := s.hasNone(user)
	active := ""
	if !none {
		l, err := s.layoutOf(user)
		if err != nil {
			return nil, err
		}
		if active, err = s.activeName(l); err != nil {
			return nil, err
		}
		if active == "" {
			s.rememberNone(user, stamps)
		}
		if err := s.userStep(&out, user, l, active); err != nil {
			return nil, err
		}
	}
	if err := s.globals(&out, "after", s.opts.After); err != nil {
		return nil, err
	}
	return out, nil
}

// userStep appends the user's active script, if any, to out.
func (s *Store) userStep(out *[]Step, user string, l layout, active string) error {
	if active != "" {
		p := s.path(l, active, active)
		sc, err := s.compiled(l, p, "")
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				// A dangling link: no script, as Pigeonhole treats it.
				s.opts.Log.Warn("sieve: the active script is missing", "user", user, "path", p)
			} else {
				return fmt.Errorf("script %q: %w", active, err)
			}
		} else {
			*out = append(*out, Step{Name: active, Script: sc, Personal: true})
		}
	}
	return nil
}

func (s *Store) globals(out *[]Step, kind string, paths []string) error {
	for _, p := range paths {
		files := []string{p}
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			ents, err := os.ReadDir(p)
			if err != nil {
				return fmt.Errorf("%s script %s: %w", kind, p, err)
			}
			files = files[:0]
			for _, e := range ents {
				if strings.HasSuffix(e.Name(), Ext) && !strings.HasPrefix(e.Name(), ".") {
					files = append(files, filepath.Join(p, e.Name()))
				}
			}
			sort.Strings(files)
		}
		for _, f := range files {
			// Globals include from the global folder only.
			sc, err := s.compiled(layout{}, f, kind+":"+f)
			if err != nil {
				return fmt.Errorf("%s script %s: %w", kind, f, err)
			}
			*out = append(*out, Step{Name: kind + ":" + f, Script: sc})
		}
	}
	return nil
}
