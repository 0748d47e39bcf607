package mbox

import (
	"bytes"
	"strconv"
	"strings"
	"time"
)

// Record locates one message in an mbox file.
type Record struct {
	Start int // the From_ line
	Body  int // just after the From_ line
	End   int // end of the message, before the separator
}

// Split finds the messages of an mbox file. It never fails: bytes before
// the first From_ line are not a message, and a message cut off by the
// end of the file ends there.
func Split(b []byte) []Record {
	var out []Record
	pos := 0
	if !bytes.HasPrefix(b, []byte("From ")) {
		p, ok := nextFrom(b, 0)
		if !ok {
			return nil
		}
		pos = p
	}
	for pos < len(b) {
		lineEnd := bytes.IndexByte(b[pos:], '\n')
		if lineEnd < 0 {
			out = append(out, Record{Start: pos, Body: len(b), End: len(b)})
			break
		}
		body := pos + lineEnd + 1
		end, next := messageEnd(b, body)
		out = append(out, Record{Start: pos, Body: body, End: end})
		if next <= pos {
			break
		}
		pos = next
	}
	return out
}

// messageEnd returns where the message whose From_ line ends at body
// ends, and where the next From_ line starts (len(b) when none does).
func messageEnd(b []byte, body int) (end, next int) {
	if n, after, ok := storagedLength(b, body); ok {
		if e := after + n; e >= after && e <= len(b) {
			if nx, ok := validTail(b, e); ok {
				return e, nx
			}
		}
	}
	if n, bodyStart, ok := contentLength(b, body); ok {
		if e := bodyStart + n; e >= bodyStart && e <= len(b) {
			if nx, ok := validTail(b, e); ok {
				return e, nx
			}
		}
	}
	return separator(b, body)
}

// separator finds the first blank line followed by a valid From_ line at
// or after from-1, and returns the end of the message (the start of the
// blank line) and the next From_ line. At the end of the file the blank
// line that separated the last message, if any, is not the message's.
func separator(b []byte, from int) (end, next int) {
	i := max(from-1, 0)
	for {
		j := bytes.Index(b[i:], []byte("\nFrom "))
		if j < 0 {
			break
		}
		k := i + j // the '\n' just before "From "
		i = k + 1
		if k < from-1 || !validFromLine(line(b, k+1)) {
			continue
		}
		switch {
		case k >= 1 && b[k-1] == '\n':
			return k, k + 1
		case k >= 2 && b[k-1] == '\r' && b[k-2] == '\n':
			return k - 1, k + 1
		}
	}
	end = len(b)
	switch {
	case bytes.HasSuffix(b[from:], []byte("\r\n\r\n")):
		end -= 2
	case bytes.HasSuffix(b[from:], []byte("\n\n")):
		end--
	}
	return max(end, from), len(b)
}

// validTail tells whether position p can end a message: the end of the
// file, or one or two line breaks then the end of the file or a From_
// line. It returns where the next From_ line starts.
func validTail(b []byte, p int) (next int, ok bool) {
	if p == len(b) {
		return p, true
	}
	q := p
	for n := 0; n < 2; n++ {
		switch {
		case bytes.HasPrefix(b[q:], []byte("\r\n")):
			q += 2
		case bytes.HasPrefix(b[q:], []byte("\n")):
			q++
		default:
			n = 2
		}
		if q == len(b) {
			return q, true
		}
		if q > p && bytes.HasPrefix(b[q:], []byte("From ")) && validFromLine(line(b, q)) {
			return q, true
		}
	}
	return 0, false
}

// nextFrom finds the first From_ line at the start of a line at or after
// from.
func nextFrom(b []byte, from int) (int, bool) {
	for i := from; i < len(b); {
		j := bytes.Index(b[i:], []byte("\nFrom "))
		if j < 0 {
			return 0, false
		}
		k := i + j + 1
		if validFromLine(line(b, k)) {
			return k, true
		}
		i = k
	}
	return 0, false
}

// line returns the line starting at p without its line end.
func line(b []byte, p int) []byte {
	e := bytes.IndexByte(b[p:], '\n')
	if e < 0 {
		return b[p:]
	}
	return bytes.TrimSuffix(b[p:p+e], []byte("\r"))
}

// storagedLength reads our own framing line right after the From_ line.
func storagedLength(b []byte, p int) (n, after int, ok bool) {
	const name = "X-Storaged-Length: "
	l := line(b, p)
	if !bytes.HasPrefix(l, []byte(name)) {
		return 0, 0, false
	}
	v, err := strconv.Atoi(string(l[len(name):]))
	if err != nil || v < 0 {
		return 0, 0, false
	}
	after = p + len(l) + 1
	if after < len(b) && b[after-1] == '\r' {
		after++
	}
	return v, min(after, len(b)), true
}

// contentLength finds a Content-Length field in the header that starts at
// p and returns its value and where the body starts.
func contentLength(b []byte, p int) (n, bodyStart int, ok bool) {
	found := -1
	for q := p; q < len(b); {
		l := line(b, q)
		next := q + len(l) + 1
		if next <= len(b) && next-1 < len(b) && b[next-1] == '\r' {
			next++
		}
		if len(l) == 0 {
			if found < 0 {
				return 0, 0, false
			}
			return found, min(next, len(b)), true
		}
		if v, ok := fieldValue(l, "Content-Length"); ok {
			if x, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && x >= 0 {
				found = x
			}
		}
		q = next
	}
	return 0, 0, false
}

// fieldValue returns the value of a header line named name.
func fieldValue(l []byte, name string) (string, bool) {
	if len(l) <= len(name) || l[len(name)] != ':' || !strings.EqualFold(string(l[:len(name)]), name) {
		return "", false
	}
	return string(l[len(name)+1:]), true
}

var weekdays = map[string]bool{"Mon": true, "Tue": true, "Wed": true, "Thu": true, "Fri": true, "Sat": true, "Sun": true}

var months = map[string]time.Month{
	"Jan": time.January, "Feb": time.February, "Mar": time.March, "Apr": time.April, "May": time.May, "Jun": time.June,
	"Jul": time.July, "Aug": time.August, "Sep": time.September, "Oct": time.October, "Nov": time.November, "Dec": time.December,
}

func validFromLine(l []byte) bool {
	_, _, ok := ParseFromLine(l)
	return ok
}

// ParseFromLine reads a From_ line (without its line end): the envelope
// sender, possibly empty or "-", and the date, in the forms found in the
// wild (asctime with or without seconds, a zone name before the year or a
// numeric zone after it, UUCP "remote from").
func ParseFromLine(l []byte) (sender string, date time.Time, ok bool) {
	rest, found := bytes.CutPrefix(l, []byte("From "))
	if !found {
		return "", time.Time{}, false
	}
	f := strings.Fields(string(rest))
	for i := 0; i+3 < len(f); i++ {
		mon, isMonth := months[f[i+1]]
		if !weekdays[f[i]] || !isMonth {
			continue
		}
		day, err := strconv.Atoi(f[i+2])
		if err != nil || day < 1 || day > 31 {
			continue
		}
		var h, m, s int
		hms := strings.Split(f[i+3], ":")
		if len(hms) < 2 || len(hms) > 3 {
			continue
		}
		var perr error
		if h, perr = strconv.Atoi(hms[0]); perr != nil || h > 23 {
			continue
		}
		if m, perr = strconv.Atoi(hms[1]); perr != nil || m > 59 {
			continue
		}
		if len(hms) == 3 {
			if s, perr = strconv.Atoi(hms[2]); perr != nil || s > 60 {
				continue
			}
		}
		year, loc := -1, time.UTC
		for _, t := range f[i+4:] {
			if year < 0 && len(t) == 4 && allDigits(t) {
				year, _ = strconv.Atoi(t)
				continue
			}
			if year >= 0 && len(t) == 5 && (t[0] == '+' || t[0] == '-') && allDigits(t[1:]) {
				hh, _ := strconv.Atoi(t[1:3])
				mm, _ := strconv.Atoi(t[3:])
				off := (hh*60 + mm) * 60
				if t[0] == '-' {
					off = -off
				}
				loc = time.FixedZone("", off)
				break
			}
			if year >= 0 {
				break
			}
		}
		if year < 0 {
			continue
		}
		return strings.Join(f[:i], " "), time.Date(year, mon, day, h, m, s, 0, loc), true
	}
	return "", time.Time{}, false
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
