package sieve

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime/quotedprintable"
	"regexp"
	"strings"

	"github.com/emersion/go-message/charset"
	"github.com/storaged/storaged/message"
)

// The body test (RFC 5173). :raw is the body as it came; :content and
// :text see leaf MIME parts with their transfer encoding undone and text
// converted to UTF-8 (§5.2); :text takes text parts only, HTML with its
// markup removed, much as Pigeonhole extracts text. Every value is cut at
// RunLimits.MaxBodySize, so a huge attachment costs a bounded amount.

type bodyPart struct {
	typ, sub string
	content  string
}

type bodyCache struct{ parts []bodyPart }

func (r *runner) bodyParts() []bodyPart {
	if r.body != nil {
		return r.body.parts
	}
	r.body = &bodyCache{}
	var buf bytes.Buffer
	for _, f := range r.header {
		if strings.HasPrefix(strings.ToLower(f.Name), "content-") || strings.EqualFold(f.Name, "mime-version") {
			buf.Write(FormatHeader([]Field{f.Field}))
		}
	}
	buf.WriteString("\r\n")
	buf.Write(r.msg.Body)
	raw := buf.Bytes()
	info, err := message.ParseBytes(raw)
	if err != nil || info.Body == nil {
		return nil
	}
	budget := r.lim.MaxBodySize
	var walk func(p *message.Part)
	walk = func(p *message.Part) {
		switch {
		case p.IsMultipart():
			for _, c := range p.Children {
				walk(c)
			}
			return
		case p.Message != nil:
			walk(p.Message)
			return
		}
		if budget <= 0 || p.BodyOffset < 0 || p.EndOffset > int64(len(raw)) || p.BodyOffset > p.EndOffset {
			return
		}
		data := decodeTransfer(p.Encoding, raw[p.BodyOffset:p.EndOffset], budget)
		typ, sub := strings.ToLower(p.Type), strings.ToLower(p.Subtype)
		if typ == "text" {
			data = toUTF8(p.Param("charset"), data, budget)
		}
		budget -= len(data)
		r.body.parts = append(r.body.parts, bodyPart{typ: typ, sub: sub, content: string(data)})
	}
	walk(info.Body)
	return r.body.parts
}

func decodeTransfer(enc string, b []byte, limit int) []byte {
	var rd io.Reader
	switch strings.ToUpper(enc) {
	case "BASE64":
		clean := bytes.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, b)
		rd = base64.NewDecoder(base64.StdEncoding, bytes.NewReader(clean))
	case "QUOTED-PRINTABLE":
		rd = quotedprintable.NewReader(bytes.NewReader(b))
	default:
		return b[:min(len(b), limit)]
	}
	out, _ := io.ReadAll(io.LimitReader(rd, int64(limit)))
	return out
}

func toUTF8(cs string, b []byte, limit int) []byte {
	l := strings.ToLower(cs)
	if l == "" || l == "us-ascii" || l == "utf-8" || l == "utf8" {
		return b
	}
	rd, err := charset.Reader(cs, bytes.NewReader(b))
	if err != nil {
		return b
	}
	out, err := io.ReadAll(io.LimitReader(rd, int64(limit)))
	if err != nil {
		return b
	}
	return out
}

var htmlTag = regexp.MustCompile(`(?s)<(script|style)[^>]*>.*?</(script|style)\s*>|<[^>]*>`)

func htmlText(s string) string {
	s = htmlTag.ReplaceAllString(s, " ")
	return strings.NewReplacer("&nbsp;", " ", "&amp;", "&", "&lt;", "<", "&gt;", ">", "&quot;", "\"").Replace(s)
}

func (r *runner) bodyTest(n *cnode, fr *frame) (bool, error) {
	keys := r.strs(n.args[0], fr)
	var vals []string
	switch {
	case n.has("raw"):
		b := r.msg.Body
		vals = []string{string(b[:min(len(b), r.lim.MaxBodySize)])}
	case n.has("content"):
		types := r.strs(n.tags["content"], fr)
		for _, p := range r.bodyParts() {
			for _, t := range types {
				t = strings.ToLower(strings.TrimSpace(t))
				typ, sub, hasSub := strings.Cut(t, "/")
				if t == "" || typ == p.typ && (!hasSub || sub == p.sub) {
					vals = append(vals, p.content)
					break
				}
			}
		}
	default:
		for _, p := range r.bodyParts() {
			if p.typ != "text" {
				continue
			}
			if p.sub == "html" {
				vals = append(vals, htmlText(p.content))
			} else {
				vals = append(vals, p.content)
			}
		}
	}
	return r.matchValues(n, fr, vals, keys)
}
