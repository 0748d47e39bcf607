package maildir

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/internal/safefs"
)

// Dovecot's files in a Maildir++ store, read when storaged adopts or
// imports one (the formats are Dovecot's src/lib-storage/index/maildir/
// maildir-uidlist.c and mailbox-list-subscriptions.c):
//
//	dovecot-uidlist   v1: "1 <uidvalidity> <nextuid>", lines "<uid> <file>"
//	                  v2: lines "<uid> <flags> <file>"
//	                  v3: "3 V<uidvalidity> N<nextuid> G<guid> …",
//	                      lines "<uid> [<key><value> …] :<file>"
//	                      (P<pop3 uidl>, W<vsize>, S<size>, G<guid>, …)
//	subscriptions     "V\t2\n\n" then one name a line, levels split by TAB;
//	                  older files: one name a line in the namespace's spelling
//
// Dovecot appends lines without rewriting the header, so the header's
// next UID can be behind the lines (a fresh folder says N1 with three
// messages listed): UIDNEXT is the larger of N and the last UID + 1.
// Lines for files that are gone stay until Dovecot compresses the file;
// their UIDs are still used, which the UIDNEXT rule respects.
const (
	uidlistFile       = "dovecot-uidlist"
	subscriptionsFile = "subscriptions"
	// adoptedMark says storaged took over (or refused) this folder's
	// uidlist. A dot-file: no Maildir reader takes it for a message or
	// a folder.
	adoptedMark = ".storaged-adopted"
)

// maxUIDListLine bounds a uidlist line; a longer one is skipped (a file
// name is at most 255 octets, the extension fields a few dozen).
const maxUIDListLine = 8192

var _ folder.UIDHistory = (*Folder)(nil)

// ReadForeignUIDs implements folder.UIDHistory from dovecot-uidlist.
func (f *Folder) ReadForeignUIDs(fn func(folder.ForeignUID) error) (folder.ForeignUIDs, bool, error) {
	fd, err := f.dir().OpenFile(f.name(uidlistFile), os.O_RDONLY, 0, safefs.Regular)
	if folder.Missing(err) {
		// None, or a link, or not a file: no record we read.
		return folder.ForeignUIDs{}, false, nil
	}
	if err != nil {
		return folder.ForeignUIDs{}, false, fmt.Errorf("maildir: %w", err)
	}
	defer fd.Close()
	return ReadUIDList(fd, fn)
}

// ReadUIDList parses a dovecot-uidlist. Lines whose UID does not rise
// above the one before, or whose key was listed already, are skipped and
// counted: a UID must never name two messages.
func ReadUIDList(r io.Reader, fn func(folder.ForeignUID) error) (folder.ForeignUIDs, bool, error) {
	var hdr folder.ForeignUIDs
	br := bufio.NewReaderSize(r, 64<<10)
	corrupt := fmt.Errorf("maildir: %s: %w", uidlistFile, folder.ErrCorruptRecord)
	line, err := readLine(br)
	if errors.Is(err, io.EOF) || errors.Is(err, errLongLine) {
		return hdr, false, corrupt
	}
	if err != nil {
		return hdr, false, fmt.Errorf("maildir: read uidlist: %w", err)
	}
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return hdr, false, corrupt
	}
	version := fields[0]
	switch version {
	case "1":
		if len(fields) < 3 {
			return hdr, false, corrupt
		}
		hdr.UIDValidity = parseUint32(fields[1])
		hdr.UIDNext = parseUint32(fields[2])
	case "2", "3":
		for _, fl := range fields[1:] {
			switch fl[0] {
			case 'V':
				hdr.UIDValidity = parseUint32(fl[1:])
			case 'N':
				hdr.UIDNext = parseUint32(fl[1:])
			}
		}
	default:
		return hdr, false, corrupt
	}
	if hdr.UIDValidity == 0 {
		return hdr, false, corrupt
	}
	var last uint32
	seen := make(map[string]struct{})
	for {
		line, err := readLine(br)
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, errLongLine) {
			hdr.Skipped++
			continue
		}
		if err != nil {
			return hdr, false, fmt.Errorf("maildir: read uidlist: %w", err)
		}
		if line == "" {
			continue
		}
		u, ok := parseUIDLine(version, line)
		if !ok || u.UID <= last {
			hdr.Skipped++
			continue
		}
		if _, dup := seen[u.Key]; dup {
			hdr.Skipped++
			continue
		}
		seen[u.Key] = struct{}{}
		last = u.UID
		if err := fn(u); err != nil {
			return hdr, false, err
		}
	}
	if last >= hdr.UIDNext {
		hdr.UIDNext = last + 1
	}
	if hdr.UIDNext == 0 {
		// UIDs exhausted: nothing could be adopted without reuse.
		return hdr, false, corrupt
	}
	return hdr, true, nil
}

func parseUIDLine(version, line string) (folder.ForeignUID, bool) {
	var u folder.ForeignUID
	uid, rest, ok := strings.Cut(line, " ")
	if !ok {
		return u, false
	}
	if u.UID = parseUint32(uid); u.UID == 0 {
		return u, false
	}
	var name string
	switch version {
	case "1":
		name = rest
	case "2":
		_, name, ok = strings.Cut(rest, " ")
	default:
		var ext string
		if strings.HasPrefix(rest, ":") {
			name = rest[1:]
		} else {
			ext, name, ok = strings.Cut(rest, " :")
		}
		for _, fl := range strings.Fields(ext) {
			if fl[0] == 'P' && validUIDL(fl[1:]) {
				u.POP3UIDL = fl[1:]
			}
		}
	}
	if !ok || name == "" || strings.ContainsAny(name, "/\x00") {
		return u, false
	}
	u.Key, _ = splitName(name)
	return u, u.Key != ""
}

// validUIDL: RFC 1939 §7, one to 70 characters from 0x21 to 0x7E.
func validUIDL(s string) bool {
	if len(s) == 0 || len(s) > 70 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func parseUint32(s string) uint32 {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0
	}
	return uint32(n)
}

var errLongLine = errors.New("maildir: line too long")

// readLine reads one line without its end; a line over maxUIDListLine is
// consumed and reported as errLongLine.
func readLine(br *bufio.Reader) (string, error) {
	var b []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(b)+len(frag) <= maxUIDListLine {
			b = append(b, frag...)
		} else {
			b = b[:0:0]
			if err == nil {
				return "", errLongLine
			}
		}
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) && len(b) > 0 {
			break
		}
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// Adopted implements folder.UIDHistory: the mark is a regular file.
func (f *Folder) Adopted() bool {
	return f.dir().IsRegular(f.name(adoptedMark))
}

// MarkAdopted implements folder.UIDHistory. The mark is a new file
// renamed into place: whatever was at its name (a link) is replaced,
// never written through.
func (f *Folder) MarkAdopted() error {
	if err := f.dir().WriteFile(f.name(adoptedMark), nil, 0o600); err != nil {
		return fmt.Errorf("maildir: %w", notFound(f.rel, err))
	}
	return f.dir().SyncDir(f.rel)
}

var _ folder.ForeignSubscriptions = (*Store)(nil)

// maxSubscriptionsFile bounds what is read of Dovecot's subscriptions.
const maxSubscriptionsFile = 4 << 20

// ReadForeignSubscriptions implements folder.ForeignSubscriptions from
// Dovecot's subscriptions file at the store root.
func (s *Store) ReadForeignSubscriptions() ([]string, bool, error) {
	b, err := s.dir.ReadFile(subscriptionsFile, maxSubscriptionsFile)
	if folder.Missing(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("maildir: %w", err)
	}
	return ParseSubscriptions(string(b)), true, nil
}

// ParseSubscriptions reads a Dovecot subscriptions file. Names we could
// not hold (folder.CheckName) are left out.
func ParseSubscriptions(data string) []string {
	lines := strings.Split(data, "\n")
	sep := ""
	if len(lines) > 0 && strings.TrimRight(lines[0], "\r") == "V\t2" {
		lines, sep = lines[1:], "\t"
	}
	var out []string
	for _, l := range lines {
		l = strings.TrimRight(l, "\r")
		if l == "" {
			continue
		}
		var levels []string
		if sep != "" {
			levels = strings.Split(l, sep)
		} else {
			// v1 spells the namespace separator, '.' by default for
			// Maildir++, or '/': our names hold neither as data.
			levels = strings.FieldsFunc(l, func(r rune) bool { return r == '.' || r == '/' })
		}
		for i, lv := range levels {
			if strings.Contains(lv, "&") {
				if d, err := folder.DecodeMUTF7(lv); err == nil {
					levels[i] = d
				}
			}
		}
		name := folder.CanonicalName(strings.Join(levels, folder.Separator))
		if folder.CheckName(name) == nil {
			out = append(out, name)
		}
	}
	return out
}
