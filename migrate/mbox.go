package migrate

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

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
	return n == 0 || string(b[:n]) == "From " || isMMDF(b[:n])
}

// mmdfDelim is MMDF's separator line (four ^A), before and after each
// message.
const mmdfDelim = "\x01\x01\x01\x01"

// isMMDF tells whether a file that starts with b is MMDF.
func isMMDF(b []byte) bool {
	return len(b) == 5 && string(b[:4]) == mmdfDelim && (b[4] == '\n' || b[4] == '\r')
}

// folder streams the file rel beneath the source's root; what is there
// by then must still be a regular file, not a link.
func (s *mboxSource) folder(rel, name string) Folder {
	return Folder{Name: name, Estimate: func(context.Context) (int64, int64) {
		fi, err := s.dir.Lstat(rel)
		if err != nil {
			return 0, 0
		}
		return 0, fi.Size()
	}, Each: func(ctx context.Context, fn func(*Message) error) error {
		fd, err := s.dir.OpenFile(rel, os.O_RDONLY, 0, safefs.Regular)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		defer fd.Close()
		path := s.dir.Join(rel)
		br := bufio.NewReaderSize(fd, 256<<10)
		if head, _ := br.Peek(5); isMMDF(head) {
			return eachMMDF(ctx, br, path, fn)
		}
		r := newMboxReader(br)
		var msg Message
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			rec, recs, err := r.next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("migrate: %s: %w", path, err)
			}
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

// eachMMDF streams an MMDF file (SCO, MMDF and mutt's mmdf type): each
// message between two lines of four ^A, unquoted, with no From_ line, so
// its internal date is its Date field's. Bytes outside a pair are no
// message; a last message without its closing line ends at the end of
// the file.
func eachMMDF(ctx context.Context, br *bufio.Reader, path string, fn func(*Message) error) error {
	var cur []byte
	in, partial := false, false // partial: l continues a longer line
	emit := func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if len(bytes.TrimSpace(cur)) == 0 {
			return nil
		}
		rec := []byte("From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n")
		from := len(rec)
		rec = append(rec, cur...)
		msg := Message{Data: mbox.StripState(cur), Flags: mbox.Flags(rec, mbox.Record{Start: 0, Body: from, End: len(rec)}), Date: headerDate(cur)}
		return fn(&msg)
	}
	for {
		l, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if in {
				cur = append(cur, l...)
			}
			partial = true
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("migrate: %s: %w", path, err)
		}
		isDelim := !partial && string(bytes.TrimRight(l, "\r\n")) == mmdfDelim
		partial = false
		if isDelim {
			if in {
				if e := emit(); e != nil {
					return e
				}
			}
			in, cur = !in, cur[:0]
		} else if in {
			cur = append(cur, l...)
		}
		if err != nil { // io.EOF
			if in {
				return emit()
			}
			return nil
		}
	}
}

// headerDate is the Date field of msg's header, zero when it has none
// that parses.
func headerDate(msg []byte) time.Time {
	hdr := msg
	for _, sep := range []string{"\n\n", "\n\r\n"} {
		if i := bytes.Index(hdr, []byte(sep)); i >= 0 {
			hdr = hdr[:i+1]
		}
	}
	m, err := mail.ReadMessage(bytes.NewReader(append(bytes.ReplaceAll(hdr, []byte("\r\n"), []byte("\n")), '\n', '\n')))
	if err != nil {
		return time.Time{}
	}
	d, err := m.Header.Date()
	if err != nil {
		return time.Time{}
	}
	return d
}

// mboxReader cuts an mbox stream into records, one in memory at a time:
// a record starts at a From_ line that begins the file or follows a blank
// line, as mbox.Split reads them. A Content-Length in the header is
// honoured as Split honours it: where that many octets of body end just
// before the end of the file or one or two line breaks and a From_ line
// (mutt and Solaris mail write it, and their bodies may hold unquoted
// "From " lines after blank ones); where they do not, the length is
// wrong and the record ends at the next From_ line after a blank one.
type mboxReader struct {
	br      *bufio.Reader
	pending []byte // read ahead and given back: served before br
	buf     []byte
	started bool
	read    bool // a line was read
	blank   bool // the last line was empty
	done    bool
}

func newMboxReader(r io.Reader) *mboxReader {
	return &mboxReader{br: bufio.NewReaderSize(r, 256<<10), blank: true}
}

func (r *mboxReader) line() ([]byte, error) {
	if len(r.pending) > 0 {
		n := bytes.IndexByte(r.pending, '\n') + 1
		if n == 0 {
			n = len(r.pending)
		}
		l := r.pending[:n:n]
		r.pending = r.pending[n:]
		return l, nil
	}
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

// unread gives octets back, to be read again before anything else.
func (r *mboxReader) unread(b []byte) {
	if len(b) > 0 {
		r.pending = append(append([]byte(nil), b...), r.pending...)
	}
}

// readBody reads n octets (fewer at the end of the input).
func (r *mboxReader) readBody(n int) ([]byte, error) {
	out := make([]byte, 0, n)
	take := min(n, len(r.pending))
	out = append(out, r.pending[:take]...)
	r.pending = r.pending[take:]
	if len(out) < n {
		rest := make([]byte, n-len(out))
		k, err := io.ReadFull(r.br, rest)
		out = append(out, rest[:k]...)
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, err
		}
	}
	return out, nil
}

// maxContentLength bounds what a Content-Length makes us read ahead at
// once: beyond it the field is not trusted (a message is never that big).
const maxContentLength = 1 << 30

// next returns the next record (From_ line, message and separator) and
// the messages mbox.Split finds in it. Split sees the next record's From_
// line as well, so that it tells the separator from the message exactly
// as it does in the whole file.
func (r *mboxReader) next() ([]byte, []mbox.Record, error) {
	rec, from, err := r.nextRaw()
	if err != nil {
		return nil, nil, err
	}
	full := rec
	if from != nil {
		full = append(rec[:len(rec):len(rec)], from...)
		if !bytes.HasSuffix(from, []byte("\n")) {
			full = append(full, '\n') // the last line of the input
		}
	}
	var recs []mbox.Record
	for try := 0; ; try++ {
		recs = recs[:0]
		across := false
		for _, rc := range mbox.Split(full) {
			if rc.Start < len(rec) {
				across = across || rc.End > len(rec)
				recs = append(recs, rc)
			}
		}
		// A Content-Length that ends past the record ends where Split
		// takes full's end for the file's: lengthEnd found it does not
		// end so in the file. An octet more moves full's end off it.
		if !across || from == nil || try == 16 {
			break
		}
		full = append(full, 'x')
	}
	for i := range recs {
		recs[i].End = min(recs[i].End, len(rec))
		recs[i].Body = min(recs[i].Body, recs[i].End)
	}
	return full, recs, nil
}

// nextRaw returns the next record and the From_ line that ended it (nil
// at the end of the input).
func (r *mboxReader) nextRaw() (rec, from []byte, err error) {
	if r.done {
		return nil, nil, io.EOF
	}
	inHeader, clen := false, -1
	for {
		l, err := r.line()
		if errors.Is(err, io.EOF) {
			r.done = true
			if len(r.buf) > 0 {
				return r.buf, nil, nil
			}
			return nil, nil, io.EOF
		}
		if err != nil {
			return nil, nil, err
		}
		bare := chomp(l)
		// As mbox.Split: the file's first line starts a message if it
		// starts "From "; before the first message any valid From_
		// line does; after it, one that follows a blank line.
		isFrom := bytes.HasPrefix(l, []byte("From ")) &&
			(!r.started && (!r.read || validFrom(l)) || r.started && r.blank && validFrom(l))
		r.read = true
		r.blank = len(bare) == 0
		if isFrom && r.started {
			rec := r.buf
			r.buf = append(make([]byte, 0, max(len(rec)/2, 4096)), l...)
			return rec, l, nil
		}
		if isFrom {
			r.started = true
			inHeader, clen = true, -1
			r.buf = append(r.buf, l...)
			continue
		}
		if !r.started {
			continue
		}
		r.buf = append(r.buf, l...)
		if !inHeader {
			continue
		}
		if len(bare) > 0 {
			if v, ok := cutField(bare, "Content-Length"); ok {
				if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 && n <= maxContentLength {
					clen = n
				}
			}
			continue
		}
		inHeader = false
		if clen < 0 {
			continue
		}
		rec, from, err := r.lengthEnd(clen)
		if err != nil {
			return nil, nil, err
		}
		if rec != nil {
			return rec, from, nil
		}
	}
}

// lengthEnd tries the record's Content-Length n, its header read: the
// record and the From_ line after it when the length ends it, nil with
// everything given back when it does not.
func (r *mboxReader) lengthEnd(n int) (rec, from []byte, err error) {
	body, err := r.readBody(n)
	if err != nil {
		return nil, nil, err
	}
	if len(body) < n {
		r.unread(body)
		return nil, nil, nil
	}
	var tail []byte
	for i := 0; i < 3; i++ {
		l, err := r.line()
		if errors.Is(err, io.EOF) {
			// The end of the input: the length was right.
			rec := append(append(r.buf, body...), tail...)
			r.buf, r.done = nil, true
			return rec, nil, nil
		}
		if err != nil {
			return nil, nil, err
		}
		if i > 0 && bytes.HasPrefix(l, []byte("From ")) && validFrom(l) {
			rec := append(append(r.buf, body...), tail...)
			r.buf = append(make([]byte, 0, max(len(rec)/2, 4096)), l...)
			r.blank = false
			return rec, l, nil
		}
		tail = append(tail, l...)
		if len(chomp(l)) > 0 {
			break
		}
	}
	r.unread(append(body, tail...))
	r.blank = true // the header's blank line
	return nil, nil, nil
}

// cutField returns the value of a header line named name.
func cutField(l []byte, name string) (string, bool) {
	if len(l) <= len(name) || l[len(name)] != ':' || !strings.EqualFold(string(l[:len(name)]), name) {
		return "", false
	}
	return string(l[len(name)+1:]), true
}

func validFrom(l []byte) bool {
	_, _, ok := mbox.ParseFromLine(bytes.TrimRight(l, "\r\n"))
	return ok
}

// chomp is l without its line end ("\n" or "\r\n"), as mbox.Split reads
// a line: "\r\r\n" is not blank.
func chomp(l []byte) []byte {
	return bytes.TrimSuffix(bytes.TrimSuffix(l, []byte("\n")), []byte("\r"))
}
