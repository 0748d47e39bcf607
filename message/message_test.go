package message

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// sharedTestdata is the repository copy of the workplace test data: CI runs
// on a clean clone, where nothing outside the repository exists.
const sharedTestdata = "../testdata"

// corpus reads every message of the shared test data, canonical.
func corpus(t testing.TB) (names []string, canon, raw map[string][]byte) {
	t.Helper()
	canon, raw = map[string][]byte{}, map[string][]byte{}
	for _, dir := range []string{"messages", "hostile"} {
		files, _ := filepath.Glob(filepath.Join(sharedTestdata, dir, "*.eml"))
		if len(files) == 0 {
			t.Fatalf("no messages in %s/%s", sharedTestdata, dir)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			name := dir + "/" + filepath.Base(f)
			names = append(names, name)
			raw[name], canon[name] = b, Canonical(b)
		}
	}
	sort.Strings(names)
	return names, canon, raw
}

// render prints ENVELOPE and BODYSTRUCTURE as IMAP would (one part per
// line, strings Go-quoted so that 8-bit and control bytes show), then
// every part's offsets: the goldens are reviewed by people.
func render(info *Info) string {
	var b strings.Builder
	b.WriteString("ENVELOPE ")
	renderEnvelope(&b, &info.Envelope)
	date := "NONE"
	if !info.Date.IsZero() {
		date = info.Date.Format(time.RFC3339)
	}
	fmt.Fprintf(&b, "\nDATE %s\nSIZE %d HEADER %d LINES %d\nBODYSTRUCTURE\n", date, info.Size, info.HeaderSize, info.Lines)
	renderBody(&b, info.Body, "")
	b.WriteString("\nPARTS\n")
	renderOffsets(&b, info.Body, "ROOT")
	return b.String()
}

func nstring(s string) string {
	if s == "" {
		return "NIL"
	}
	return strconv.Quote(s)
}

func renderAddrs(b *strings.Builder, as []Address) {
	if len(as) == 0 {
		b.WriteString("NIL")
		return
	}
	b.WriteString("(")
	for _, a := range as {
		fmt.Fprintf(b, "(%s %s %s %s)", nstring(a.Name), nstring(a.Route), nstring(a.Mailbox), nstring(a.Host))
	}
	b.WriteString(")")
}

func renderEnvelope(b *strings.Builder, e *Envelope) {
	fmt.Fprintf(b, "(%s %s", nstring(e.Date), nstring(e.Subject))
	for _, as := range [][]Address{e.From, e.Sender, e.ReplyTo, e.To, e.Cc, e.Bcc} {
		b.WriteString(" ")
		renderAddrs(b, as)
	}
	fmt.Fprintf(b, " %s %s)", nstring(e.InReplyTo), nstring(e.MessageID))
}

func renderParams(ps []Param) string {
	if len(ps) == 0 {
		return "NIL"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Quote(p.Name) + " " + strconv.Quote(p.Value)
	}
	return "(" + strings.Join(s, " ") + ")"
}

// renderExt is the extension data of BODYSTRUCTURE after md5.
func renderExt(p *Part) string {
	disp := "NIL"
	if p.Disposition != "" {
		disp = "(" + strconv.Quote(p.Disposition) + " " + renderParams(p.DispositionParams) + ")"
	}
	lang := "NIL"
	if len(p.Language) > 0 {
		q := make([]string, len(p.Language))
		for i, l := range p.Language {
			q[i] = strconv.Quote(l)
		}
		lang = "(" + strings.Join(q, " ") + ")"
	}
	return disp + " " + lang + " " + nstring(p.Location)
}

func renderBody(b *strings.Builder, p *Part, indent string) {
	if len(p.Children) > 0 {
		b.WriteString(indent + "(\n")
		// Runs of identical parts are shown once, so that the golden of
		// 10,000 parts stays readable.
		prev, run := "", 0
		flush := func() {
			if run > 0 {
				fmt.Fprintf(b, "%s  … %d more like the part above\n", indent, run)
			}
			run = 0
		}
		for _, c := range p.Children {
			var cb strings.Builder
			renderBody(&cb, c, indent+"  ")
			if cb.String() == prev {
				run++
				continue
			}
			flush()
			prev = cb.String()
			b.WriteString(prev + "\n")
		}
		flush()
		fmt.Fprintf(b, "%s  %s %s %s)", indent, strconv.Quote(p.Subtype), renderParams(p.Params), renderExt(p))
		return
	}
	fmt.Fprintf(b, "%s(%s %s %s %s %s %s %d", indent, strconv.Quote(p.Type), strconv.Quote(p.Subtype), renderParams(p.Params),
		nstring(p.ID), nstring(p.Description), strconv.Quote(p.Encoding), p.Size)
	switch {
	case p.Message != nil:
		b.WriteString("\n" + indent + "  ")
		renderEnvelope(b, p.Envelope)
		b.WriteString("\n")
		renderBody(b, p.Message, indent+"  ")
		fmt.Fprintf(b, "\n%s  %d", indent, p.Lines)
	case strings.EqualFold(p.Type, "text") || isMessageType(p.Type, p.Subtype):
		fmt.Fprintf(b, " %d", p.Lines)
	}
	fmt.Fprintf(b, " %s %s)", nstring(p.MD5), renderExt(p))
}

func renderOffsets(b *strings.Builder, p *Part, path string) {
	note := ""
	switch {
	case strings.EqualFold(p.Type, "multipart") && len(p.Children) == 0:
		note = " opaque"
	case isMessageType(p.Type, p.Subtype) && p.Message == nil:
		note = " opaque"
	}
	fmt.Fprintf(b, "%-10s hdr=[%d,%d) body=[%d,%d) size=%d lines=%d%s\n", path, p.HeaderOffset, p.BodyOffset, p.BodyOffset, p.EndOffset, p.Size, p.Lines, note)
	prefix := path + "."
	if path == "ROOT" {
		prefix = ""
	}
	for i, c := range p.Children {
		if n := len(p.Children); n > 300 && i >= 100 && i < n-100 {
			if i == 100 {
				fmt.Fprintf(b, "… parts %s%d to %s%d\n", prefix, 101, prefix, n-100)
			}
			continue // checkTree has checked them all
		}
		renderOffsets(b, c, prefix+strconv.Itoa(i+1))
	}
	if p.Message != nil {
		renderOffsets(b, p.Message, prefix+"m")
	}
}

func partDepth(p *Part) int {
	d := 0
	for _, c := range p.Children {
		d = max(d, 1+partDepth(c))
	}
	if p.Message != nil {
		d = max(d, 1+partDepth(p.Message))
	}
	return d
}

func countParts(p *Part) int {
	n := 1
	for _, c := range p.Children {
		n += countParts(c)
	}
	if p.Message != nil {
		n += countParts(p.Message)
	}
	return n
}

// shifted is a deep copy of p with every offset moved by d.
func shifted(p *Part, d int64) *Part {
	q := *p
	q.HeaderOffset += d
	q.BodyOffset += d
	q.EndOffset += d
	q.Children = nil
	for _, c := range p.Children {
		q.Children = append(q.Children, shifted(c, d))
	}
	if p.Message != nil {
		q.Message = shifted(p.Message, d)
	}
	return &q
}

// lineBefore returns the line that ends at off, without its line break
// (the last line of the input may have none).
func lineBefore(msg []byte, off int64) []byte {
	end := off
	switch {
	case off > 0 && msg[off-1] == '\n':
		end--
	case off == int64(len(msg)):
	default:
		return nil
	}
	start := bytes.LastIndexByte(msg[:end], '\n') + 1
	return bytes.TrimSuffix(msg[start:end], []byte("\r"))
}

// checkTree verifies a parse against the bytes: offsets nest and grow,
// sizes and line counts are what the bytes say, every MIME part sits
// between delimiter lines of its parent's boundary, and every part parsed
// on its own (a reference split) gives the same subtree.
func checkTree(t testing.TB, name string, msg []byte, info *Info) {
	t.Helper()
	if info.Size != int64(len(msg)) || info.Lines != int64(bytes.Count(msg, []byte("\n"))) {
		t.Fatalf("%s: size %d lines %d", name, info.Size, info.Lines)
	}
	if info.Body.HeaderOffset != 0 || info.HeaderSize != info.Body.BodyOffset || info.Body.EndOffset != info.Size {
		t.Fatalf("%s: root at [%d %d %d], header size %d", name, info.Body.HeaderOffset, info.Body.BodyOffset, info.Body.EndOffset, info.HeaderSize)
	}
	reference := partDepth(info.Body) < MaxDepth && countParts(info.Body) < MaxParts
	checkPart(t, name, msg, info.Body, 0, int64(len(msg)), 0, reference)
	checkFields(t, name, msg, &info.Envelope)
}

// envelopeFieldNames are the names Envelope.Field may know, in the cases
// clients write them.
var envelopeFieldNames = []string{"Date", "Subject", "From", "Sender", "Reply-To", "To", "Cc", "Bcc",
	"In-Reply-To", "Message-ID", "SUBJECT", "subject", "message-id", "REPLY-TO", "cC"}

// checkFields: what env.Field tells of a field is what ParseHeaderBlock
// finds in the header, matching names as SEARCH HEADER does.
func checkFields(t testing.TB, name string, msg []byte, env *Envelope) {
	t.Helper()
	var block []byte
	for rest := msg; len(rest) > 0; {
		n := bytes.IndexByte(rest, '\n') + 1
		if n == 0 {
			n = len(rest)
		}
		if l := string(rest[:n]); l == "\n" || l == "\r\n" {
			break
		}
		block, rest = msg[:len(block)+n], rest[n:]
	}
	h := ParseHeaderBlock(block)
	for _, field := range append(envelopeFieldNames, "X-Other", "Content-Type", "S", "ſubject") {
		var vals []string
		for _, f := range h {
			if strings.EqualFold(f.Name, field) {
				vals = append(vals, f.Value)
			}
		}
		st, v := env.Field(field)
		if st == FieldAbsent && len(vals) > 0 || st == FieldPresent && len(vals) == 0 ||
			st == FieldSingle && (len(vals) != 1 || vals[0] != v) {
			t.Fatalf("%s: Field(%q) = %d %.40q; the header has %.80q", name, field, st, v, vals)
		}
	}
}

func checkPart(t testing.TB, name string, msg []byte, p *Part, lo, hi int64, depth int, reference bool) {
	t.Helper()
	if !(lo <= p.HeaderOffset && p.HeaderOffset <= p.BodyOffset && p.BodyOffset <= p.EndOffset && p.EndOffset <= hi) {
		t.Fatalf("%s: offsets %d %d %d outside [%d,%d]", name, p.HeaderOffset, p.BodyOffset, p.EndOffset, lo, hi)
	}
	if p.Size != p.EndOffset-p.BodyOffset {
		t.Fatalf("%s: size %d, offsets say %d", name, p.Size, p.EndOffset-p.BodyOffset)
	}
	body := msg[p.BodyOffset:p.EndOffset]
	wantLines := int64(0)
	if strings.EqualFold(p.Type, "text") || isMessageType(p.Type, p.Subtype) {
		wantLines = int64(bytes.Count(body, []byte("\n")))
	}
	if p.Lines != wantLines {
		t.Fatalf("%s: part at %d: %d lines, the body has %d", name, p.HeaderOffset, p.Lines, wantLines)
	}
	if p.Type == "" || p.Subtype == "" || p.Encoding == "" {
		t.Fatalf("%s: part at %d: empty type %q/%q or encoding %q", name, p.HeaderOffset, p.Type, p.Subtype, p.Encoding)
	}
	if depth > MaxDepth+1 {
		t.Fatalf("%s: depth %d", name, depth)
	}
	if len(p.Children) > 0 && !strings.EqualFold(p.Type, "multipart") {
		t.Fatalf("%s: %s/%s has children", name, p.Type, p.Subtype)
	}
	boundary := []byte("--" + p.Param("boundary"))
	prev := p.BodyOffset
	for i, c := range p.Children {
		if c.HeaderOffset < prev {
			t.Fatalf("%s: child %d starts at %d before %d", name, i+1, c.HeaderOffset, prev)
		}
		prev = c.EndOffset
		checkPart(t, name, msg, c, p.BodyOffset, p.EndOffset, depth+1, reference)
		if len(p.Children) == 1 && c.HeaderOffset == p.EndOffset && c.EndOffset == p.EndOffset {
			continue // the empty part standing for a boundary that never came
		}
		// A delimiter line comes before the part…
		l := lineBefore(msg, c.HeaderOffset)
		if !bytes.HasPrefix(l, boundary) || len(bytes.Trim(l[len(boundary):], " \t")) != 0 {
			t.Fatalf("%s: child %d at %d does not follow a delimiter of %q: %q", name, i+1, c.HeaderOffset, boundary, l)
		}
		// …and after it, unless an outer delimiter or the end of input
		// ended the parent too.
		if c.EndOffset < p.EndOffset {
			rest := msg[c.EndOffset:]
			if !bytes.HasPrefix(rest, append([]byte("\r\n"), boundary...)) && !bytes.HasPrefix(rest, append([]byte("\n"), boundary...)) &&
				// Directly, when the part's last line was the empty line
				// ending a header, which is never given away.
				!(bytes.HasPrefix(rest, boundary) && (c.EndOffset == c.HeaderOffset || msg[c.EndOffset-1] == '\n')) {
				t.Fatalf("%s: child %d ends at %d before %q", name, i+1, c.EndOffset, rest[:min(len(rest), 40)])
			}
		}
		// Its header ends with the empty line, unless a delimiter cut it.
		if h := msg[c.HeaderOffset:c.BodyOffset]; c.BodyOffset < c.EndOffset &&
			!bytes.Equal(h, []byte("\r\n")) && !bytes.Equal(h, []byte("\n")) && !bytes.HasSuffix(h, []byte("\n\r\n")) && !bytes.HasSuffix(h, []byte("\n\n")) {
			t.Fatalf("%s: child %d header %q does not end with an empty line", name, i+1, h)
		}
		if reference && !isDigest(p) {
			checkAlone(t, name, msg, c, nil)
		}
	}
	if p.Message != nil {
		m := p.Message
		if m.HeaderOffset != p.BodyOffset || m.EndOffset != p.EndOffset || p.Envelope == nil {
			t.Fatalf("%s: message at [%d %d] in body [%d %d]", name, m.HeaderOffset, m.EndOffset, p.BodyOffset, p.EndOffset)
		}
		checkPart(t, name, msg, m, p.BodyOffset, p.EndOffset, depth+1, reference)
		if reference {
			checkAlone(t, name, msg, m, p.Envelope)
		}
	}
}

// isDigest: a digest's parts have another default, so they cannot be
// parsed alone.
func isDigest(p *Part) bool {
	return strings.EqualFold(p.Type, "multipart") && strings.EqualFold(p.Subtype, "digest")
}

// checkAlone parses a part's bytes as a message of their own: the same
// tree must come out, offsets moved.
func checkAlone(t testing.TB, name string, msg []byte, p *Part, env *Envelope) {
	t.Helper()
	alone, _ := ParseBytes(msg[p.HeaderOffset:p.EndOffset])
	got := shifted(alone.Body, p.HeaderOffset)
	if !reflect.DeepEqual(got, p) {
		var a, b strings.Builder
		renderBody(&a, got, "")
		renderBody(&b, p, "")
		renderOffsets(&a, got, "ROOT")
		renderOffsets(&b, p, "ROOT")
		t.Fatalf("%s: the part at %d parsed alone differs:\n%s\nin place:\n%s", name, p.HeaderOffset, a.String(), b.String())
	}
	// Header facts are the top level's only: an embedded envelope has none.
	alone.Envelope.fields = 0
	if env != nil && !reflect.DeepEqual(&alone.Envelope, env) {
		t.Fatalf("%s: the message at %d parsed alone has another envelope", name, p.HeaderOffset)
	}
}

func checkRoundTrip(t testing.TB, name string, info *Info) {
	t.Helper()
	ib, err := info.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back Info
	if err := back.UnmarshalBinary(ib); err != nil || !reflect.DeepEqual(&back, info) {
		t.Fatalf("%s: Info round trip: %v", name, err)
	}
	eb, _ := info.Envelope.MarshalBinary()
	var env Envelope
	if err := env.UnmarshalBinary(eb); err != nil || !reflect.DeepEqual(env, info.Envelope) {
		t.Fatalf("%s: envelope round trip: %v", name, err)
	}
	bb, _ := info.Body.MarshalBinary()
	var body Part
	if err := body.UnmarshalBinary(bb); err != nil || !reflect.DeepEqual(&body, info.Body) {
		t.Fatalf("%s: body round trip: %v", name, err)
	}
	// Cut records fail cleanly.
	for _, rec := range [][]byte{ib, eb, bb} {
		for i := 0; i < len(rec); i += 1 + len(rec)/64 {
			var i2 Info
			var e2 Envelope
			var p2 Part
			if i2.UnmarshalBinary(rec[:i]) == nil && e2.UnmarshalBinary(rec[:i]) == nil && p2.UnmarshalBinary(rec[:i]) == nil {
				t.Fatalf("%s: a record cut at %d decodes", name, i)
			}
		}
	}
}

func TestCorpus(t *testing.T) {
	names, canon, raw := corpus(t)
	seen := map[string]bool{}
	for _, name := range names {
		msg := canon[name]
		info, err := ParseBytes(msg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkTree(t, name, msg, info)
		for how, r := range map[string]io.Reader{
			"Parse":                   bytes.NewReader(msg),
			"Parse, a byte at a time": iotest.OneByteReader(bytes.NewReader(msg)),
			"Parse, half reads":       iotest.HalfReader(bytes.NewReader(msg)),
			"Parse(CRLFReader)":       NewCRLFReader(bytes.NewReader(raw[name])),
		} {
			got, err := Parse(r)
			if err != nil || !reflect.DeepEqual(got, info) {
				t.Fatalf("%s: %s and ParseBytes differ (%v)", name, how, err)
			}
		}
		checkPieces(t, msg, info)
		checkNoSkip(t, msg, info)
		// A delivery's copy: trace fields, then the message.
		trace := []byte("Return-Path: <a@example.org>\r\nDelivered-To: b@example.org\r\n")
		whole, _ := ParseBytes(append(append([]byte(nil), trace...), msg...))
		if got, _ := ParsePieces(trace, msg); !reflect.DeepEqual(got, whole) {
			t.Fatalf("%s: ParsePieces(trace, message) and ParseBytes of both differ", name)
		}
		checkRoundTrip(t, name, info)

		golden := filepath.Join("testdata", "golden", strings.ReplaceAll(name, "/", "_")+".golden")
		seen[filepath.Base(golden)] = true
		got := render(info)
		if *update {
			if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%s: %v (run go test -run TestCorpus -update once and review)", name, err)
		}
		if got != string(want) {
			t.Errorf("%s differs from %s (go test -run TestCorpus -update rewrites it):\n%s", name, golden, firstDiff(got, string(want)))
		}
	}
	// Goldens of messages that are gone would only mislead.
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.golden"))
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			if *update {
				os.Remove(f)
			} else {
				t.Errorf("%s has no message", f)
			}
		}
	}
}

// firstDiff shows the first line that differs, cut to a readable length.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			cut := func(s string) string {
				if len(s) > 300 {
					return s[:300] + "…"
				}
				return s
			}
			return fmt.Sprintf("line %d:\n got: %s\nwant: %s", i+1, cut(gl), cut(wl))
		}
	}
	return ""
}

// A reader that fails midway makes Parse fail, not return half a tree.
func TestParseReadError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("Subject: x\r\n\r\nbody"), iotest.ErrReader(boom))
	if _, err := Parse(r); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
}

func addrString(as []Address) string {
	var b strings.Builder
	renderAddrs(&b, as)
	return b.String()
}

func TestAddressList(t *testing.T) {
	cases := []struct{ in, want string }{
		{``, `NIL`},
		{`   `, `NIL`},
		{`Alice <alice@example.org>`, `(("Alice" NIL "alice" "example.org"))`},
		{`"Smith, John" <john@x.org>, bob@y.org`, `(("Smith, John" NIL "john" "x.org")(NIL NIL "bob" "y.org"))`},
		{`undisclosed-recipients:;`, `((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL))`},
		{`A Group: ann@a.org, Ben <ben@b.org>; carl@c.org`, `((NIL NIL "A Group" NIL)(NIL NIL "ann" "a.org")("Ben" NIL "ben" "b.org")(NIL NIL NIL NIL)(NIL NIL "carl" "c.org"))`},
		// RFC 5322 Appendix A.
		{`"Joe Q. Public" <john.q.public@example.com>`, `(("Joe Q. Public" NIL "john.q.public" "example.com"))`},
		{`Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>`, `(("Mary Smith" NIL "mary" "x.test")(NIL NIL "jdoe" "example.org")("Who?" NIL "one" "y.test"))`},
		{`<boss@nil.test>, "Giant; \"Big\" Box" <sysservices@example.net>`, `((NIL NIL "boss" "nil.test")("Giant; \"Big\" Box" NIL "sysservices" "example.net"))`},
		{`A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;`, `((NIL NIL "A Group" NIL)("Ed Jones" NIL "c" "a.test")(NIL NIL "joe" "where.test")("John" NIL "jdoe" "one.test")(NIL NIL NIL NIL))`},
		{`Pete(A nice \) chap) <pete(his account)@silly.test(his host)>`, `(("Pete" NIL "pete" "silly.test"))`},
		{"A Group(Some people)\r\n     :Chris Jones <c@(Chris's host.)public.example>,\r\n         joe@example.org,\r\n  John <jdoe@one.test> (my dear friend); (the end of the group)",
			`((NIL NIL "A Group" NIL)("Chris Jones" NIL "c" "public.example")(NIL NIL "joe" "example.org")("John" NIL "jdoe" "one.test")(NIL NIL NIL NIL))`},
		{`(Empty list)(start)Hidden recipients  :(nobody(that I know))  ;`, `((NIL NIL "Hidden recipients" NIL)(NIL NIL NIL NIL))`},
		{`Joe Q. Public <john.q.public@example.com>`, `(("Joe Q. Public" NIL "john.q.public" "example.com"))`},
		{`Mary Smith <@node.test:mary@example.net>, , jdoe@test  . example`, `(("Mary Smith" "@node.test" "mary" "example.net")(NIL NIL "jdoe" "test.example"))`},
		{`John Doe <jdoe@machine(comment).  example>`, `(("John Doe" NIL "jdoe" "machine.example"))`},
		{"Mary Smith\r\n  \r\n  <mary@example.net>", `(("Mary Smith" NIL "mary" "example.net"))`},
		// Dovecot's imaptest (fetch-envelope): a comment names a bare
		// addr-spec; routes; groups.
		{`user@domain (Real Name)`, `(("Real Name" NIL "user" "domain"))`},
		{`<@route:user@domain>`, `((NIL "@route" "user" "domain"))`},
		{`group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;`, `((NIL NIL "group" NIL)(NIL NIL "g1" "d1.org")(NIL NIL "g2" "d2.org")(NIL NIL NIL NIL)(NIL NIL "group2" NIL)(NIL NIL "g3" "d3.org")(NIL NIL NIL NIL))`},
		{`<@relay.a,@relay.b:joe@x.org>`, `((NIL "@relay.a,@relay.b" "joe" "x.org"))`},
		// Encoded-words stay as they are; 8-bit passes through.
		{`=?UTF-8?Q?J=C3=B6rg?= <j@x.org>`, `(("=?UTF-8?Q?J=C3=B6rg?=" NIL "j" "x.org"))`},
		{"=?utf-8?q?a?= =?utf-8?q?b?= <a@b>", `(("=?utf-8?q?a?= =?utf-8?q?b?=" NIL "a" "b"))`},
		{"J\xf6rg \xff <j\x00@x.org>", `(("J\xf6rg \xff" NIL "j\x00" "x.org"))`},
		{`"J.R.R. Tolkien" <jrr@x>`, `(("J.R.R. Tolkien" NIL "jrr" "x"))`},
		// Missing pieces are filled as Dovecot does.
		{`localonly`, `((NIL NIL "localonly" "MISSING_DOMAIN"))`},
		{`@example.org`, `((NIL NIL "MISSING_MAILBOX" "example.org"))`},
		{`user@`, `((NIL NIL "user" "MISSING_DOMAIN"))`},
		{`Name <>`, `(("Name" NIL "MISSING_MAILBOX" "MISSING_DOMAIN"))`},
		{`<>`, `NIL`},
		// Recovery.
		{`Unclosed <a@b`, `(("Unclosed" NIL "a" "b"))`},
		{`a@b c@d`, `((NIL NIL "a" "b")(NIL NIL "c" "d"))`},
		{`A <a@b> B <c@d>`, `(("A" NIL "a" "b")("B" NIL "c" "d"))`},
		{`John Smith john@x.org`, `(("John Smith" NIL "john" "x.org"))`},
		{`a@b; c@d`, `((NIL NIL "a" "b")(NIL NIL "c" "d"))`},
		{`Open group: a@b, c@d`, `((NIL NIL "Open group" NIL)(NIL NIL "a" "b")(NIL NIL "c" "d")(NIL NIL NIL NIL))`},
		{`: a@b;`, `((NIL NIL "a" "b"))`},
		{`"unterminated <a@b>`, `((NIL NIL "unterminated <a@b>" "MISSING_DOMAIN"))`},
		{`(unterminated comment a@b`, `NIL`},
		{`john@x.org <john@x.org>`, `(("john@x.org" NIL "john" "x.org"))`},
		{`a@b@c`, `((NIL NIL "a@b" "c"))`},
		{`[1.2.3.4]`, `((NIL NIL "[1.2.3.4]" "MISSING_DOMAIN"))`},
		{`user@[1.2.3.4]`, `((NIL NIL "user" "[1.2.3.4]"))`},
		{`,,,`, `NIL`},
		{`>a@b`, `((NIL NIL "a" "b"))`},
	}
	for _, c := range cases {
		if got := addrString(ParseAddressList(c.in)); got != c.want {
			t.Errorf("%q:\n got %s\nwant %s", c.in, got, c.want)
		}
	}
}

func TestParseDate(t *testing.T) {
	good := []struct{ in, want string }{
		{"Fri, 21 Nov 1997 09:55:06 -0600", "1997-11-21T09:55:06-06:00"},
		{"21 Nov 97 09:55:06 GMT", "1997-11-21T09:55:06Z"},
		{"Thu, 13 Feb 1969 23:32 -0330 (Newfoundland Time)", "1969-02-13T23:32:00-03:30"},
		{"Mon, 1 Jan 2024 10:00:00 +0100 (CET)", "2024-01-01T10:00:00+01:00"},
		{"Tue,  1 Jul 2003 10:52:37 EDT", "2003-07-01T10:52:37-04:00"},
		{"Wed, 11 Feb 98 11:51 CST", "1998-02-11T11:51:00-06:00"},
		{"Wed, 20 Sep 1995 00:19:00 (EDT) -0400", "1995-09-20T00:19:00-04:00"},
		{"Mon Jan  2 15:04:05 2006", "2006-01-02T15:04:05Z"},
		{"Mon Jan 2 15:04:05 MST 2006", "2006-01-02T15:04:05-07:00"},
		{"May 8, 2005 1:17 PM", "2005-05-08T13:17:00Z"},
		{"2024-03-01T12:00:00Z", "2024-03-01T12:00:00Z"},
		{"2024-03-01 12:00:00.250 +01:00", "2024-03-01T12:00:00+01:00"},
		{"2024-03-01", "2024-03-01T00:00:00Z"},
		{"1 Jan 2020 00:00:00 Z", "2020-01-01T00:00:00Z"},
		{"1 Jan 2020 00:00:00 A", "2020-01-01T00:00:00Z"},
		{"Thursday, 4 March 2021 05:06:07 +0000", "2021-03-04T05:06:07Z"},
		{"4-Mar-2021 05:06:07 +0000", "2021-03-04T05:06:07Z"},
		{"1 Jan 049 10:00 +0000", "1949-01-01T10:00:00Z"},
		{"29 Feb 2024 10:00 +0000", "2024-02-29T10:00:00Z"},
		{"31 Dec 2016 23:59:60 +0000", "2016-12-31T23:59:59Z"},
		{"Fri, 21 Nov 1997 09(comment):   55  :  06 -0600", "1997-11-21T09:55:06-06:00"},
		{"Mon, 1 Jan 2024 10:00:00 GMT+0100", "2024-01-01T10:00:00+01:00"},
		{"Mon, 1 Jan 2024 10:00:00+01:00", "2024-01-01T10:00:00+01:00"},
		// hostile/date-broken-*.eml
		{"1 Jan 99 12:00", "1999-01-01T12:00:00Z"},
		{"2021-03-04T05:06:07Z", "2021-03-04T05:06:07Z"},
		{"Thu Mar  4 05:06:07 2021", "2021-03-04T05:06:07Z"},
		{"Thu, 4 Mar 2021 05:06:07 CEST", "2021-03-04T05:06:07Z"},
		{"Thu, 4 Mar 2021 05:06:07 +9999", "2021-03-04T05:06:07Z"},
	}
	for _, c := range good {
		got, ok := ParseDate(c.in)
		if !ok || got.Format(time.RFC3339) != c.want {
			t.Errorf("ParseDate(%q) = %s %v, want %s", c.in, got.Format(time.RFC3339), ok, c.want)
		}
	}
	for _, bad := range []string{
		"", "garbage", "Thu,", "1700000000", "1614834367",
		"Mon, 32 Foo 2020 25:61:61 +0000", "32 Jan 2020 10:00 +0000", "1 Jan 2020 25:61:61 +0000",
		"Do, 04 M\xc3\xa4r 2021 05:06:07 +0100", "Fri, 31 Dec 10000 23:59:60 -2400",
		"29 Feb 2023 10:00 +0000", "1 Jan 1899 10:00 +0000", "1 Jan 2020 10:00 +0000 1 Feb",
		"1 Jan Feb 2020", "12:00 12:00 1 Jan 2020", "1 Jan 2020 13:00 PM", "2020-13-01T00:00:00Z",
		"2020-01-01T00:00:00Q",
	} {
		if got, ok := ParseDate(bad); ok {
			t.Errorf("ParseDate(%q) = %v, want failure", bad, got)
		}
	}
}

// Structures the corpus may not pin down, each checked like the corpus.
func TestStructure(t *testing.T) {
	mp := func(boundary, body string) string {
		return "Content-Type: multipart/mixed; boundary=\"" + boundary + "\"\r\n\r\n" + body
	}
	cases := []struct {
		name, msg, want string // want: the offsets part of the rendering
	}{
		{"empty", "", "ROOT       hdr=[0,0) body=[0,0) size=0 lines=0\n"},
		{"header only, no line break", "Subject: x", "ROOT       hdr=[0,10) body=[10,10) size=0 lines=0\n"},
		{"body without final line break", "Subject: x\r\n\r\nab\r\ncd", "ROOT       hdr=[0,14) body=[14,20) size=6 lines=1\n"},
		{"the line break before a delimiter is the delimiter's",
			mp("b", "--b\r\n\r\none\r\ntwo\r\n--b--\r\n"),
			"ROOT       hdr=[0,47) body=[47,71) size=24 lines=0\n1          hdr=[52,54) body=[54,62) size=8 lines=1\n"},
		{"an empty line before the delimiter is the part's last line",
			mp("b", "--b\r\n\r\none\r\n\r\n--b--"),
			"ROOT       hdr=[0,47) body=[47,66) size=19 lines=0\n1          hdr=[52,54) body=[54,59) size=5 lines=1\n"},
		{"empty body right after the header",
			mp("b", "--b\r\nContent-Type: text/html\r\n\r\n--b--"),
			"ROOT       hdr=[0,47) body=[47,84) size=37 lines=0\n1          hdr=[52,79) body=[79,79) size=0 lines=0\n"},
		{"a delimiter cuts a header",
			mp("b", "--b\r\nContent-Type: text/html\r\n--b--"),
			"ROOT       hdr=[0,47) body=[47,82) size=35 lines=0\n1          hdr=[52,75) body=[75,75) size=0 lines=0\n"},
		{"two delimiters in a row",
			mp("b", "--b\r\n--b\r\n\r\nx\r\n--b--"),
			"ROOT       hdr=[0,47) body=[47,67) size=20 lines=0\n1          hdr=[52,52) body=[52,52) size=0 lines=0\n2          hdr=[57,59) body=[59,60) size=1 lines=0\n"},
		{"boundary never used: one empty part",
			mp("b", "preamble\r\n--c\r\n"),
			"ROOT       hdr=[0,47) body=[47,62) size=15 lines=0\n1          hdr=[62,62) body=[62,62) size=0 lines=0\n"},
		{"no boundary parameter: opaque",
			"Content-Type: multipart/mixed\r\n\r\n--b\r\n\r\nx\r\n",
			"ROOT       hdr=[0,33) body=[33,43) size=10 lines=0 opaque\n"},
		{"missing close delimiter: the last part runs to the end",
			mp("b", "--b\r\n\r\nx\r\n"),
			"ROOT       hdr=[0,47) body=[47,57) size=10 lines=0\n1          hdr=[52,54) body=[54,57) size=3 lines=1\n"},
		{"padding after the delimiter; look-alikes are body",
			mp("b", "--b \t\r\n\r\n--bc\r\n--b-\r\n--b--x\r\n--b-- \r\nepilogue\r\n--b\r\n"),
			"ROOT       hdr=[0,47) body=[47,99) size=52 lines=0\n1          hdr=[54,56) body=[56,74) size=18 lines=2\n"},
		{"an outer delimiter ends inner parts still in their header",
			mp("a", "--a\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n--a--"),
			"ROOT       hdr=[0,47) body=[47,105) size=58 lines=0\n1          hdr=[52,84) body=[84,98) size=14 lines=0\n1.m        hdr=[84,98) body=[98,98) size=0 lines=0\n"},
		{"an empty message/rfc822 part",
			mp("a", "--a\r\nContent-Type: message/rfc822\r\n\r\n--a--"),
			"ROOT       hdr=[0,47) body=[47,89) size=42 lines=0\n1          hdr=[52,84) body=[84,84) size=0 lines=0\n1.m        hdr=[84,84) body=[84,84) size=0 lines=0\n"},
		{"base64 message/rfc822 is opaque",
			"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA0KDQo=\r\n",
			"ROOT       hdr=[0,67) body=[67,89) size=22 lines=1 opaque\n"},
		{"digest parts default to message/rfc822",
			"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: one\r\n\r\nbody\r\n--d--\r\n",
			"ROOT       hdr=[0,46) body=[46,82) size=36 lines=0\n1          hdr=[51,53) body=[53,73) size=20 lines=2\n1.m        hdr=[53,69) body=[69,73) size=4 lines=0\n"},
	}
	for _, c := range cases {
		msg := []byte(c.msg)
		info, _ := ParseBytes(msg)
		checkTree(t, c.name, msg, info)
		var b strings.Builder
		renderOffsets(&b, info.Body, "ROOT")
		if b.String() != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, b.String(), c.want)
		}
		streamed, err := Parse(iotest.OneByteReader(bytes.NewReader(msg)))
		if err != nil || !reflect.DeepEqual(streamed, info) {
			t.Errorf("%s: Parse differs from ParseBytes", c.name)
		}
		checkRoundTrip(t, c.name, info)
	}
}

// Lines longer than the read buffer: a delimiter padded past it, a CR
// falling on the edge, must read the same as in memory.
func TestLongLines(t *testing.T) {
	pad := strings.Repeat(" ", 3*readBufSize+7)
	x := strings.Repeat("x", readBufSize-1)
	msgs := []string{
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b" + pad + "\r\n\r\none\r\n--b--" + pad + "\r\n",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b" + pad + "x\r\n\r\none\r\n--b--\r\n",
		"Subject: " + x + "\r\n\r\n" + x + "\r\r\n" + x + "\r\n--b\r\n",
		"Subject: " + strings.Repeat("y", 2*MaxFieldSize) + "\r\n\r\n" + x + "\r",
		"X-Long: " + strings.Repeat("z", 2*readBufSize) + "\r\n continued\r\nSubject: after\r\n\r\n",
	}
	for i, s := range msgs {
		msg := []byte(s)
		info, _ := ParseBytes(msg)
		checkTree(t, fmt.Sprint("long ", i), msg, info)
		got, err := Parse(bytes.NewReader(msg))
		if err != nil || !reflect.DeepEqual(got, info) {
			t.Fatalf("long %d: Parse and ParseBytes differ", i)
		}
		got, err = Parse(iotest.HalfReader(bytes.NewReader(msg)))
		if err != nil || !reflect.DeepEqual(got, info) {
			t.Fatalf("long %d: Parse over half reads and ParseBytes differ", i)
		}
		switch i {
		case 0:
			if len(info.Body.Children) != 1 || info.Body.Children[0].Size != 3 {
				t.Errorf("padded delimiters not found: %+v", info.Body.Children[0])
			}
		case 1:
			if info.Body.Children[0].HeaderOffset != info.Body.EndOffset {
				t.Errorf("a padded look-alike was taken for a delimiter")
			}
		case 3:
			if len(info.Envelope.Subject) != MaxFieldSize {
				t.Errorf("subject kept %d bytes", len(info.Envelope.Subject))
			}
		case 4:
			if info.Envelope.Subject != "after" {
				t.Errorf("subject %q", info.Envelope.Subject)
			}
		}
	}
}

// Nesting past MaxDepth and parts past MaxParts stay bounded and
// well-formed.
func TestLimits(t *testing.T) {
	var b strings.Builder
	for i := 0; i < MaxDepth+20; i++ {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"d%d\"\r\n\r\n--d%d\r\n", i, i)
	}
	b.WriteString("\r\ninnermost\r\n")
	for i := MaxDepth + 19; i >= 0; i-- {
		fmt.Fprintf(&b, "--d%d--\r\n", i)
	}
	msg := []byte(b.String())
	info, _ := ParseBytes(msg)
	checkTree(t, "deep", msg, info)
	if d := partDepth(info.Body); d != MaxDepth {
		t.Errorf("depth %d, want %d", d, MaxDepth)
	}
	p := info.Body
	for len(p.Children) > 0 {
		p = p.Children[0]
	}
	if p.Type != "multipart" || p.Subtype != "mixed" {
		t.Errorf("the part at the depth limit is %s/%s, want an opaque multipart/mixed", p.Type, p.Subtype)
	}

	b.Reset()
	b.WriteString("Content-Type: multipart/mixed; boundary=p\r\n\r\n")
	for i := 0; i < MaxParts+50; i++ {
		b.WriteString("--p\r\n\r\nx\r\n")
	}
	b.WriteString("--p--\r\n")
	msg = []byte(b.String())
	info, _ = ParseBytes(msg)
	checkTree(t, "many", msg, info)
	if n := countParts(info.Body); n != MaxParts {
		t.Errorf("%d parts, want %d", n, MaxParts)
	}
	last := info.Body.Children[len(info.Body.Children)-1]
	if last.EndOffset != int64(len(msg)) {
		t.Errorf("the last part ends at %d, not at the end", last.EndOffset)
	}
}

// The two files too big to store: parsing them from a file must cost
// memory on the order of a buffer, not of the file.
func TestBigHostile(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not found")
	}
	if testing.Short() {
		t.Skip("short")
	}
	dir := t.TempDir()
	out, err := exec.Command("python3", filepath.Join(sharedTestdata, "hostile", "gen.py"), "--big", "--out", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("gen.py: %v\n%s", err, out)
	}
	for _, name := range []string{"body-line-10mb.eml", "header-line-1mib-exact.eml"} {
		path := filepath.Join(dir, name)
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		info, err := Parse(NewCRLFReader(f))
		runtime.ReadMemStats(&after)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if info.Size != st.Size() {
			t.Fatalf("%s: size %d, file %d", name, info.Size, st.Size())
		}
		grown := after.TotalAlloc - before.TotalAlloc
		if grown > 4<<20 {
			t.Errorf("%s: streaming a %d-byte file allocated %d bytes", name, st.Size(), grown)
		}
		t.Logf("%s: streaming %d bytes allocated %d bytes", name, st.Size(), grown)
		msg, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&before)
		inMem, _ := ParseBytes(msg)
		runtime.ReadMemStats(&after)
		grown = after.TotalAlloc - before.TotalAlloc
		if grown > 4<<20 {
			t.Errorf("%s: parsing %d bytes in memory allocated %d more", name, len(msg), grown)
		}
		t.Logf("%s: ParseBytes allocated %d bytes", name, grown)
		if !reflect.DeepEqual(inMem, info) {
			t.Errorf("%s: Parse and ParseBytes differ", name)
		}
		checkTree(t, name, msg, info)
	}
}

// A 10 MiB header line, streamed, costs no more than a 64 KiB one.
func TestHugeHeaderLine(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	long := strings.Repeat("s", 10<<20)
	for _, field := range []string{"Subject", "X-Long", "To", "Content-Type"} {
		src := strings.NewReader(field + ": " + long + "\r\nFrom: a@b\r\n\r\nbody\r\n")
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		info, err := Parse(src)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		if grown := after.TotalAlloc - before.TotalAlloc; grown > 4<<20 {
			t.Errorf("%s: a 10 MiB line allocated %d bytes", field, grown)
		}
		if len(info.Envelope.From) != 1 || info.Body.Size != 6 {
			t.Errorf("%s: the fields after the long line were lost", field)
		}
	}
}

// The header facts: what Field tells of each field, and where it keeps
// silent because the parse may have read the header otherwise than
// ParseHeaderBlock (checkFields, run on every message the tests parse,
// checks that what it tells is so).
func TestEnvelopeField(t *testing.T) {
	type want struct {
		field string
		st    FieldState
		v     string
	}
	pad := "X-Pad: " + strings.Repeat("p", 991) + "\r\n"
	big := strings.Repeat(pad, MaxHeaderSize/len(pad)+1) // over MaxHeaderSize
	for _, tc := range []struct {
		msg  string
		want []want
	}{
		{"Subject: a b\r\n =?utf-8?q?x?=\r\nFrom: x@y\r\nDate: d\r\nMessage-ID: <m@h>\r\n\r\nbody", []want{
			{"Subject", FieldSingle, "a b =?utf-8?q?x?="}, {"SUBJECT", FieldSingle, "a b =?utf-8?q?x?="},
			{"Date", FieldSingle, "d"}, {"message-id", FieldSingle, "<m@h>"}, {"In-Reply-To", FieldAbsent, ""},
			// Sender and Reply-To are From in the envelope, not in the header.
			{"From", FieldPresent, ""}, {"Sender", FieldAbsent, ""}, {"Reply-To", FieldAbsent, ""},
			{"Bcc", FieldAbsent, ""}, {"X-Other", FieldUnknown, ""}, {"Content-Type", FieldUnknown, ""},
			{"\xc5\xbfubject", FieldUnknown, ""}, {"", FieldUnknown, ""},
		}},
		{"Subject: one\r\nsubject: two\r\n\r\n", []want{{"Subject", FieldPresent, ""}}},
		{"Subject:\r\nIn-Reply-To: \t \r\n\r\n", []want{{"Subject", FieldSingle, ""}, {"In-Reply-To", FieldSingle, ""}}},
		{"", []want{{"Subject", FieldAbsent, ""}, {"From", FieldAbsent, ""}}},
		{"Subject: " + strings.Repeat("y", MaxFieldSize+1) + "\r\n\r\n", []want{{"Subject", FieldPresent, ""}}},
		// ParseHeaderBlock's caller matches "ſubject" to Subject.
		{"\xc5\xbfubject: x\r\nSubject: y\r\n\r\n", []want{{"Subject", FieldUnknown, ""}, {"From", FieldUnknown, ""}}},
		// A line longer than the parse keeps.
		{"Subject" + strings.Repeat(" ", MaxFieldSize+300) + ": y\r\n\r\n", []want{{"Subject", FieldUnknown, ""}}},
		{big + "Subject: y\r\n\r\n", []want{{"Subject", FieldUnknown, ""}}},
		{big[len(pad)*2:] + "Subject: y\r\n\r\n", []want{{"Subject", FieldSingle, "y"}}},
	} {
		info, _ := ParseBytes([]byte(tc.msg))
		eb, _ := info.Envelope.MarshalBinary()
		var env Envelope
		if err := env.UnmarshalBinary(eb); err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if st, v := env.Field(w.field); st != w.st || v != w.v {
				t.Errorf("%.40q: Field(%q) = %d %q, want %d %q", tc.msg, w.field, st, v, w.st, w.v)
			}
		}
	}
	// An embedded message's envelope has no facts.
	info, _ := ParseBytes([]byte("Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nx"))
	if st, _ := info.Body.Envelope.Field("Subject"); st != FieldUnknown {
		t.Errorf("embedded envelope: Field(Subject) = %d", st)
	}
}

// Records written by the previous layouts still decode; unknown versions
// do not.
func TestDecodeVersions(t *testing.T) {
	// Envelope v2 and part v1, as the first release wrote them.
	v2 := []byte{2, 3, 'd', 'a', 't', 0, 1, 's',
		1, 0, 0, 1, 'a', 1, 'b', // From: one address
		0, 0, 0, 0, 0, // Sender … Bcc
		0, 1, 'm'}
	var env Envelope
	if err := env.UnmarshalBinary(v2); err != nil {
		t.Fatal(err)
	}
	want := Envelope{Date: "dat", Subject: "s", From: []Address{{Mailbox: "a", Host: "b"}}, MessageID: "m"}
	if !reflect.DeepEqual(env, want) {
		t.Fatalf("v2 envelope: %+v", env)
	}
	for _, bad := range [][]byte{nil, {0}, {9, 0}, append([]byte{envelopeVersion}, v2[1:]...)} {
		if env.UnmarshalBinary(bad) == nil {
			t.Errorf("%v decodes", bad)
		}
	}
	// Part v1: a message/rfc822 part whose embedded envelope has the v2
	// layout and no version byte of its own.
	leaf := func(e *enc, typ, sub string) {
		for _, s := range []string{typ, sub} {
			e.str(s)
		}
		e.count(0) // params
		for _, s := range []string{"", "", "7BIT", "", ""} {
			e.str(s) // id, description, encoding, md5, disposition
		}
		e.count(0) // disposition params
		e.count(0) // languages
		e.str("")  // location
		for _, n := range []int64{0, 0, 0, 0, 0} {
			e.num(n) // size, lines, offsets
		}
		e.count(0) // children
	}
	e := enc{b: []byte{1}}
	leaf(&e, "message", "rfc822")
	e.b = append(e.b, 1)
	e.b = append(e.b, v2[1:]...)
	leaf(&e, "text", "plain")
	e.b = append(e.b, 0)
	var p Part
	if err := p.UnmarshalBinary(e.b); err != nil {
		t.Fatal(err)
	}
	if p.Message == nil || p.Message.Subtype != "plain" || !reflect.DeepEqual(*p.Envelope, want) {
		t.Fatalf("v1 part: %+v", p)
	}
	if p.UnmarshalBinary([]byte{7}) == nil {
		t.Error("an unknown part version decodes")
	}
	// Envelope v3, as releases before the header facts wrote it: the
	// same envelope, and nothing known of the header.
	info, _ := ParseBytes([]byte("Subject: s\r\nFrom: a@b\r\n\r\nx"))
	v3 := enc{b: []byte{3}}
	v3.envelope(&info.Envelope)
	if err := env.UnmarshalBinary(v3.b); err != nil {
		t.Fatal(err)
	}
	if st, _ := env.Field("Subject"); st != FieldUnknown || env.Subject != "s" || len(env.From) != 1 {
		t.Fatalf("v3 envelope: %+v, Field(Subject) %d", env, st)
	}
	v4, _ := info.Envelope.MarshalBinary()
	if len(v4) != len(v3.b)+3 {
		t.Errorf("the facts take %d octets", len(v4)-len(v3.b))
	}
	if env.UnmarshalBinary(append(append([]byte{4}, v3.b[1:]...), 0x80, 0x80, 0x80, 0x01)) == nil {
		t.Error("facts out of range decode")
	}
	var i Info
	if i.UnmarshalBinary([]byte{7}) == nil {
		t.Error("an unknown info version decodes")
	}
}

func FuzzParse(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzParse (small corpus messages) and these.
	for _, s := range []string{
		"", "\r\n", "Subject: x\r\n\r\nbody",
		"Content-Type: multipart/mixed; boundary=ab\r\n\r\n--ab\r\nContent-Type: multipart/alternative; boundary=abc\r\n\r\n--abc\r\n\r\nx\r\n--ab--\r\n",
		"Content-Type: message/rfc822\r\n\r\nContent-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nFrom: a@b\r\n\r\nx\r\n--d--",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		info, err := ParseBytes(msg)
		if err != nil {
			t.Fatal(err)
		}
		checkTree(t, "fuzz", msg, info)
		streamed, err := Parse(iotest.HalfReader(bytes.NewReader(msg)))
		if err != nil || !reflect.DeepEqual(streamed, info) {
			t.Fatalf("Parse and ParseBytes differ")
		}
		checkPieces(t, msg, info)
		checkNoSkip(t, msg, info)
		checkRoundTrip(t, "fuzz", info)
	})
}

// checkNoSkip: the parse that counts an opaque rest at once (opaque) is
// the parse that reads it a line at a time.
func checkNoSkip(t *testing.T, msg []byte, want *Info) {
	t.Helper()
	skipOff = true
	defer func() { skipOff = false }()
	got, _ := ParseBytes(msg)
	streamed, err := Parse(iotest.HalfReader(bytes.NewReader(msg)))
	if !reflect.DeepEqual(got, want) || err != nil || !reflect.DeepEqual(streamed, want) {
		t.Fatalf("%q: the parse line by line differs from the one that skips", msg)
	}
}

// checkPieces: ParsePieces gives ParseBytes' result wherever the message
// is cut, after a line (the pieces read as they lie) or inside one (they
// are joined first).
func checkPieces(t *testing.T, msg []byte, want *Info) {
	t.Helper()
	cuts := []int{0, len(msg), len(msg) / 2}
	if i := bytes.IndexByte(msg, '\n'); i >= 0 {
		cuts = append(cuts, i+1)
	}
	if i := bytes.LastIndexByte(msg, '\n'); i >= 0 {
		cuts = append(cuts, i+1)
	}
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		cuts = append(cuts, i+2, i+4)
	}
	for _, k := range cuts {
		got, err := ParsePieces(msg[:k:k], msg[k:])
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("ParsePieces cut at %d of %q differs from ParseBytes", k, msg)
		}
	}
}

// FuzzUnmarshal feeds the decoders what a corrupt index could hold: they
// must fail or succeed, never panic or allocate without bound.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{"Subject: x\r\n\r\nbody",
		"From: a@b\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: c@d\r\n\r\nx\r\n--b--\r\n"} {
		info, _ := ParseBytes([]byte(s))
		ib, _ := info.MarshalBinary()
		eb, _ := info.Envelope.MarshalBinary()
		bb, _ := info.Body.MarshalBinary()
		f.Add(ib)
		f.Add(eb)
		f.Add(bb)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var i Info
		var e Envelope
		var p Part
		if i.UnmarshalBinary(b) == nil {
			// The bytes may differ (an older layout), the meaning not.
			again, _ := i.MarshalBinary()
			var j Info
			if err := j.UnmarshalBinary(again); err != nil || !reflect.DeepEqual(&i, &j) {
				t.Fatalf("a decoded record does not round-trip: %v", err)
			}
		}
		e.UnmarshalBinary(b)
		p.UnmarshalBinary(b)
	})
}

func FuzzAddressList(f *testing.F) {
	for _, s := range []string{`a@b`, `A Group: a@b, c@d;`, `"x, y" <z@w>`, `<@r:a@b>`, `(c) a@b (d)`, `:;`, `<>`, `"unterminated`, `a: b: c@d;;`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		depth := 0
		as := ParseAddressList(s)
		for _, a := range as {
			switch {
			case a.IsGroupEnd():
				depth--
			case a.IsGroupStart():
				if a.Name != "" || a.Route != "" {
					t.Fatalf("group start with a name or route in %q", s)
				}
				depth++
			case a.Mailbox == "" || a.Host == "":
				t.Fatalf("address without mailbox or host in %q: %+v", s, a)
			}
			if depth < 0 || depth > 1 {
				t.Fatalf("unbalanced groups in %q", s)
			}
			if len(a.Name)+len(a.Route)+len(a.Mailbox)+len(a.Host) > len(s)+len(MissingMailbox)+len(MissingDomain) {
				t.Fatalf("an address longer than its input %q", s)
			}
		}
		if depth != 0 {
			t.Fatalf("group left open in %q", s)
		}
		if len(as) > len(s) {
			t.Fatalf("%d addresses from %d bytes", len(as), len(s))
		}
	})
}

func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"Fri, 21 Nov 1997 09:55:06 -0600", "21 Nov 97 09:55 GMT", "Mon Jan  2 15:04:05 2006",
		"2024-03-01T12:00:00Z", "(c) 1 Jan 2000 00:00:00 +0000 (x", "May 8, 2005 1:17 PM", "Thu, 4 Mar 2021 05:06:07 +9999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := ParseDate(s)
		if !ok {
			return
		}
		if d.Year() < 1900 || d.Year() > 9999 {
			t.Fatalf("%q → %v", s, d)
		}
		_, off := d.Zone()
		if off <= -24*3600 || off >= 24*3600 {
			t.Fatalf("%q → zone %d", s, off)
		}
		// What parses is stable under the cache encoding.
		e := Envelope{Date: s, Time: d}
		b, _ := e.MarshalBinary()
		var back Envelope
		if err := back.UnmarshalBinary(b); err != nil || !back.Time.Equal(d) {
			t.Fatalf("%q: time does not round-trip", s)
		}
	})
}

func TestCRLF(t *testing.T) {
	cases := []struct{ in, canon string }{
		{"a\nb\n", "a\r\nb\r\n"},
		{"a\r\nb\r\n", "a\r\nb\r\n"},
		{"a\rb\r", "a\rb\r"},
		{"\n\n", "\r\n\r\n"},
		{"a\r\r\nb", "a\r\r\nb"},
		{"", ""},
	}
	for _, c := range cases {
		if got := string(Canonical([]byte(c.in))); got != c.canon {
			t.Errorf("Canonical(%q) = %q", c.in, got)
		}
		if CRLFSize([]byte(c.in)) != int64(len(c.canon)) {
			t.Errorf("CRLFSize(%q) = %d", c.in, CRLFSize([]byte(c.in)))
		}
		var out bytes.Buffer
		out.ReadFrom(iotest.OneByteReader(NewCRLFReader(bytes.NewReader([]byte(c.in)))))
		if out.String() != c.canon {
			t.Errorf("CRLFReader(%q) = %q", c.in, out.String())
		}
		if lf, ok := StorageLF([]byte(c.canon)); ok {
			out.Reset()
			out.ReadFrom(NewCRLFReader(bytes.NewReader(lf)))
			if out.String() != c.canon {
				t.Errorf("StorageLF(%q) = %q does not read back", c.canon, lf)
			}
		}
	}
}

func FuzzCRLF(f *testing.F) {
	for _, s := range []string{"a\nb", "a\r\nb\r\n", "\r\r\n", "\r", "\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		canon := Canonical(b)
		var out bytes.Buffer
		out.ReadFrom(NewCRLFReader(bytes.NewReader(b)))
		if !bytes.Equal(out.Bytes(), canon) || CRLFSize(b) != int64(len(canon)) {
			t.Fatalf("reader/size disagree with Canonical for %q", b)
		}
		if lf, ok := StorageLF(canon); ok {
			out.Reset()
			out.ReadFrom(NewCRLFReader(bytes.NewReader(lf)))
			if !bytes.Equal(out.Bytes(), canon) {
				t.Fatalf("StorageLF lossy for %q", canon)
			}
		}
		// The same decision and octets as the octet-by-octet definition,
		// for any input (not only canonical ones): which form a file is
		// stored in must not change.
		for _, in := range [][]byte{b, canon} {
			lf, ok := StorageLF(in)
			wlf, wok := storageLFOctets(in)
			if ok != wok || !bytes.Equal(lf, wlf) {
				t.Fatalf("StorageLF(%q) = %q, %v; want %q, %v", in, lf, ok, wlf, wok)
			}
		}
	})
}

// storageLFOctets is StorageLF's definition, an octet at a time.
func storageLFOctets(canon []byte) ([]byte, bool) {
	if bytes.Contains(canon, []byte("\r\r\n")) {
		return canon, false
	}
	out := make([]byte, 0, len(canon))
	for i := 0; i < len(canon); i++ {
		c := canon[i]
		if c == '\n' && (i == 0 || canon[i-1] != '\r') {
			return canon, false
		}
		if c == '\r' && i+1 < len(canon) && canon[i+1] == '\n' {
			continue
		}
		out = append(out, c)
	}
	return out, true
}

// benchMessage is a typical multipart message of about 8 KB: a mailing
// list post from Evolution, a 2.8 KB header (Received chain, list
// fields) and four parts.
const benchMessage = "messages/evolution-multipart-mixed-mailing-list.eml"

func BenchmarkParse(b *testing.B) {
	msg, err := os.ReadFile(filepath.Join(sharedTestdata, benchMessage))
	if err != nil {
		b.Fatal(err)
	}
	msg = Canonical(msg)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		ParseBytes(msg)
	}
}

// BenchmarkParse10000Parts is the hostile message with 10,000 parts.
func BenchmarkParse10000Parts(b *testing.B) {
	msg, err := os.ReadFile(filepath.Join(sharedTestdata, "hostile/multipart-10000-parts.eml"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		ParseBytes(msg)
	}
}

func BenchmarkParseReader(b *testing.B) {
	msg, err := os.ReadFile(filepath.Join(sharedTestdata, benchMessage))
	if err != nil {
		b.Fatal(err)
	}
	msg = Canonical(msg)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	r := bytes.NewReader(msg)
	for b.Loop() {
		r.Reset(msg)
		Parse(r)
	}
}

// BenchmarkUnmarshalEnvelope decodes a typical envelope; the budget is
// 100,000 of them (FETCH 1:* ENVELOPE on a big mailbox) well under 100 ms,
// reported as ms/100k.
func BenchmarkUnmarshalEnvelope(b *testing.B) {
	info, _ := ParseBytes([]byte("From: Alice Example <alice@example.org>\r\nTo: Bob <bob@example.org>, carol@example.org\r\n" +
		"Cc: dave@example.org\r\nSubject: A typical subject line for a typical message\r\nDate: Mon, 1 Jan 2024 10:00:00 +0100\r\n" +
		"Message-ID: <CAF=abc123.456@mail.example.org>\r\nIn-Reply-To: <prev.789@example.org>\r\n\r\nbody\r\n"))
	eb, _ := info.Envelope.MarshalBinary()
	b.ReportAllocs()
	for b.Loop() {
		var e Envelope
		if err := e.UnmarshalBinary(eb); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)*100000/1e6, "ms/100k")
}

func BenchmarkMarshalInfo(b *testing.B) {
	msg, err := os.ReadFile(filepath.Join(sharedTestdata, benchMessage))
	if err != nil {
		b.Fatal(err)
	}
	info, _ := ParseBytes(Canonical(msg))
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		buf, _ = info.AppendBinary(buf[:0])
	}
}

// BenchmarkParseBytes: a 100 KB single-part message (76-octet lines),
// its body counted at once and a line at a time.
func BenchmarkParseBytes(b *testing.B) {
	msg := []byte("From: a@example.org\r\nSubject: bench\r\nContent-Type: text/plain\r\n\r\n")
	for len(msg) < 100<<10 {
		msg = append(msg, strings.Repeat("lorem ipsum ", 6)+"dolor sit\r\n"...)
	}
	for _, off := range []bool{false, true} {
		name := map[bool]string{false: "skip", true: "lines"}[off]
		b.Run(name, func(b *testing.B) {
			skipOff = off
			defer func() { skipOff = false }()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				ParseBytes(msg)
			}
		})
	}
}
