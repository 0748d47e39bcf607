package message

import (
	"strings"
	"sync"
	"time"
)

// ParseDate reads a Date header leniently: RFC 5322 §3.3 with the
// obsolete syntax of §4.3 (comments anywhere, two- and three-digit years,
// missing seconds, named zones, military zones), plus what mailers write
// instead: ctime/asctime ("Thu Mar  4 05:06:07 2021"), "May 8, 2005 1:17
// PM" and ISO 8601. It reports false when nothing sane can be made of the
// value (no month, day 32, 25:61:61, a year before 1900 or after 9999, a
// lone number, words it does not know before the time); callers then
// fall back to the arrival time. An unknown or out-of-range zone is read
// as -0000 (UTC), as RFC 5322 §4.3 says for unknown zone names.
func ParseDate(s string) (time.Time, bool) {
	s = strings.TrimSpace(stripComments(s))
	if s == "" {
		return time.Time{}, false
	}
	var d dateParts
	ok := false
	if len(s) >= 8 && isDigits(s[:4]) && s[4] == '-' {
		ok = d.iso(s)
	} else {
		ok = d.rfc(s)
	}
	if !ok {
		return time.Time{}, false
	}
	return d.time()
}

type dateParts struct {
	year, yearDigits  int
	month, day        int
	hour, min, sec    int
	hasTime           bool
	ampm              byte // 'a', 'p' or 0
	offset            int  // seconds east of UTC
	hasZone, badZone  bool
	numZone           bool
	hasDay, hasNumber bool
}

var monthNames = []string{"january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"}
var dayNames = []string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}

// zoneOffsets are the zone names RFC 5322 §4.3 defines, in hours.
var zoneOffsets = map[string]int{
	"ut": 0, "utc": 0, "gmt": 0, "z": 0,
	"est": -5, "edt": -4, "cst": -6, "cdt": -5,
	"mst": -7, "mdt": -6, "pst": -8, "pdt": -7,
}

// prefixOf reports whether w abbreviates one of names (at least three
// letters: "Sept", "Thurs"), and which.
func prefixOf(w string, names []string) int {
	if len(w) < 3 {
		return -1
	}
	for i, n := range names {
		if strings.HasPrefix(n, w) {
			return i
		}
	}
	return -1
}

// rfc reads the RFC 5322 family of formats, in whatever order the day,
// month, year and time come.
func (d *dateParts) rfc(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',':
			i++
			continue
		case isDigit(c):
			j := digitsEnd(s, i)
			if j-i > 9 {
				return false
			}
			n := atoi(s[i:j])
			if k := skipWSP(s, j); k < len(s) && s[k] == ':' {
				if d.hasTime {
					return false
				}
				var ok bool
				if i, ok = d.clock(s, i); !ok {
					return false
				}
				continue
			}
			switch {
			case j-i >= 3 || n > 31:
				if d.yearDigits != 0 {
					return false
				}
				d.year, d.yearDigits = n, j-i
			case !d.hasDay:
				d.day, d.hasDay = n, true
			case d.yearDigits == 0:
				d.year, d.yearDigits = n, j-i
			default:
				return false
			}
			i = j
		case (c == '+' || c == '-') && i+1 < len(s) && isDigit(s[i+1]) && (d.hasTime || i == 0 || s[i-1] == ' ' || s[i-1] == '\t'):
			j := digitsEnd(s, i+1)
			v := s[i+1 : j]
			if j+2 < len(s) && s[j] == ':' && len(v) == 2 && isDigit(s[j+1]) && isDigit(s[j+2]) {
				v += s[j+1 : j+3] // +hh:mm
				j += 3
			}
			if !d.numZone {
				// A number beats a name: "GMT+0100" is +0100.
				d.zone(c, v)
			}
			i = j
		case isLetter(c):
			j := i
			for j < len(s) && isLetter(s[j]) {
				j++
			}
			if !d.word(strings.ToLower(s[i:j])) {
				return false
			}
			i = j
		case c == '-' || c == '/' || c == '.':
			i++ // separators of "4-Mar-2021" and the like
		default:
			return false // 8-bit or control bytes: a localised or broken date
		}
	}
	return d.hasDay && d.month > 0 && d.yearDigits > 0
}

func (d *dateParts) word(w string) bool {
	if m := prefixOf(w, monthNames); m >= 0 && (len(w) == 3 || w == monthNames[m] || w == "sept") {
		if d.month > 0 {
			return false
		}
		d.month = m + 1
		return true
	}
	if n := prefixOf(w, dayNames); n >= 0 {
		return true // the day name is redundant; a wrong one is harmless
	}
	if (w == "am" || w == "pm") && d.hasTime && d.ampm == 0 {
		d.ampm = w[0]
		return true
	}
	if !d.hasTime {
		return false
	}
	// After the time, a word is a zone. Military letters are -0000 (RFC
	// 5322 §4.3: RFC 822 got their signs wrong), as are unknown names.
	if !d.hasZone {
		h, known := zoneOffsets[w]
		d.offset, d.hasZone, d.badZone = h*3600, true, !known
	}
	return true
}

// zone reads a numeric zone: hhmm, hh, or hh:mm joined already.
func (d *dateParts) zone(sign byte, v string) {
	d.hasZone, d.numZone, d.badZone = true, true, false
	var h, m int
	switch len(v) {
	case 4:
		h, m = atoi(v[:2]), atoi(v[2:])
	case 2:
		h = atoi(v)
	default:
		d.badZone = true
		return
	}
	if h > 23 || m > 59 {
		d.badZone = true
		return
	}
	d.offset = (h*60 + m) * 60
	if sign == '-' {
		d.offset = -d.offset
	}
}

// clock reads h:mm[:ss[.frac]] at s[i:], with the white space obsolete
// syntax allows around the colons ("09 :   55  :  06").
func (d *dateParts) clock(s string, i int) (int, bool) {
	var f [3]int
	n := 0
	for n < 3 {
		j := digitsEnd(s, i)
		if j == i || j-i > 2 {
			return i, false
		}
		f[n] = atoi(s[i:j])
		n++
		i = j
		if k := skipWSP(s, j); n < 3 && k < len(s) && s[k] == ':' {
			if k = skipWSP(s, k+1); k < len(s) && isDigit(s[k]) {
				i = k
				continue
			}
		}
		break
	}
	if n < 2 {
		return i, false
	}
	if n == 3 && i+1 < len(s) && s[i] == '.' && isDigit(s[i+1]) {
		i = digitsEnd(s, i+1) // fractions of a second
	}
	d.hour, d.min, d.sec, d.hasTime = f[0], f[1], f[2], true
	return i, true
}

// iso reads YYYY-MM-DD[(T| )hh:mm[:ss[.frac]]][ ][Z|±hh[:]mm|±hh|UTC|GMT].
func (d *dateParts) iso(s string) bool {
	d.year, d.yearDigits = atoi(s[:4]), 4
	i := 5
	j := digitsEnd(s, i)
	if j == i || j-i > 2 || j >= len(s) || s[j] != '-' {
		return false
	}
	d.month = atoi(s[i:j])
	i = j + 1
	j = digitsEnd(s, i)
	if j == i || j-i > 2 {
		return false
	}
	d.day, d.hasDay = atoi(s[i:j]), true
	i = j
	if i == len(s) {
		return true
	}
	if s[i] != 'T' && s[i] != 't' && s[i] != ' ' {
		return false
	}
	i++
	var ok bool
	if i, ok = d.clock(s, i); !ok {
		return false
	}
	for i < len(s) && s[i] == ' ' {
		i++
	}
	rest := strings.TrimRight(s[i:], " \t")
	switch {
	case rest == "":
	case rest == "Z" || rest == "z" || strings.EqualFold(rest, "UTC") || strings.EqualFold(rest, "GMT"):
		d.hasZone = true
	case (rest[0] == '+' || rest[0] == '-') && len(rest) > 1:
		v := strings.Replace(rest[1:], ":", "", 1)
		if !isDigits(v) {
			return false
		}
		d.zone(rest[0], v)
	default:
		return false
	}
	return true
}

func (d *dateParts) time() (time.Time, bool) {
	y := d.year
	switch d.yearDigits {
	case 2:
		// RFC 5322 §4.3: 00-49 are 2000-2049, 50-99 are 1950-1999.
		if y < 50 {
			y += 2000
		} else {
			y += 1900
		}
	case 3:
		y += 1900
	case 4:
	default:
		return time.Time{}, false
	}
	if y < 1900 || y > 9999 || d.month < 1 || d.month > 12 || d.day < 1 || d.day > daysIn(d.month, y) {
		return time.Time{}, false
	}
	h := d.hour
	switch d.ampm {
	case 'a', 'p':
		if h < 1 || h > 12 {
			return time.Time{}, false
		}
		h %= 12
		if d.ampm == 'p' {
			h += 12
		}
	}
	if h > 23 || d.min > 59 || d.sec > 60 {
		return time.Time{}, false
	}
	sec := min(d.sec, 59) // a leap second is kept within its minute
	off := d.offset
	if d.badZone {
		off = 0
	}
	return time.Date(y, time.Month(d.month), d.day, h, d.min, sec, 0, zoneFor(off)), true
}

func daysIn(m, y int) int {
	return time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// zones shares one *time.Location per offset, so that a parsed and a
// decoded envelope hold equal times and decoding allocates none.
var zones sync.Map // int → *time.Location

func zoneFor(off int) *time.Location {
	if off == 0 {
		return time.UTC
	}
	if l, ok := zones.Load(off); ok {
		return l.(*time.Location)
	}
	l := time.FixedZone("", off)
	if off%60 == 0 && off > -24*3600 && off < 24*3600 {
		// Bounded: at most 2,879 entries, whatever the input.
		l2, _ := zones.LoadOrStore(off, l)
		return l2.(*time.Location)
	}
	return l
}

func skipWSP(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

func digitsEnd(s string, i int) int {
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' }

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}
