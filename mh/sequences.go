package mh

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/internal/safefs"
)

// seqFile is the name of a folder's public sequences file.
const seqFile = ".mh_sequences"

// The sequences that carry flags.
const (
	seqUnseen  = "unseen"
	seqFlagged = "flagged"
	seqReplied = "replied"
)

// sequences is a parsed .mh_sequences: names in file order, each with its
// sorted message numbers.
type sequences struct {
	order []string
	nums  map[string][]int
}

// parseSequences reads the file format of mh-folders(5): "name: 1-3 5",
// with RFC 822 continuation lines. Numbers that do not parse are dropped,
// as nmh drops them.
func parseSequences(b []byte) *sequences {
	s := &sequences{nums: map[string][]int{}}
	var logical []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(logical) > 0 {
			logical[len(logical)-1] += " " + strings.TrimSpace(line)
			continue
		}
		logical = append(logical, line)
	}
	for _, l := range logical {
		name, list, ok := strings.Cut(l, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			continue
		}
		if _, dup := s.nums[name]; !dup {
			s.order = append(s.order, name)
		}
		for _, f := range strings.Fields(list) {
			lo, hi, isRange := strings.Cut(f, "-")
			a, err1 := strconv.Atoi(lo)
			b := a
			var err2 error
			if isRange {
				b, err2 = strconv.Atoi(hi)
			}
			// A range is bounded so that a corrupt file cannot make us
			// allocate without limit.
			if err1 != nil || err2 != nil || a <= 0 || b < a || b-a > 1<<20 {
				continue
			}
			for n := a; n <= b; n++ {
				s.nums[name] = append(s.nums[name], n)
			}
		}
		slices.Sort(s.nums[name])
		s.nums[name] = slices.Compact(s.nums[name])
	}
	return s
}

func (s *sequences) has(name string, n int) bool {
	_, ok := slices.BinarySearch(s.nums[name], n)
	return ok
}

func (s *sequences) set(name string, n int, on bool) {
	list := s.nums[name]
	i, ok := slices.BinarySearch(list, n)
	switch {
	case on && !ok:
		if _, known := s.nums[name]; !known {
			s.order = append(s.order, name)
		}
		s.nums[name] = slices.Insert(list, i, n)
	case !on && ok:
		s.nums[name] = slices.Delete(list, i, i+1)
	}
}

// flags returns what the sequences say of message n.
func (s *sequences) flags(n int) folder.Flags {
	var f folder.Flags
	if !s.has(seqUnseen, n) {
		f.Sys |= folder.Seen
	}
	if s.has(seqFlagged, n) {
		f.Sys |= folder.Flagged
	}
	if s.has(seqReplied, n) {
		f.Sys |= folder.Answered
	}
	return f
}

// apply records message n's flags in the flag sequences.
func (s *sequences) apply(n int, f folder.Flags) {
	s.set(seqUnseen, n, !f.Sys.Has(folder.Seen))
	s.set(seqFlagged, n, f.Sys.Has(folder.Flagged))
	s.set(seqReplied, n, f.Sys.Has(folder.Answered))
}

// forget removes message n from every sequence but "cur", which may name
// a message that no longer exists.
func (s *sequences) forget(n int) {
	for _, name := range s.order {
		if name != "cur" {
			s.set(name, n, false)
		}
	}
}

// format writes the file back: sequences in their order, ranges joined,
// empty ones left out ("cur" included, as nmh does).
func (s *sequences) format() []byte {
	var b bytes.Buffer
	for _, name := range s.order {
		list := s.nums[name]
		if len(list) == 0 {
			continue
		}
		b.WriteString(name)
		b.WriteByte(':')
		for i := 0; i < len(list); {
			j := i
			for j+1 < len(list) && list[j+1] == list[j]+1 {
				j++
			}
			if j > i {
				fmt.Fprintf(&b, " %d-%d", list[i], list[j])
			} else {
				fmt.Fprintf(&b, " %d", list[i])
			}
			i = j + 1
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// lockWait bounds how long we wait for an MH program's lock on the
// sequences file.
const lockWait = 10 * time.Second

// maxSeqFile bounds what is read of a sequences file.
const maxSeqFile = 4 << 20

// updateSequences reads, changes and rewrites a folder's .mh_sequences
// under an fcntl write lock, in place as nmh does. A sequences file that
// is not a regular file with one link (a link planted to a file
// elsewhere, hard or symbolic) is neither read nor written through: a new
// file replaces it.
func updateSequences(d *safefs.Dir, rel string, change func(*sequences)) error {
	name := rel + "/" + seqFile
	fd, err := d.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600, safefs.Regular|safefs.Single)
	if folder.Missing(err) && !errors.Is(err, fs.ErrNotExist) {
		seqs := parseSequences(nil)
		change(seqs)
		err = d.WriteFile(name, seqs.format(), 0o600)
	}
	if err != nil {
		if folder.Missing(err) {
			// The folder is gone, or a link now.
			return fmt.Errorf("%w: %s: %w", folder.ErrNotFound, rel, err)
		}
		return fmt.Errorf("mh: sequences: %w", err)
	}
	if fd == nil {
		return nil
	}
	defer fd.Close()
	if err := folder.LockFile(fd, unix.F_WRLCK, time.Now().Add(lockWait)); err != nil {
		return err
	}
	b, err := io.ReadAll(io.LimitReader(fd, maxSeqFile))
	if err != nil {
		return fmt.Errorf("mh: read sequences: %w", err)
	}
	seqs := parseSequences(b)
	change(seqs)
	out := seqs.format()
	if bytes.Equal(out, b) {
		return nil
	}
	// In place, as nmh writes it: a reader holding the lock sees either
	// the old or the new contents.
	if _, err := fd.WriteAt(out, 0); err != nil {
		return fmt.Errorf("mh: write sequences: %w", err)
	}
	if err := fd.Truncate(int64(len(out))); err != nil {
		return fmt.Errorf("mh: write sequences: %w", err)
	}
	return nil
}

// readSequences reads a folder's sequences under a read lock; a missing
// file, or one that is not a regular file with one link, is empty.
func readSequences(d *safefs.Dir, rel string) (*sequences, error) {
	fd, err := d.OpenFile(rel+"/"+seqFile, os.O_RDONLY, 0, safefs.Regular|safefs.Single)
	if folder.Missing(err) {
		return parseSequences(nil), nil
	}
	if err != nil {
		return nil, fmt.Errorf("mh: sequences: %w", err)
	}
	defer fd.Close()
	if err := folder.LockFile(fd, unix.F_RDLCK, time.Now().Add(lockWait)); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(fd, maxSeqFile))
	if err != nil {
		return nil, fmt.Errorf("mh: read sequences: %w", err)
	}
	return parseSequences(b), nil
}
