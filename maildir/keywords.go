package maildir

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/storaged/storaged/internal/safefs"
)

// keywordsFile is where Dovecot keeps the letter ↔ keyword map of a
// folder; using its format lets both servers read each other's flags.
const keywordsFile = "dovecot-keywords"

const maxKeywordLetters = 26

type keywords struct {
	dir   *safefs.Dir
	file  string // beneath dir
	mu    sync.Mutex
	names []string // index = letter - 'a'; "" for unused slots
	mtime int64
}

// maxKeywordsFile bounds what is read of the file: 26 names of at most
// a few hundred octets each.
const maxKeywordsFile = 64 << 10

func loadKeywords(d *safefs.Dir, file string) *keywords {
	k := &keywords{dir: d, file: file}
	k.reload()
	return k
}

// reload reads the file again if it changed; a missing or malformed file,
// or anything but a regular file (a link is not read), is an empty map
// (keywords then live in the index only).
func (k *keywords) reload() {
	st, err := k.dir.Lstat(k.file)
	if err != nil || !st.Mode().IsRegular() {
		k.names, k.mtime = nil, 0
		return
	}
	if st.ModTime().UnixNano() == k.mtime {
		return
	}
	data, err := k.dir.ReadFile(k.file, maxKeywordsFile)
	if err != nil {
		return
	}
	names := make([]string, 0, maxKeywordLetters)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		num, name, ok := strings.Cut(sc.Text(), " ")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || n < 0 || n >= maxKeywordLetters || name == "" {
			continue
		}
		for len(names) <= n {
			names = append(names, "")
		}
		names[n] = name
	}
	k.names, k.mtime = names, st.ModTime().UnixNano()
}

func (k *keywords) name(i int) (string, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.reload()
	if i < len(k.names) && k.names[i] != "" {
		return k.names[i], true
	}
	return "", false
}

// index returns the letter index of kw, giving it a free letter if it has
// none; -1 when all 26 are taken.
func (k *keywords) index(kw string) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.reload()
	free := -1
	for i, n := range k.names {
		if strings.EqualFold(n, kw) {
			return i, nil
		}
		if n == "" && free < 0 {
			free = i
		}
	}
	if free < 0 {
		if len(k.names) >= maxKeywordLetters {
			return -1, nil
		}
		free = len(k.names)
		k.names = append(k.names, "")
	}
	k.names[free] = kw
	if err := k.write(); err != nil {
		k.names[free] = ""
		return -1, err
	}
	return free, nil
}

// write replaces the file: a new file under a random name, renamed over
// it (safefs.WriteFile), so a link at the name or at any temporary name
// is never written through.
func (k *keywords) write() error {
	var b bytes.Buffer
	for i, n := range k.names {
		if n != "" {
			fmt.Fprintf(&b, "%d %s\n", i, n)
		}
	}
	if err := k.dir.WriteFile(k.file, b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("write keywords: %w", err)
	}
	if st, err := k.dir.Lstat(k.file); err == nil {
		k.mtime = st.ModTime().UnixNano()
	}
	return nil
}
