package sieve

// The parser builds the syntax tree of RFC 5228 §8.2 and knows nothing
// of what commands mean: that is the checker's job (check.go). It
// recurses on blocks and test lists, so it counts their depth and stops
// at Options.MaxNesting before the Go stack could suffer.

// argKind is the syntactic kind of one argument.
type argKind uint8

const (
	aTag argKind = iota
	aNumber
	aStrings // a string or a string list
)

type arg struct {
	kind   argKind
	pos    Pos
	tag    string
	num    int64
	strs   []string
	strPos []Pos
	list   bool // written as [ ... ], even with one element
}

func (a *arg) describe() string {
	switch a.kind {
	case aTag:
		return "tag :" + a.tag
	case aNumber:
		return "number"
	}
	if a.list {
		return "string list"
	}
	return "string"
}

// node is a command or a test: identifier, arguments, tests, block.
type node struct {
	name  string
	pos   Pos
	args  []*arg
	tests []*node
	// testList records that the tests were written in parentheses.
	testList bool
	block    []*node
	hasBlock bool
}

type parser struct {
	lx       *lexer
	tok      token
	maxDepth int
	maxList  int
}

func (p *parser) advance() error {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func parse(src []byte, maxDepth, maxList int) ([]*node, error) {
	p := &parser{lx: newLexer(src), maxDepth: maxDepth, maxList: maxList}
	if err := p.advance(); err != nil {
		return nil, err
	}
	cmds, err := p.commands(0)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		if p.tok.kind == tRBrace {
			return nil, errAt(p.tok.pos, "'}' without a matching '{'")
		}
		return nil, errAt(p.tok.pos, "expected a command, found %s", p.tok.describe())
	}
	return cmds, nil
}

func (p *parser) commands(depth int) ([]*node, error) {
	var out []*node
	for p.tok.kind == tIdent {
		c, err := p.command(depth)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func (p *parser) command(depth int) (*node, error) {
	n := &node{name: p.tok.text, pos: p.tok.pos}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if err := p.arguments(n, depth); err != nil {
		return nil, err
	}
	switch p.tok.kind {
	case tSemi:
		return n, p.advance()
	case tLBrace:
		if depth+1 > p.maxDepth {
			return nil, errAt(p.tok.pos, "blocks are nested too deeply (limit %d)", p.maxDepth)
		}
		open := p.tok.pos
		if err := p.advance(); err != nil {
			return nil, err
		}
		block, err := p.commands(depth + 1)
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRBrace {
			if p.tok.kind == tEOF {
				return nil, errAt(open, "block opened here is never closed with '}'")
			}
			return nil, errAt(p.tok.pos, "expected a command or '}', found %s", p.tok.describe())
		}
		n.block, n.hasBlock = block, true
		return n, p.advance()
	case tEOF:
		return nil, errAt(p.tok.pos, "missing ';' after command '%s' (line %d)", n.name, n.pos.Line)
	}
	return nil, errAt(p.tok.pos, "expected ';' or '{' after the arguments of '%s', found %s", n.name, p.tok.describe())
}

// arguments reads the arguments and then the test or test list of a
// command or test.
func (p *parser) arguments(n *node, depth int) error {
	for {
		t := p.tok
		switch t.kind {
		case tTag:
			n.args = append(n.args, &arg{kind: aTag, pos: t.pos, tag: t.text})
		case tNumber:
			n.args = append(n.args, &arg{kind: aNumber, pos: t.pos, num: t.num})
		case tString:
			n.args = append(n.args, &arg{kind: aStrings, pos: t.pos, strs: []string{t.text}, strPos: []Pos{t.pos}})
		case tLBracket:
			a, err := p.stringList()
			if err != nil {
				return err
			}
			n.args = append(n.args, a)
			continue
		default:
			goto tests
		}
		if err := p.advance(); err != nil {
			return err
		}
	}
tests:
	switch p.tok.kind {
	case tIdent:
		if depth+1 > p.maxDepth {
			return errAt(p.tok.pos, "tests are nested too deeply (limit %d)", p.maxDepth)
		}
		t, err := p.test(depth + 1)
		if err != nil {
			return err
		}
		n.tests = []*node{t}
	case tLParen:
		if depth+1 > p.maxDepth {
			return errAt(p.tok.pos, "tests are nested too deeply (limit %d)", p.maxDepth)
		}
		open := p.tok.pos
		n.testList = true
		if err := p.advance(); err != nil {
			return err
		}
		for {
			if p.tok.kind != tIdent {
				return errAt(p.tok.pos, "expected a test, found %s", p.tok.describe())
			}
			t, err := p.test(depth + 1)
			if err != nil {
				return err
			}
			n.tests = append(n.tests, t)
			if p.tok.kind == tComma {
				if err := p.advance(); err != nil {
					return err
				}
				continue
			}
			if p.tok.kind != tRParen {
				if p.tok.kind == tEOF {
					return errAt(open, "test list opened here is never closed with ')'")
				}
				return errAt(p.tok.pos, "expected ',' or ')' in the test list, found %s", p.tok.describe())
			}
			return p.advance()
		}
	}
	return nil
}

func (p *parser) test(depth int) (*node, error) {
	n := &node{name: p.tok.text, pos: p.tok.pos}
	if err := p.advance(); err != nil {
		return nil, err
	}
	return n, p.arguments(n, depth)
}

func (p *parser) stringList() (*arg, error) {
	a := &arg{kind: aStrings, pos: p.tok.pos, list: true}
	if err := p.advance(); err != nil {
		return nil, err
	}
	for {
		if p.tok.kind != tString {
			return nil, errAt(p.tok.pos, "expected a string in the string list, found %s", p.tok.describe())
		}
		if len(a.strs) >= p.maxList {
			return nil, errAt(p.tok.pos, "string list is too long (limit %d)", p.maxList)
		}
		a.strs = append(a.strs, p.tok.text)
		a.strPos = append(a.strPos, p.tok.pos)
		if err := p.advance(); err != nil {
			return nil, err
		}
		switch p.tok.kind {
		case tComma:
			if err := p.advance(); err != nil {
				return nil, err
			}
		case tRBracket:
			return a, p.advance()
		default:
			return nil, errAt(p.tok.pos, "expected ',' or ']' in the string list, found %s", p.tok.describe())
		}
	}
}
