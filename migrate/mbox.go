package migrate

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/internal/safefs"
	"github.com/storaged/storaged/mbox"
)

// mboxSource is an mbox file (one folder) or a tree of them: plain
// directories (mutt, Dovecot) or Thunderbird's "A.sbd/B". A source is
// often a user's own directory, which that user may change while we
// read it: the path the administrator named is resolved once (links
// and all, theirs to choose), and everything beneath it is reached
// through dir without following any link (package safefs), so a file
// swapped for a link to /etc/shadow after the listing is not imported.
type mboxSource struct {
	root string // the directory; for a lone file, the file's
	dir  *safefs.Dir
	file string // the lone file's name beneath root, "" for a tree
}

// openMbox opens an mbox file or tree at path (resolved: see mboxSource).
func openMbox(path string, isFile bool) (*mboxSource, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	s := &mboxSource{root: real}
	if isFile {
		s.root, s.file = filepath.Dir(real), filepath.Base(real)
	}
	if s.dir, err = safefs.OpenDir(s.root); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return s, nil
}

func (s *mboxSource) Kind() string                    { return "mbox" }
func (s *mboxSource) Subscriptions() ([]string, bool) { return nil, false }

func (s *mboxSource) Folders() ([]Folder, error) {
	if s.file != "" {
		return []Folder{s.folder(s.file, fileFolderName(s.file))}, nil
	}
	var out []Folder
	var walk func(rel string) error
	walk = func(rel string) error {
		ents, err := s.dir.ReadDir(rel)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name, ".") {
				continue
			}
			p := e.Name
			if rel != "" {
				p = rel + "/" + e.Name
			}
			isDir, isReg := e.IsDir(), e.IsRegular()
			if e.Unknown() {
				isDir, isReg = s.dir.IsDir(p), s.dir.IsRegular(p)
			}
			if isDir {
				if err := walk(p); err != nil {
					return err
				}
				continue
			}
			// A link is neither: never followed, never imported.
			if !isReg || !s.isMboxFile(p) {
				continue
			}
			levels := strings.Split(p, "/")
			for i, l := range levels {
				if i < len(levels)-1 {
					l = strings.TrimSuffix(l, ".sbd")
				}
				if dec, err := folder.DecodeMUTF7(l); err == nil {
					l = dec
				}
				levels[i] = l
			}
			name := folder.CanonicalName(strings.Join(levels, folder.Separator))
			if strings.EqualFold(name, "inbox") || strings.EqualFold(name, "mbox") {
				name = folder.Inbox
			}
			if folder.CheckName(name) != nil {
				// '.' in a file name: our names cannot hold it.
				name = strings.ReplaceAll(name, ".", "_")
			}
			out = append(out, s.folder(p, name))
		}
		return nil
	}
	err := walk("")
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// fileFolderName: a lone mbox is INBOX unless its name says otherwise
// ("sent" → Sent): a spool file (/var/mail/USER) or ~/mbox is the inbox.
func fileFolderName(p string) string {
	base := filepath.Base(p)
	if folder.CheckName(base) != nil || strings.EqualFold(base, "inbox") || strings.EqualFold(base, "mbox") {
		return folder.Inbox
	}
	if _, ok := specialByName[strings.ToLower(base)]; ok {
		return base
	}
	return folder.Inbox
}

// isMboxFile: empty, or starting with a From_ line. Index files, .msf
// summaries and other tools' state are not folders.
func (s *mboxSource) isMboxFile(rel string) bool {
	if strings.HasSuffix(rel, ".lock") || strings.HasSuffix(rel, ".msf") {
		return false
	}
	fd, err := s.dir.OpenFile(rel, os.O_RDONLY, 0, safefs.Regular)
	if err != nil {
		return false
	}
	defer fd.Close()
	b := make([]byte, 5)
	n, _ := io.ReadFull(fd, b)
	return n == 0 || string(b[:n]) == "From "
}

// folder streams the file rel beneath the source's root; what is there
// by then must still be a regular file, not a link.
func (s *mboxSource) folder(rel, name string) Folder {
	return Folder{Name: name, Each: func(ctx context.Context, fn func(*Message) error) error {
		fd, err := s.dir.OpenFile(rel, os.O_RDONLY, 0, safefs.Regular)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		defer fd.Close()
		path := s.dir.Join(rel)
		r := newMboxReader(fd)
		var msg Message
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			rec, err := r.next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("migrate: %s: %w", path, err)
			}
			recs := mbox.Split(rec)
			if len(recs) == 0 {
				continue
			}
			first, _, _ := bytes.Cut(rec[recs[0].Start:recs[0].Body], []byte("\n"))
			_, date, _ := mbox.ParseFromLine(bytes.TrimRight(first, "\r"))
			for _, rc := range recs {
				msg = Message{Data: mbox.Content(rec, rc), Flags: mbox.Flags(rec, rc), Date: date}
				if err := fn(&msg); err != nil {
					return err
				}
			}
		}
	}}
}

// mboxReader cuts an mbox stream into records, one in memory at a time:
// a record starts at a From_ line that begins the file or follows a blank
// line, as mbox.Split reads them (without Split's Content-Length check,
// which needs the whole file: a message with a blank line and a From_
// line inside its body is cut there, as mboxo readers do).
type mboxReader struct {
	br      *bufio.Reader
	buf     []byte
	started bool
	blank   bool // the last line was empty
	done    bool
}

func newMboxReader(r io.Reader) *mboxReader {
	return &mboxReader{br: bufio.NewReaderSize(r, 256<<10), blank: true}
}

func (r *mboxReader) line() ([]byte, error) {
	var l []byte
	for {
		frag, err := r.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			l = append(l, frag...)
			continue
		}
		if l != nil {
			l = append(l, frag...)
		} else {
			l = frag
		}
		if err != nil && len(l) > 0 && errors.Is(err, io.EOF) {
			return l, nil
		}
		return l, err
	}
}

// next returns the next record: From_ line, message and separator.
func (r *mboxReader) next() ([]byte, error) {
	if r.done {
		return nil, io.EOF
	}
	for {
		l, err := r.line()
		if errors.Is(err, io.EOF) {
			r.done = true
			if len(r.buf) > 0 {
				return r.buf, nil
			}
			return nil, io.EOF
		}
		if err != nil {
			return nil, err
		}
		isFrom := r.blank && bytes.HasPrefix(l, []byte("From ")) && validFrom(l)
		r.blank = len(bytes.TrimRight(l, "\r\n")) == 0
		if isFrom && r.started {
			rec := r.buf
			r.buf = append(make([]byte, 0, max(len(rec)/2, 4096)), l...)
			return rec, nil
		}
		if isFrom {
			r.started = true
		}
		if r.started {
			r.buf = append(r.buf, l...)
		}
	}
}

func validFrom(l []byte) bool {
	_, _, ok := mbox.ParseFromLine(bytes.TrimRight(l, "\r\n"))
	return ok
}
