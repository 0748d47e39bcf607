package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math"
)

// Limits bound what one client can make the reader hold or read. Zero
// fields take the defaults of DefaultLimits.
type Limits struct {
	// MaxLine is the longest line (CRLF excluded) of a command, counted
	// between literals. At least 8000 per RFC 7162 §4 (a smaller one is
	// raised to it); default 64 KiB.
	MaxLine int
	// MaxLiteral bounds a literal that is not an APPEND message.
	MaxLiteral int64
	// MaxAppend bounds one APPEND message literal: the APPENDLIMIT (RFC 7889).
	MaxAppend int64
	// MaxAppendTotal bounds the sum of message literals of one APPEND
	// (MULTIAPPEND, RFC 3502). Default MaxAppend.
	MaxAppendTotal int64
	// MaxCommand bounds the lines and non-message literals of one command.
	MaxCommand int64
	// MaxDrain is the largest refused non-synchronising literal the reader
	// reads and discards to stay in sync; larger ones are fatal.
	MaxDrain int64
	// NonSyncMax, when > 0, refuses larger non-synchronising literals: 4096
	// when the server advertises LITERAL- rather than LITERAL+ (RFC 7888 §5).
	NonSyncMax int64
}

// minMaxLine is RFC 7162 §4's floor: "at least 8000 octets".
const minMaxLine = 8000

// DefaultLimits are the limits a zero field stands for.
func DefaultLimits() Limits {
	return Limits{
		MaxLine:    64 << 10,
		MaxLiteral: 64 << 10,
		MaxAppend:  64 << 20,
		MaxCommand: 1 << 20,
		MaxDrain:   1 << 20,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	switch {
	case l.MaxLine <= 0:
		l.MaxLine = d.MaxLine
	case l.MaxLine < minMaxLine:
		l.MaxLine = minMaxLine
	}
	if l.MaxLiteral <= 0 {
		l.MaxLiteral = d.MaxLiteral
	}
	if l.MaxAppend <= 0 {
		l.MaxAppend = d.MaxAppend
	}
	if l.MaxAppendTotal <= 0 {
		l.MaxAppendTotal = l.MaxAppend
	}
	if l.MaxCommand <= 0 {
		l.MaxCommand = d.MaxCommand
	}
	if l.MaxCommand < int64(l.MaxLine) {
		l.MaxCommand = int64(l.MaxLine)
	}
	if l.MaxDrain <= 0 {
		l.MaxDrain = d.MaxDrain
	}
	return l
}

// LiteralInfo describes a literal header the reader has just met.
type LiteralInfo struct {
	Tag     string
	Name    string // command name, upper case, UID prefix removed
	UID     bool
	Size    int64 // math.MaxInt64 if the count overflowed
	NonSync bool  // "{n+}" or "{n-}": the octets are already on their way
	Binary  bool  // "~{n}"
	Append  bool  // an APPEND message literal (bounded by MaxAppend)
}

// LiteralHook is called for each literal within limits before its octets
// are read. For a synchronising literal, returning nil promises that the
// caller has written and flushed "+ ..." (RFC 9051 §7.5); returning an
// error refuses it and ReadCommand returns a *LiteralRefused carrying it.
// For a non-synchronising literal the caller must not write anything; an
// error refuses it as well (the octets are drained).
type LiteralHook func(LiteralInfo) error

// maxDepth bounds list nesting, so that "((((..." cannot grow the stack.
const maxDepth = 64

// literalOverhead is charged to MaxCommand per literal, so that a stream
// of "{0+}" lines cannot build an unbounded command.
const literalOverhead = 16

// Reader reads commands from one connection. It is not safe for
// concurrent use; it owns the bufio.Reader's position: after any return
// other than an I/O error or *FatalError, the bufio.Reader stands at the
// first octet after the command (or after the line, for ReadLine).
type Reader struct {
	p    *Parser
	br   *bufio.Reader
	hook LiteralHook
	lim  Limits

	line []byte // current line, line end removed
	pos  int

	// per command
	tag, name  string
	uid        bool
	spec       *Spec
	cmdBytes   int64
	appendSize int64
	mem        bool // in-memory lexing of a section: no literals
}

// NewReader returns a Reader of commands over br using the parser's
// limits and commands. hook may be nil: every literal within limits is
// then accepted (and the caller must send "+" for synchronising ones some
// other way, which only tests do).
func (p *Parser) NewReader(br *bufio.Reader, hook LiteralHook) *Reader {
	return &Reader{p: p, br: br, hook: hook, lim: p.limits}
}

// SetHook replaces the literal hook.
func (r *Reader) SetHook(h LiteralHook) { r.hook = h }

// Buffered reports how many octets the underlying bufio.Reader holds, so a
// caller switching to TLS or COMPRESS can check that none are pending.
func (r *Reader) Buffered() int { return r.br.Buffered() }

var errTooLong = errors.New("too long")

// readLine reads one line into r.line. On a line longer than MaxLine it
// keeps the first MaxLine octets in r.line (for the tag), discards the
// rest up to LF, returns in tail the last octets of the line (to spot a
// literal header there) and errTooLong.
func (r *Reader) readLine() (tail []byte, err error) {
	r.line = r.line[:0]
	r.pos = 0
	max := r.lim.MaxLine + 2
	for {
		frag, err := r.br.ReadSlice('\n')
		if len(r.line)+len(frag) > max {
			return r.discardLong(frag, err)
		}
		r.line = append(r.line, frag...)
		if err == nil {
			break
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF && len(r.line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	r.line = trimEOL(r.line)
	return nil, nil
}

func trimEOL(b []byte) []byte {
	b = b[:len(b)-1]
	if len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	return b
}

// tailSize is enough for "~{9223372036854775807+}\r\n".
const tailSize = 32

func (r *Reader) discardLong(frag []byte, err error) ([]byte, error) {
	var tail [2 * tailSize]byte
	n := 0
	keep := func(b []byte) {
		if len(b) >= tailSize {
			n = copy(tail[:], b[len(b)-tailSize:])
			return
		}
		if n+len(b) > len(tail) {
			n = copy(tail[:], tail[n-(tailSize-len(b)):n])
		}
		n += copy(tail[n:], b)
	}
	room := r.lim.MaxLine - len(r.line)
	if room > 0 {
		r.line = append(r.line, frag[:min(room, len(frag))]...)
	}
	keep(frag)
	for err == bufio.ErrBufferFull {
		frag, err = r.br.ReadSlice('\n')
		keep(frag)
	}
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return trimEOL(append([]byte(nil), tail[:n]...)), errTooLong
}

// literalTail parses a literal header at the end of b, as a client would
// have sent it: the grammar allows a literal only just before CRLF.
func literalTail(b []byte) (size int64, nonsync, ok bool) {
	i := len(b) - 1
	if i < 0 || b[i] != '}' {
		return 0, false, false
	}
	i--
	if i >= 0 && (b[i] == '+' || b[i] == '-') {
		nonsync = true
		i--
	}
	end := i + 1
	for i >= 0 && b[i] >= '0' && b[i] <= '9' {
		i--
	}
	if i < 0 || b[i] != '{' || i+1 == end {
		return 0, false, false
	}
	return parseSize(b[i+1 : end]), nonsync, true
}

// parseSize reads decimal digits, saturating at math.MaxInt64.
func parseSize(d []byte) int64 {
	var n int64
	for _, c := range d {
		if n > (math.MaxInt64-9)/10 {
			return math.MaxInt64
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// skipCommand discards what is left of the current command once an error
// has been found: the rest of the line and, while lines end in a
// non-synchronising literal header, its octets and the following line. A
// synchronising literal ends the command: the client waits for "+".
func (r *Reader) skipCommand(tail []byte) error {
	if tail == nil {
		tail = r.line
	}
	r.pos = len(r.line)
	for {
		size, nonsync, ok := literalTail(tail)
		if !ok || !nonsync {
			return nil
		}
		if err := r.drain(size); err != nil {
			return err
		}
		t, err := r.readLine()
		if err != nil && err != errTooLong {
			return err
		}
		tail = t
		if tail == nil {
			tail = r.line
		}
		r.pos = len(r.line)
	}
}

// drain discards n octets of a refused non-synchronising literal.
func (r *Reader) drain(n int64) error {
	if n > r.lim.MaxDrain {
		return &FatalError{Tag: r.tag, Err: &LimitError{Size: n, Limit: r.lim.MaxDrain}}
	}
	for n > 0 {
		k, err := r.br.Discard(int(min(n, 1<<20)))
		n -= int64(k)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// fail ends the command with err after skipping the rest of it; an error
// while skipping (fatal or I/O) wins.
func (r *Reader) fail(err error) error {
	if r.mem {
		return err
	}
	if serr := r.skipCommand(nil); serr != nil {
		return serr
	}
	return err
}

func (r *Reader) syntax(msg string) error {
	return &SyntaxError{Tag: r.tag, Msg: msg}
}

// ReadLine reads one raw line (CRLF or LF removed) for AUTHENTICATE
// continuations (RFC 9051 §6.2.2) and IDLE's DONE (RFC 2177). The result
// is a copy. A line longer than MaxLine is discarded up to its end and
// ErrLineTooLong returned.
func (r *Reader) ReadLine() ([]byte, error) {
	_, err := r.readLine()
	if err == errTooLong {
		return nil, ErrLineTooLong
	}
	if err != nil {
		return nil, err
	}
	return append([]byte{}, r.line...), nil
}

// IsDone reports whether line is IDLE's "DONE", in any case (RFC 2177 §3).
func IsDone(line []byte) bool {
	return len(line) == 4 && bytes.EqualFold(line, []byte("DONE"))
}

// ReadCommand reads the next command, skipping empty lines. See the
// package documentation for the errors it returns.
func (r *Reader) ReadCommand() (*Command, error) {
	r.tag, r.name, r.uid, r.spec = "", "", false, nil
	r.cmdBytes, r.appendSize = 0, 0
	for {
		t, err := r.readLine()
		if err == errTooLong {
			r.readTag() // the head of the line is kept for this
			if serr := r.skipCommand(t); serr != nil {
				return nil, serr
			}
			return nil, &TooLong{Tag: r.tag}
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.Trim(r.line, " ")) > 0 {
			break
		}
	}
	r.cmdBytes = int64(len(r.line))
	if bytes.IndexByte(r.line, 0) >= 0 {
		r.readTag()
		return nil, r.fail(r.syntax(ErrNUL.Error()))
	}
	if !r.readTag() {
		r.tag = ""
		return nil, r.fail(&SyntaxError{Msg: "invalid tag"})
	}
	if !r.sp() {
		return nil, r.fail(r.syntax("missing command name"))
	}
	name := r.keyword()
	if name == "" {
		return nil, r.fail(r.syntax("invalid command name"))
	}
	if name == "UID" {
		r.uid = true
		if !r.sp() {
			return nil, r.fail(r.syntax("missing command after UID"))
		}
		if name = r.keyword(); name == "" {
			return nil, r.fail(r.syntax("invalid command name"))
		}
	}
	r.name = name
	spec, ok := r.p.cmds[name]
	if !ok {
		return nil, r.fail(r.syntax("unknown command " + name))
	}
	if r.uid && !spec.UID {
		return nil, r.fail(r.syntax("UID " + name + " is not a command"))
	}
	r.spec = &spec
	args, err := r.parseArgs()
	if err != nil {
		return nil, err
	}
	c := &Command{Tag: r.tag, Name: name, UID: r.uid, Raw: args}
	if spec.Parse != nil {
		a := &Args{list: args}
		v, err := spec.Parse(c, a)
		if err != nil {
			var se *SyntaxError
			if errors.As(err, &se) {
				se.Tag = r.tag
				return nil, se
			}
			return nil, &SyntaxError{Tag: r.tag, Msg: err.Error()}
		}
		c.Args = v
	}
	return c, nil
}

// readTag reads the tag at the start of r.line into r.tag: RFC 9051 §9
// tag = 1*<any ASTRING-CHAR except "+">.
func (r *Reader) readTag() bool {
	i := 0
	for i < len(r.line) && r.line[i] != ' ' {
		c := r.line[i]
		// 7-bit only: the tag is echoed in responses that may not be 8-bit.
		if !isAStringChar(c) || c == '+' || c >= 0x80 {
			r.tag = ""
			return false
		}
		i++
	}
	if i == 0 {
		return false
	}
	r.tag = string(r.line[:i])
	r.pos = i
	return true
}

func (r *Reader) sp() bool {
	if r.pos < len(r.line) && r.line[r.pos] == ' ' {
		r.pos++
		return true
	}
	return false
}

// keyword reads a command name: letters, digits and '-', upper-cased.
func (r *Reader) keyword() string {
	start := r.pos
	for r.pos < len(r.line) {
		c := r.line[r.pos]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' {
			r.pos++
			continue
		}
		break
	}
	if r.pos == start || r.pos < len(r.line) && r.line[r.pos] != ' ' {
		return ""
	}
	return upper(r.line[start:r.pos])
}

// nextLine loads the line that follows a literal's octets.
func (r *Reader) nextLine() error {
	t, err := r.readLine()
	if err == errTooLong {
		if serr := r.skipCommand(t); serr != nil {
			return serr
		}
		return &TooLong{Tag: r.tag}
	}
	if err != nil {
		return err
	}
	r.cmdBytes += int64(len(r.line))
	if r.cmdBytes > r.lim.MaxCommand {
		return r.fail(&TooLong{Tag: r.tag})
	}
	if bytes.IndexByte(r.line, 0) >= 0 {
		return r.fail(r.syntax(ErrNUL.Error()))
	}
	return nil
}

// literal handles a literal header whose "{" is at r.pos. It returns the
// octets with the next line loaded, or a terminal error with the stream
// in sync.
func (r *Reader) literal(binary, isAppend bool) ([]byte, bool, error) {
	if r.mem {
		return nil, false, r.syntax("literal not allowed here")
	}
	i := r.pos + 1
	start := i
	for i < len(r.line) && r.line[i] >= '0' && r.line[i] <= '9' {
		i++
	}
	digits := r.line[start:i]
	nonsync, minus := false, false
	if i < len(r.line) && (r.line[i] == '+' || r.line[i] == '-') {
		nonsync, minus = true, r.line[i] == '-'
		i++
	}
	if len(digits) == 0 || i >= len(r.line) || r.line[i] != '}' {
		return nil, false, r.fail(r.syntax("invalid literal header"))
	}
	if i+1 != len(r.line) {
		return nil, false, r.fail(r.syntax("literal header not at end of line"))
	}
	r.pos = len(r.line)
	size := parseSize(digits)
	info := LiteralInfo{Tag: r.tag, Name: r.name, UID: r.uid, Size: size, NonSync: nonsync, Binary: binary, Append: isAppend}

	var refuse error
	switch {
	case isAppend && size > r.lim.MaxAppend:
		refuse = &LimitError{Size: size, Limit: r.lim.MaxAppend, Append: true}
	case isAppend && size > r.lim.MaxAppendTotal-r.appendSize:
		refuse = &LimitError{Size: size, Limit: r.lim.MaxAppendTotal - r.appendSize, Append: true}
	case !isAppend && size > r.lim.MaxLiteral:
		refuse = &LimitError{Size: size, Limit: r.lim.MaxLiteral}
	case !isAppend && size > r.lim.MaxCommand-r.cmdBytes:
		refuse = &LimitError{Size: size, Limit: max(0, r.lim.MaxCommand-r.cmdBytes)}
	case minus && size > 4096:
		// RFC 7888 §4: LITERAL- allows non-synchronising literals of at
		// most 4096 octets.
		refuse = &LimitError{Size: size, Limit: 4096, Append: isAppend}
	case nonsync && r.lim.NonSyncMax > 0 && size > r.lim.NonSyncMax:
		refuse = &LimitError{Size: size, Limit: r.lim.NonSyncMax, Append: isAppend}
	case r.hook != nil:
		refuse = r.hook(info)
	}
	if refuse != nil {
		if !nonsync {
			// The client sends nothing more for this command until "+".
			return nil, false, &LiteralRefused{Tag: r.tag, Info: info, Err: refuse}
		}
		if err := r.drain(size); err != nil {
			return nil, false, err
		}
		if err := r.afterDrain(); err != nil {
			return nil, false, err
		}
		return nil, false, &LiteralRefused{Tag: r.tag, Info: info, Drained: true, Err: refuse}
	}
	if isAppend {
		r.appendSize += size
	} else {
		r.cmdBytes += size + literalOverhead
	}
	data, err := r.readN(size)
	if err != nil {
		return nil, false, err
	}
	if err := r.nextLine(); err != nil {
		return nil, false, err
	}
	if !binary && bytes.IndexByte(data, 0) >= 0 {
		return nil, false, r.fail(r.syntax(ErrNUL.Error() + " literal"))
	}
	return data, !nonsync, nil
}

// afterDrain skips the rest of the command after a drained literal.
func (r *Reader) afterDrain() error {
	t, err := r.readLine()
	if err != nil && err != errTooLong {
		return err
	}
	return r.skipCommand(t)
}

// readN reads n octets, growing the buffer only as octets arrive, so an
// announced size costs nothing until it is sent.
func (r *Reader) readN(n int64) ([]byte, error) {
	const chunk = 64 << 10
	buf := make([]byte, 0, min(n, chunk))
	for int64(len(buf)) < n {
		want := min(n-int64(len(buf)), chunk)
		if int64(cap(buf)-len(buf)) < want {
			nb := make([]byte, len(buf), min(n, max(2*int64(cap(buf)), int64(len(buf))+want)))
			copy(nb, buf)
			buf = nb
		}
		k, err := io.ReadFull(r.br, buf[len(buf):len(buf)+int(want)])
		buf = buf[:len(buf)+k]
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return buf, nil
}

// parseArgs reads the arguments after the command name up to the end of
// the command.
func (r *Reader) parseArgs() ([]Arg, error) {
	var args []Arg
	for {
		spaces := r.skipSP()
		if r.pos >= len(r.line) {
			return args, nil
		}
		if spaces == 0 {
			return nil, r.fail(r.syntax("missing space"))
		}
		msg := r.spec != nil && r.spec.Append && len(args) >= 1
		listMsg := r.spec != nil && r.spec.Append && len(args) >= 1 &&
			args[len(args)-1].Kind == KindAtom && equalFold(args[len(args)-1].Str, "UTF8")
		a, err := r.token(0, msg, listMsg)
		if err != nil {
			return nil, err
		}
		args = append(args, a)
	}
}

func (r *Reader) skipSP() int {
	n := 0
	for r.pos < len(r.line) && r.line[r.pos] == ' ' {
		r.pos++
		n++
	}
	return n
}

// token reads one token at r.pos. msg: a literal here is an APPEND
// message; listMsg: literals directly inside a list here are.
func (r *Reader) token(depth int, msg, listMsg bool) (Arg, error) {
	c := r.line[r.pos]
	switch {
	case c == '(':
		if depth >= maxDepth {
			return Arg{}, r.fail(r.syntax("lists nested too deep"))
		}
		r.pos++
		list, err := r.list(depth+1, listMsg)
		return Arg{Kind: KindList, List: list}, err
	case c == ')':
		return Arg{}, r.fail(r.syntax("unexpected )"))
	case c == '"':
		s, eight, err := r.quoted()
		if err != nil {
			return Arg{}, r.fail(err)
		}
		return Arg{Kind: KindQuoted, Str: s, Eight: eight}, nil
	case c == '{' || c == '~' && r.pos+1 < len(r.line) && r.line[r.pos+1] == '{':
		binary := c == '~'
		if binary {
			r.pos++
		}
		data, sync, err := r.literal(binary, msg)
		if err != nil {
			return Arg{}, err
		}
		return Arg{Kind: KindLiteral, Lit: data, Eight: hasEight(data), Binary: binary, Sync: sync}, nil
	}
	return r.atom()
}

func (r *Reader) list(depth int, msg bool) ([]Arg, error) {
	var list []Arg
	for {
		spaces := r.skipSP()
		if r.pos >= len(r.line) {
			return nil, r.fail(r.syntax("unterminated list"))
		}
		if r.line[r.pos] == ')' {
			r.pos++
			if r.pos < len(r.line) && r.line[r.pos] != ' ' && r.line[r.pos] != ')' {
				return nil, r.fail(r.syntax("missing space after )"))
			}
			return list, nil
		}
		if spaces == 0 && len(list) > 0 {
			return nil, r.fail(r.syntax("missing space"))
		}
		a, err := r.token(depth, msg, false)
		if err != nil {
			return nil, err
		}
		list = append(list, a)
	}
}

// quoted reads a quoted string at r.pos (RFC 9051 §4.3: only \" and \\
// are escapes; CR and LF cannot occur since lines are already split).
func (r *Reader) quoted() (string, bool, error) {
	r.pos++
	start := r.pos
	escaped := false
	eight := false
	for i := r.pos; i < len(r.line); i++ {
		c := r.line[i]
		switch {
		case c == '"':
			raw := r.line[start:i]
			r.pos = i + 1
			if r.pos < len(r.line) && r.line[r.pos] != ' ' && r.line[r.pos] != ')' && r.line[r.pos] != ']' {
				return "", false, r.syntax("missing space after quoted string")
			}
			if !escaped {
				return string(raw), eight, nil
			}
			out := make([]byte, 0, len(raw))
			for j := 0; j < len(raw); j++ {
				if raw[j] == '\\' {
					j++
				}
				out = append(out, raw[j])
			}
			return string(out), eight, nil
		case c == '\\':
			if i+1 >= len(r.line) || r.line[i+1] != '"' && r.line[i+1] != '\\' {
				return "", false, r.syntax("invalid escape in quoted string")
			}
			escaped = true
			i++
		case c == '\r' || c == '\n':
			// TEXT-CHAR excludes CR and LF; only a bare CR can get here.
			return "", false, r.syntax("CR in quoted string")
		case c >= 0x80:
			eight = true
		}
	}
	return "", false, r.syntax("unterminated quoted string")
}

// atom reads an atom, keeping a "[...]" section (nesting allowed) inside
// it. In a section, quoted strings are kept as sent; a literal (it may only
// end a line) is read and folded in as a quoted string, so the atom is
// rebuilt in buf across lines.
func (r *Reader) atom() (Arg, error) {
	var buf []byte
	rebuilt := false
	begin := r.pos
	depth := 0
	for r.pos < len(r.line) {
		c := r.line[r.pos]
		if depth == 0 {
			if c == ' ' || c == ')' {
				break
			}
			if c == '(' || c == '"' || c == '{' || c < ' ' || c == 0x7f {
				return Arg{}, r.fail(r.syntax("invalid character in atom"))
			}
			// A "[" opens a section only when something can close it:
			// a "]" later on the line, or a literal the section
			// continues after. Otherwise it is an ATOM-CHAR like any
			// other (RFC 9051 §9: list-mailbox "[}%*" is one atom).
			if c == '[' && (bytes.IndexByte(r.line[r.pos:], ']') >= 0 || endsInLiteral(r.line)) {
				depth++
			}
			r.pos++
			continue
		}
		switch {
		case c == '[':
			if depth++; depth > maxDepth {
				return Arg{}, r.fail(r.syntax("[ nested too deep"))
			}
			r.pos++
		case c == ']':
			depth--
			r.pos++
		case c == '"':
			i := r.pos + 1
			for ; i < len(r.line) && r.line[i] != '"'; i++ {
				if r.line[i] == '\\' {
					i++
				}
			}
			if i >= len(r.line) {
				return Arg{}, r.fail(r.syntax("unterminated quoted string"))
			}
			r.pos = i + 1
		case c == '{' || c == '~' && r.pos+1 < len(r.line) && r.line[r.pos+1] == '{':
			buf = append(buf, r.line[begin:r.pos]...)
			rebuilt = true
			bin := c == '~'
			if bin {
				r.pos++
			}
			data, _, err := r.literal(bin, false)
			if err != nil {
				return Arg{}, err
			}
			if bytes.ContainsAny(data, "\r\n") {
				return Arg{}, r.fail(r.syntax("CR or LF in section literal"))
			}
			buf = appendQuoted(buf, data)
			begin = r.pos // 0: the line after the literal
		case c < ' ' || c == 0x7f:
			return Arg{}, r.fail(r.syntax("control character in section"))
		default:
			r.pos++
		}
	}
	if depth > 0 {
		return Arg{}, r.fail(r.syntax("unterminated ["))
	}
	var s string
	if rebuilt {
		s = string(append(buf, r.line[begin:r.pos]...))
	} else {
		s = string(r.line[begin:r.pos])
	}
	if s == "" {
		return Arg{}, r.fail(r.syntax("empty atom"))
	}
	return classify(s, hasEightString(s)), nil
}

// endsInLiteral reports whether a line ends with a literal header.
func endsInLiteral(line []byte) bool {
	_, _, ok := literalTail(line)
	return ok
}

func classify(s string, eight bool) Arg {
	if len(s) == 3 && equalFold(s, "NIL") {
		return Arg{Kind: KindNil, Str: s}
	}
	if len(s) > 0 && len(s) <= 20 {
		var n uint64
		ok := true
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c < '0' || c > '9' || n > (math.MaxUint64-9)/10 {
				ok = false
				break
			}
			n = n*10 + uint64(c-'0')
		}
		if ok {
			return Arg{Kind: KindNumber, Str: s, Num: n}
		}
	}
	return Arg{Kind: KindAtom, Str: s, Eight: eight}
}
