package message

import (
	"strings"
	"time"
)

// zones are the named zones RFC 5322 §4.3 allows (obsolete syntax), and
// the military letters, which RFC 5322 says to read as -0000.
var zones = map[string]string{
	"UT": "+0000", "GMT": "+0000", "Z": "+0000", "UTC": "+0000",
	"EST": "-0500", "EDT": "-0400", "CST": "-0600", "CDT": "-0500",
	"MST": "-0700", "MDT": "-0600", "PST": "-0800", "PDT": "-0700",
}

var dateLayouts = []string{
	"2 Jan 2006 15:04:05 -0700",
	"2 Jan 2006 15:04 -0700",
	"2 Jan 2006 15:04:05",
	"2 Jan 2006 15:04",
	"2 January 2006 15:04:05 -0700",
	"Jan 2 15:04:05 2006", // ctime, day name removed
	"Jan 2 15:04:05 -0700 2006",
	"Jan 2 15:04:05 MST 2006", // zone name kept by ctime variants
	"2006-01-02T15:04:05Z07:00",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05",
}

// ParseDate reads a Date header leniently: comments, day names, obsolete
// zone names, two-digit years, missing seconds, ctime and ISO 8601. It
// reports false when nothing sane can be made of the value (day 32,
// 25:61:61, …); callers then fall back to the arrival time.
func ParseDate(s string) (time.Time, bool) {
	s = stripComments(s)
	f := strings.Fields(strings.ReplaceAll(s, ",", " "))
	if len(f) == 0 {
		return time.Time{}, false
	}
	if len(f[0]) >= 3 && isDayName(f[0]) {
		f = f[1:]
	}
	for i, w := range f {
		if off, ok := zones[strings.ToUpper(w)]; ok && i > 0 {
			f[i] = off
		} else if len(w) == 1 && i == len(f)-1 && isLetter(w[0]) {
			f[i] = "-0000"
		}
	}
	// Two-digit years: RFC 5322 §4.3: 00-49 → 20xx, 50-99 → 19xx.
	if len(f) >= 3 && len(f[2]) == 2 && isDigits(f[2]) {
		if f[2] < "50" {
			f[2] = "20" + f[2]
		} else {
			f[2] = "19" + f[2]
		}
	} else if len(f) >= 3 && len(f[2]) == 3 && isDigits(f[2]) {
		f[2] = "19" + f[2][1:] // obsolete three-digit years count from 1900
	}
	v := strings.Join(f, " ")
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, v); err == nil {
			if t.Year() < 1900 || t.Year() > 9999 {
				return time.Time{}, false
			}
			return t, true
		}
	}
	return time.Time{}, false
}

func stripComments(s string) string {
	if strings.IndexByte(s, '(') < 0 {
		return s
	}
	var b strings.Builder
	depth := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isDayName(w string) bool {
	switch strings.ToLower(w[:3]) {
	case "mon", "tue", "wed", "thu", "fri", "sat", "sun":
		return true
	}
	return false
}

func isLetter(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' }

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
