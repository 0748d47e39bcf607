package maildir

import (
	"crypto/rand"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/storaged/storaged/folder"
)

// uniq builds unique file names as the Maildir spec describes.
type uniq struct {
	host string
	pid  int
	seq  atomic.Uint64
}

func newUniq() *uniq {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "localhost"
	}
	// '/' and ':' cannot appear in a name's host part (spec: \057, \072).
	h = strings.NewReplacer("/", `\057`, ":", `\072`).Replace(h)
	return &uniq{host: h, pid: os.Getpid()}
}

// next is a new unique name. Beside the time, pid and counter it holds
// R and 64 random bits (the spec's "R" field), so that no one can guess
// the name of a file before it is written in tmp/ and put something there
// first.
func (u *uniq) next(now time.Time, size, crlfSize int64) string {
	n := u.seq.Add(1)
	var rnd [8]byte
	rand.Read(rnd[:])
	return fmt.Sprintf("%d.M%dP%dQ%dR%x.%s,S=%d,W=%d",
		now.Unix(), now.Nanosecond()/1000, u.pid, n, rnd, u.host, size, crlfSize)
}

// splitName splits a file name into its key and its info ("2,FS" or "").
func splitName(name string) (key, info string) {
	if i := strings.IndexByte(name, ':'); i >= 0 {
		return name[:i], name[i+1:]
	}
	return name, ""
}

// keyField returns the value of ",field=" in a key (up to the next
// comma), as Dovecot and Courier write S= and W=.
func keyField(key, field string) (string, bool) {
	i := strings.Index(key, ","+field+"=")
	if i < 0 {
		return "", false
	}
	rest := key[i+len(field)+2:]
	if j := strings.IndexByte(rest, ','); j >= 0 {
		rest = rest[:j]
	}
	return rest, true
}

// crcFromKey reads ,H= (crcField) from a key.
func crcFromKey(key string) (uint32, bool) {
	v, ok := keyField(key, crcField)
	if !ok || len(v) != 8 {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 16, 32)
	return uint32(n), err == nil
}

// sizeFromKey reads ,S= (or ,W=) from a key.
func sizeFromKey(key, field string) (int64, bool) {
	v, ok := keyField(key, field)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil && n >= 0
}

// flagLetters maps system flags to Maildir info letters.
var flagLetters = []struct {
	f folder.SysFlags
	c byte
}{
	{folder.Draft, 'D'}, {folder.Flagged, 'F'}, {folder.Answered, 'R'},
	{folder.Seen, 'S'}, {folder.Deleted, 'T'},
}

// forwarded is the keyword Maildir spells 'P' (passed).
const forwarded = "$Forwarded"

// parseInfo reads the flags from an info part ("2,DRS", experimental "1,"
// ignored). Keyword letters are resolved through kw.
func parseInfo(info string, kw *keywords) folder.Flags {
	var f folder.Flags
	letters, ok := strings.CutPrefix(info, "2,")
	if !ok {
		return f
	}
	for i := 0; i < len(letters); i++ {
		c := letters[i]
		switch {
		case c == 'P':
			f.Keywords = append(f.Keywords, forwarded)
		case c >= 'a' && c <= 'z':
			if name, ok := kw.name(int(c - 'a')); ok {
				f.Keywords = append(f.Keywords, name)
			}
		default:
			for _, l := range flagLetters {
				if l.c == c {
					f.Sys |= l.f
				}
			}
		}
	}
	f.Keywords = folder.NormalizeKeywords(f.Keywords)
	return f
}

// formatInfo writes flags as an info part; keywords without a letter (the
// alphabet holds 26) stay in the index only.
func formatInfo(f folder.Flags, kw *keywords) (string, error) {
	var letters []byte
	for _, l := range flagLetters {
		if f.Sys.Has(l.f) {
			letters = append(letters, l.c)
		}
	}
	for _, k := range f.Keywords {
		if strings.EqualFold(k, forwarded) {
			letters = append(letters, 'P')
			continue
		}
		idx, err := kw.index(k)
		if err != nil {
			return "", err
		}
		if idx >= 0 {
			letters = append(letters, byte('a'+idx))
		}
	}
	sort.Slice(letters, func(i, j int) bool { return letters[i] < letters[j] })
	return "2," + string(letters), nil
}
