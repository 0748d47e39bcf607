package main

import (
	"strconv"
	"time"
)

// benchEpoch is the Date of message 0.
var benchEpoch = time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC)

// Messages are generated, never read from disk: every message carries its
// own number in Subject and Message-ID, a keyword kwNNNN (number mod 100) in
// Subject and bodykwNNNN on the first body line, so that SEARCH HEADER and
// SEARCH TEXT each match one message in a hundred; the rest of the body is
// a filler block shared by all messages of one size, already in CRLF and
// dot-stuffed form, so building a message costs one append per field.

// keywords is how many distinct search keywords messages cycle through.
const keywords = 100

// generator builds the wire form (CRLF, dot-stuffed, ending in ".\r\n") of
// message i into a caller's buffer.
type generator struct {
	seed   string // distinguishes fills in Message-ID
	filler []byte
}

// headerEstimate is about how many bytes the header and the first body
// line take, so that a message of size S has about S octets.
const headerEstimate = 300

func newGenerator(size int, seed string) *generator {
	n := size - headerEstimate
	if n < 0 {
		n = 0
	}
	return &generator{seed: seed, filler: filler(n)}
}

var vocabulary = []string{
	"lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do",
	"eiusmod", "tempor", "incididunt", "ut", "labore", "et", "dolore", "magna", "aliqua", "enim",
	"minim", "veniam", "quis", "nostrud", "exercitation", "ullamco", "laboris", "nisi", "aliquip",
	"commodo", "consequat", "duis", "aute", "irure", "in", "reprehenderit", "voluptate", "velit",
	"esse", "cillum", "fugiat", "nulla", "pariatur", "excepteur", "sint", "occaecat", "cupidatat",
}

// filler is n octets of text lines of at most 76 characters, each ending
// in CRLF; no line starts with a dot, so no stuffing is needed.
func filler(n int) []byte {
	b := make([]byte, 0, n+80)
	x := uint32(2463534242)
	line := 0
	for len(b) < n {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		w := vocabulary[x%uint32(len(vocabulary))]
		if line > 0 && line+1+len(w) > 76 {
			b = append(b, '\r', '\n')
			line = 0
			continue
		}
		if line > 0 {
			b = append(b, ' ')
			line++
		}
		b = append(b, w...)
		line += len(w)
	}
	if line > 0 {
		b = append(b, '\r', '\n')
	}
	return b
}

// appendMessage appends message i for recipient to, in DATA form ending in
// the terminating ".\r\n".
func (g *generator) appendMessage(b []byte, i int, to string) []byte {
	b = append(b, "From: Bench Sender <sender@bench.example>\r\nTo: <"...)
	b = append(b, to...)
	b = append(b, ">\r\nSubject: bench message "...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, " kw"...)
	b = appendKeyword(b, i)
	// Dates a minute apart (SORT by DATE has something to sort), and
	// threads of four (each message but every fourth answers the one
	// before), so THREAD builds real trees.
	b = append(b, "\r\nDate: "...)
	b = benchEpoch.Add(time.Duration(i)*time.Minute).AppendFormat(b, time.RFC1123Z)
	b = append(b, "\r\nMessage-ID: <"...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, '.')
	b = append(b, g.seed...)
	b = append(b, "@bench.example>\r\n"...)
	if i%4 != 0 {
		b = append(b, "In-Reply-To: <"...)
		b = strconv.AppendInt(b, int64(i-1), 10)
		b = append(b, '.')
		b = append(b, g.seed...)
		b = append(b, "@bench.example>\r\n"...)
	}
	b = append(b, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nbodykw"...)
	b = appendKeyword(b, i)
	b = append(b, " opens message "...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, "\r\n"...)
	b = append(b, g.filler...)
	return append(b, ".\r\n"...)
}

// appendKeyword appends the four-digit keyword number of message i.
func appendKeyword(b []byte, i int) []byte {
	k := i % keywords
	return append(b, byte('0'+k/1000%10), byte('0'+k/100%10), byte('0'+k/10%10), byte('0'+k%10))
}

// keywordHits is how many of messages first..first+n-1 carry keyword k.
func keywordHits(first, n, k int) int {
	hits := 0
	for i := first; i < first+n; i++ {
		if i%keywords == k {
			hits++
		}
	}
	return hits
}
