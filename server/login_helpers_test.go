package server_test

import (
	"encoding/base64"
	"strings"
)

func b64s(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// logLines are the lines of a kept log (sieve_safety_test.go's logBuf)
// holding every one of words.
func logLines(l *logBuf, words ...string) []string {
	var out []string
	for _, line := range strings.Split(l.String(), "\n") {
		ok := line != ""
		for _, w := range words {
			ok = ok && strings.Contains(line, w)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}
