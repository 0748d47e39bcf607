package imap

// PREVIEW (RFC 8970): a short plain-text opening of a message, for mail
// lists that show one under the subject.
//
// Invariants:
//   - The preview is at most 256 characters of UTF-8 with white space
//     collapsed and control characters dropped (§3), taken from the first
//     text/plain part, else the first text/html one with its markup
//     removed; a message with neither has the empty preview.
//   - It is made from the message file, read once per FETCH and no
//     further than maxPreviewRead; PREVIEW (LAZY) is answered the same
//     way (computing it is allowed, §3).

import (
	"bytes"
	"html"
	"io"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	gomessage "github.com/emersion/go-message"

	"github.com/storaged/storaged/store"
)

const (
	previewChars   = 256
	maxPreviewRead = 1 << 20
)

// preview computes m's preview.
func (f *fetcher) preview(m *store.Meta) (string, error) {
	r, err := f.mb.Open(m.Message)
	if err != nil {
		return "", err
	}
	defer r.Close()
	raw, err := io.ReadAll(io.LimitReader(r, maxPreviewRead))
	if err != nil {
		return "", err
	}
	return previewText(raw), nil
}

var htmlTag = regexp.MustCompile(`(?s)<(script|style)\b.*?</(script|style)\s*>|<!--.*?-->|<[^>]*>`)

// previewText is RFC 8970's preview of a canonical message.
func previewText(raw []byte) string {
	ent, err := gomessage.Read(bytes.NewReader(raw))
	if err != nil && !unknownPart(err) {
		return ""
	}
	var plain, htmlText string
	var havePlain, haveHTML bool
	var walk func(e *gomessage.Entity, depth int)
	walk = func(e *gomessage.Entity, depth int) {
		if havePlain || depth > maxSearchNesting {
			return
		}
		if mr := e.MultipartReader(); mr != nil {
			for !havePlain {
				p, err := mr.NextPart()
				if err != nil && !unknownPart(err) {
					return
				}
				walk(p, depth+1)
			}
			return
		}
		typ, _, _ := e.Header.ContentType()
		if disp, _, _ := e.Header.ContentDisposition(); disp == "attachment" {
			return
		}
		switch {
		case typ == "" || typ == "text/plain":
			b, _ := io.ReadAll(io.LimitReader(e.Body, maxPreviewRead))
			plain, havePlain = string(b), true
		case typ == "text/html" && !haveHTML:
			b, _ := io.ReadAll(io.LimitReader(e.Body, maxPreviewRead))
			htmlText, haveHTML = html.UnescapeString(htmlTag.ReplaceAllString(string(b), " ")), true
		}
	}
	walk(ent, 0)
	text := plain
	if !havePlain {
		text = htmlText
	}
	return collapse(text, previewChars)
}

// collapse joins s's words with single spaces, drops control and invalid
// characters, and cuts it at n characters.
func collapse(s string, n int) string {
	var b strings.Builder
	count, space := 0, false
	for _, r := range s {
		if count >= n {
			break
		}
		switch {
		case r == utf8.RuneError:
			continue
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case unicode.IsControl(r):
			continue
		}
		if space {
			if count+1 >= n {
				break
			}
			b.WriteByte(' ')
			count++
			space = false
		}
		b.WriteRune(r)
		count++
	}
	return b.String()
}
