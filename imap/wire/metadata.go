package wire

// METADATA (RFC 5464 §4, §5).

// GetMetadataArgs: GETMETADATA [(options)] mailbox entries.
type GetMetadataArgs struct {
	MaxSize    int64 // -1: none
	Depth      int   // 0, 1, or -1 for infinity
	Mailbox    Mailbox
	Entries    []string
	MailboxNil bool // the mailbox was "": the server's entries
}

// SetMetadataArgs: SETMETADATA mailbox (entry value ...).
type SetMetadataArgs struct {
	Mailbox Mailbox
	Server  bool // mailbox ""
	Entries []MetadataValue
}

// MetadataValue is one entry and its value; Nil removes the entry.
type MetadataValue struct {
	Entry string
	Value []byte
	Nil   bool
}

func parseGetMetadata(_ *Command, a *Args) (any, error) {
	out := &GetMetadataArgs{MaxSize: -1}
	if a.PeekList() {
		l, _ := a.List()
		for l.More() {
			k, err := l.Keyword()
			if err != nil {
				return nil, err
			}
			switch k {
			case "MAXSIZE":
				n, err := l.Number64()
				if err != nil {
					return nil, err
				}
				out.MaxSize = int64(n)
			case "DEPTH":
				t, err := l.Next()
				if err != nil {
					return nil, err
				}
				d := upperString(t.Str)
				switch d {
				case "0":
					out.Depth = 0
				case "1":
					out.Depth = 1
				case "INFINITY":
					out.Depth = -1
				default:
					return nil, errorf("DEPTH must be 0, 1 or infinity")
				}
			default:
				return nil, errorf("unknown GETMETADATA option " + k)
			}
		}
	}
	m, server, err := metadataMailbox(a)
	if err != nil {
		return nil, err
	}
	out.Mailbox, out.MailboxNil = m, server
	if a.PeekList() {
		l, _ := a.List()
		for l.More() {
			e, err := l.AString()
			if err != nil {
				return nil, err
			}
			out.Entries = append(out.Entries, e.Value)
		}
	} else {
		e, err := a.AString()
		if err != nil {
			return nil, err
		}
		out.Entries = []string{e.Value}
	}
	if len(out.Entries) == 0 {
		return nil, errorf("GETMETADATA needs an entry")
	}
	return out, a.End()
}

func parseSetMetadata(_ *Command, a *Args) (any, error) {
	m, server, err := metadataMailbox(a)
	if err != nil {
		return nil, err
	}
	out := &SetMetadataArgs{Mailbox: m, Server: server}
	l, err := a.List()
	if err != nil {
		return nil, err
	}
	for l.More() {
		e, err := l.AString()
		if err != nil {
			return nil, err
		}
		t, err := l.Next()
		if err != nil {
			return nil, errorf("SETMETADATA needs a value for " + e.Value)
		}
		v := MetadataValue{Entry: e.Value}
		switch t.Kind {
		case KindNil:
			v.Nil = true
		case KindQuoted, KindLiteral:
			v.Value = []byte(t.Text())
		default:
			return nil, errorf("a metadata value is a string, a literal or NIL")
		}
		out.Entries = append(out.Entries, v)
	}
	if len(out.Entries) == 0 {
		return nil, errorf("SETMETADATA needs an entry")
	}
	return out, a.End()
}

// metadataMailbox reads the mailbox argument, where "" names the server.
func metadataMailbox(a *Args) (Mailbox, bool, error) {
	if t := a.Peek(); t != nil && t.Kind == KindQuoted && t.Text() == "" {
		a.Next()
		return Mailbox{}, true, nil
	}
	m, err := a.Mailbox()
	return m, false, err
}
