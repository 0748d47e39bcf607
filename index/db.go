package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterr "go.etcd.io/bbolt/errors"
)

// SchemaVersion is written into meta/version; a DB with another version
// is refused rather than misread.
const SchemaVersion = 1

var (
	ErrLocked  = errors.New("index: held by another process")
	ErrVersion = errors.New("index: unknown schema version")
)

var (
	bMeta  = []byte("meta")
	bNames = []byte("names")
	bSubs  = []byte("subs")
	bMbx   = []byte("mbx")

	kVersion     = []byte("version")
	kUIDValidity = []byte("uidvalidity")
	kNextID      = []byte("nextid")
	kMessages    = []byte("messages")
	kBytes       = []byte("bytes")

	bMsgs  = []byte("m")
	bKeys  = []byte("k")
	bEnv   = []byte("e")
	bBody  = []byte("b")
	bTombs = []byte("t")
	kInfo  = []byte("info")
)

// DB is one user's index.
type DB struct {
	bolt *bolt.DB

	mu      sync.Mutex
	queue   []*call
	running bool
	observe func(writers int, d time.Duration)
}

type call struct {
	fn   func(*Tx) error
	err  error
	done chan struct{}
}

// Open opens or creates the index at path. It waits at most lockWait for
// another process that holds the file (ErrLocked after that).
func Open(path string, lockWait time.Duration) (*DB, error) {
	// A damaged file makes bbolt panic, and a writable open rebuilds the
	// freelist in a goroutine of its own, where no recover can reach: the
	// file is first opened read-only and every page visited here, so that
	// damage is an error of this user's open (the store moves the file
	// aside and rebuilds), never a crash of the server.
	if _, err := os.Stat(path); err == nil {
		if err := probeFile(path, lockWait); err != nil {
			return nil, err
		}
	}
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockWait, FreelistType: bolt.FreelistMapType, NoFreelistSync: true})
	if err != nil {
		if errors.Is(err, bolterr.ErrTimeout) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, path)
		}
		return nil, fmt.Errorf("index: open %s: %w", path, err)
	}
	db := &DB{bolt: b}
	err = safeUpdate(b, func(tx *bolt.Tx) error {
		for _, n := range [][]byte{bMeta, bNames, bSubs, bMbx} {
			if _, err := tx.CreateBucketIfNotExists(n); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bMeta)
		if v := meta.Get(kVersion); v == nil {
			return meta.Put(kVersion, binary.BigEndian.AppendUint32(nil, SchemaVersion))
		} else if len(v) != 4 || binary.BigEndian.Uint32(v) != SchemaVersion {
			return ErrVersion
		}
		return addModSeqIndexes(tx)
	})
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("index: %s: %w", path, err)
	}
	return db, nil
}

// Close closes the DB; no transaction may be running.
func (db *DB) Close() error { return db.bolt.Close() }

// Path is the file the DB lives in.
func (db *DB) Path() string { return db.bolt.Path() }

// View runs a read-only transaction on a consistent snapshot.
func (db *DB) View(fn func(*Tx) error) error {
	return db.bolt.View(func(btx *bolt.Tx) error { return fn(&Tx{tx: btx}) })
}

// Commit runs fn in a write transaction and returns once it is durable.
// Callers that arrive while a commit is in flight are run together in the
// next one: one bbolt commit, one pair of fdatasyncs, for all of them.
// Unlike bolt.Batch it adds no delay when there is only one writer. fn may
// run twice (alone, after a combined transaction failed): keep it
// idempotent, and do not let it touch memory outside the transaction
// before it has succeeded.
func (db *DB) Commit(fn func(*Tx) error) error {
	c := &call{fn: fn, done: make(chan struct{})}
	db.mu.Lock()
	db.queue = append(db.queue, c)
	if db.running {
		db.mu.Unlock()
		<-c.done
		return c.err
	}
	db.running = true
	db.mu.Unlock()
	db.drain()
	<-c.done
	return c.err
}

// drain commits queued calls until the queue is empty. The goroutine that
// found the queue idle does the work, so no goroutine lives in the DB.
func (db *DB) drain() {
	for {
		db.mu.Lock()
		batch := db.queue
		db.queue = nil
		if len(batch) == 0 {
			db.running = false
			db.mu.Unlock()
			return
		}
		db.mu.Unlock()
		db.run(batch)
	}
}

var errRetryAlone = errors.New("index: retry alone")

// SetCommitObserver has fn told of every durable commit: the writers it
// served and how long it took (metrics). Call it before the DB is used.
func (db *DB) SetCommitObserver(fn func(writers int, d time.Duration)) { db.observe = fn }

func (db *DB) run(batch []*call) {
	if db.observe != nil {
		start := time.Now()
		defer func() { db.observe(len(batch), time.Since(start)) }()
	}
	if len(batch) == 1 {
		c := batch[0]
		c.err = db.update(c.fn)
		close(c.done)
		return
	}
	err := db.update(func(tx *Tx) error {
		for _, c := range batch {
			if err := safe(c.fn, tx); err != nil {
				return errRetryAlone
			}
		}
		return nil
	})
	if err == nil {
		for _, c := range batch {
			close(c.done)
		}
		return
	}
	// One call failed (or the commit did): run each alone so that one
	// caller's error does not become everyone's.
	for _, c := range batch {
		c.err = db.update(c.fn)
		close(c.done)
	}
}

func (db *DB) update(fn func(*Tx) error) error {
	return db.bolt.Update(func(btx *bolt.Tx) error { return safe(fn, &Tx{tx: btx}) })
}

// safe turns a panic in fn into an error, so that a bug in one writer
// rolls back its transaction instead of wedging the commit queue.
func safe(fn func(*Tx) error, tx *Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("index: panic in transaction: %v", p)
		}
	}()
	return fn(tx)
}
