package sievestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// maxMemory bounds each kind of memory per user; past it the entries
// closest to expiry go first.
const maxMemory = 10000

// memories is every user's vacation and duplicate memory.
type memories struct {
	dir   string
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

type memFile struct {
	// Keys are opaque hashes; values are the Unix time they expire.
	Vacation  map[string]int64 `json:"vacation,omitempty"`
	Duplicate map[string]int64 `json:"duplicate,omitempty"`
}

// Memory is one user's memory.
type Memory struct {
	m    *memories
	user string
	now  func() time.Time
}

// Memory returns user's memory.
func (s *Store) Memory(user string) *Memory {
	return &Memory{m: &s.mem, user: user, now: time.Now}
}

func (m *Memory) lock() func() {
	m.m.mu.Lock()
	l := m.m.locks[m.user]
	if l == nil {
		l = &sync.Mutex{}
		m.m.locks[m.user] = l
	}
	m.m.mu.Unlock()
	l.Lock()
	return l.Unlock
}

func (m *Memory) path() string { return filepath.Join(m.m.dir, m.user+".json") }

func (m *Memory) load() (*memFile, error) {
	if err := checkUser(m.user); err != nil {
		return nil, err
	}
	f := &memFile{}
	b, err := os.ReadFile(m.path())
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sievestore: memory: %w", err)
	}
	if err := json.Unmarshal(b, f); err != nil {
		// A damaged memory only costs a repeated vacation reply or a
		// duplicate let through: start again rather than fail delivery.
		return &memFile{}, nil
	}
	return f, nil
}

func (m *Memory) save(f *memFile) error {
	if err := os.MkdirAll(m.m.dir, 0o700); err != nil {
		return fmt.Errorf("sievestore: memory: %w", err)
	}
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("sievestore: memory: %w", err)
	}
	return writeAtomic(m.path(), b)
}

func live(set map[string]int64, key string, now time.Time) bool {
	exp, ok := set[key]
	return ok && exp > now.Unix()
}

// Seen implements sieve.DuplicateTracker.
func (m *Memory) Seen(_ context.Context, key string) (bool, error) {
	defer m.lock()()
	f, err := m.load()
	if err != nil {
		return false, err
	}
	return live(f.Duplicate, key, m.now()), nil
}

// VacationKey is the memory key of a reply for handle to sender (RFC
// 5230 §4.2: per sender, per vacation handle).
func VacationKey(handle, sender string) string {
	sum := sha256.Sum256([]byte(handle + "\x00" + strings.ToLower(sender)))
	return hex.EncodeToString(sum[:])
}

// Replied reports whether a vacation reply under key is remembered.
func (m *Memory) Replied(key string) (bool, error) {
	defer m.lock()()
	f, err := m.load()
	if err != nil {
		return false, err
	}
	return live(f.Vacation, key, m.now()), nil
}

// Mark is one thing to remember until now+Period.
type Mark struct {
	Key    string
	Period time.Duration
}

// Record remembers vacation replies sent and duplicate ids, in one
// rewrite; expired entries are dropped on the way.
func (m *Memory) Record(vacation, duplicate []Mark) error {
	if len(vacation) == 0 && len(duplicate) == 0 {
		return nil
	}
	defer m.lock()()
	f, err := m.load()
	if err != nil {
		return err
	}
	now := m.now()
	f.Vacation = put(f.Vacation, vacation, now)
	f.Duplicate = put(f.Duplicate, duplicate, now)
	return m.save(f)
}

func put(set map[string]int64, marks []Mark, now time.Time) map[string]int64 {
	if set == nil {
		set = map[string]int64{}
	}
	for k, exp := range set {
		if exp <= now.Unix() {
			delete(set, k)
		}
	}
	for _, mk := range marks {
		if mk.Period <= 0 {
			continue
		}
		set[mk.Key] = now.Add(mk.Period).Unix()
	}
	if len(set) > maxMemory {
		keys := make([]string, 0, len(set))
		for k := range set {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return set[keys[i]] < set[keys[j]] })
		for _, k := range keys[:len(set)-maxMemory] {
			delete(set, k)
		}
	}
	return set
}
