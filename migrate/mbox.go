package migrate

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/mbox"
)

// mboxSource is an mbox file (one folder) or a tree of them: plain
// directories (mutt, Dovecot) or Thunderbird's "A.sbd/B".
type mboxSource struct {
	root string
	file bool
}

func (s *mboxSource) Kind() string                    { return "mbox" }
func (s *mboxSource) Subscriptions() ([]string, bool) { return nil, false }

func (s *mboxSource) Folders() ([]Folder, error) {
	if s.file {
		return []Folder{s.folder(s.root, fileFolderName(s.root))}, nil
	}
	var out []Folder
	err := filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == s.root {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !d.Type().IsRegular() || !isMboxFile(p) {
			return nil
		}
		rel, _ := filepath.Rel(s.root, p)
		levels := strings.Split(filepath.ToSlash(rel), "/")
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
		return nil
	})
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
func isMboxFile(p string) bool {
	if strings.HasSuffix(p, ".lock") || strings.HasSuffix(p, ".msf") {
		return false
	}
	fd, err := os.Open(p)
	if err != nil {
		return false
	}
	defer fd.Close()
	b := make([]byte, 5)
	n, _ := io.ReadFull(fd, b)
	return n == 0 || string(b[:n]) == "From "
}

func (s *mboxSource) folder(path, name string) Folder {
	return Folder{Name: name, Each: func(ctx context.Context, fn func(*Message) error) error {
		fd, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		defer fd.Close()
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
