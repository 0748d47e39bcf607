package sieve

import (
	"math"
	"regexp"
	"strconv"
	"strings"
)

// spamtest and virustest (RFC 5235). The score comes from a header a
// filter in front of us wrote; the site says which and how to read it,
// as Pigeonhole's sieve_spamtest_status_header does.

// ScoreConfig says where a score lives and what its range is.
type ScoreConfig struct {
	// Header is the field holding the score, e.g. "X-Spam-Score" (rspamd
	// writes "5.2 / 15.0").
	Header string
	// Pattern reads the field: its first group is the score, an optional
	// second group the maximum. nil: DefaultScorePattern.
	Pattern *regexp.Regexp
	// Max is the score meaning certain spam (or certainly infected) when
	// the header gives none. Scores at or below 0 are clean.
	Max float64
	// Count, when set, takes the score as the number of times this
	// character occurs in the field (SpamAssassin's X-Spam-Level "*****").
	Count rune
}

// DefaultScorePattern reads "5.2", "5.2 / 15.0" and "-1.3/10".
var DefaultScorePattern = regexp.MustCompile(`^\s*(-?[0-9]+(?:\.[0-9]+)?)(?:\s*/\s*([0-9]+(?:\.[0-9]+)?))?`)

// score returns score/max clamped to [0,1], and false when the message
// was not tested (no header, or one the pattern does not read).
func (c *ScoreConfig) ratio(r *runner) (float64, bool) {
	if c == nil || c.Header == "" {
		return 0, false
	}
	idx := r.fieldIndexes(c.Header, &cnode{})
	if len(idx) == 0 {
		return 0, false
	}
	v := r.decoded(idx[0])
	var score, max float64
	max = c.Max
	if c.Count != 0 {
		score = float64(strings.Count(v, string(c.Count)))
	} else {
		p := c.Pattern
		if p == nil {
			p = DefaultScorePattern
		}
		m := p.FindStringSubmatch(v)
		if len(m) < 2 {
			return 0, false
		}
		var err error
		if score, err = strconv.ParseFloat(m[1], 64); err != nil {
			return 0, false
		}
		if len(m) > 2 && m[2] != "" {
			if mx, err := strconv.ParseFloat(m[2], 64); err == nil {
				max = mx
			}
		}
	}
	if max <= 0 || math.IsNaN(score) {
		return 0, false
	}
	return math.Min(1, math.Max(0, score/max)), true
}

// scoreValue is the value the test compares (RFC 5235 §3.2, §3.3):
// spamtest 0 untested, 1 (clean) to 10 (spam); :percent 0 to 100;
// virustest 0 untested, 1 (clean) to 5 (infected).
func scoreValue(r *runner, virus, percent bool) string {
	cfg := r.env.Spam
	if virus {
		cfg = r.env.Virus
	}
	x, ok := cfg.ratio(r)
	switch {
	case !ok:
		return "0"
	case percent:
		return strconv.Itoa(int(math.Round(x * 100)))
	case virus:
		return strconv.Itoa(1 + int(math.Round(x*4)))
	}
	return strconv.Itoa(1 + int(math.Round(x*9)))
}
