package wire

// SORT (RFC 5256 §3), with ESORT's RETURN (RFC 5267 §3) and SORT=DISPLAY's
// keys (RFC 5957).

// SortArgs: [UID] SORT [RETURN (opts)] (criteria) charset search-keys.
type SortArgs struct {
	HasReturn bool
	Return    []string // upper case: MIN, MAX, ALL, COUNT
	Criteria  []SortCriterion
	Charset   string // upper case; SORT requires one
	Key       SearchKey
}

// SortCriterion is one sort key, possibly reversed.
type SortCriterion struct {
	Key     string // ARRIVAL, CC, DATE, FROM, SIZE, SUBJECT, TO, DISPLAYFROM, DISPLAYTO
	Reverse bool
}

var sortKeys = map[string]bool{
	"ARRIVAL": true, "CC": true, "DATE": true, "FROM": true, "SIZE": true, "SUBJECT": true, "TO": true,
	"DISPLAYFROM": true, "DISPLAYTO": true,
}

var sortReturn = map[string]bool{"MIN": true, "MAX": true, "ALL": true, "COUNT": true}

func parseSort(_ *Command, a *Args) (any, error) {
	out := &SortArgs{}
	if a.TryKeyword("RETURN") {
		opts, err := a.Keywords()
		if err != nil {
			return nil, err
		}
		for _, o := range opts {
			if !sortReturn[o] {
				return nil, errorf("unknown SORT return option " + o)
			}
		}
		out.HasReturn, out.Return = true, opts
	}
	crit, err := a.Keywords()
	if err != nil {
		return nil, err
	}
	for i := 0; i < len(crit); i++ {
		c := SortCriterion{Key: crit[i]}
		if c.Key == "REVERSE" {
			if i+1 == len(crit) {
				return nil, errorf("REVERSE without a sort key")
			}
			i++
			c = SortCriterion{Key: crit[i], Reverse: true}
		}
		if !sortKeys[c.Key] {
			return nil, errorf("unknown sort key " + c.Key)
		}
		out.Criteria = append(out.Criteria, c)
	}
	if len(out.Criteria) == 0 {
		return nil, errorf("empty sort criteria")
	}
	cs, err := a.AString()
	if err != nil {
		return nil, errorf("SORT needs a charset")
	}
	out.Charset = upperString(cs.Value)
	if out.Key, err = a.SearchKeys(); err != nil {
		return nil, err
	}
	return out, nil
}

// ThreadArgs: [UID] THREAD algorithm charset search-keys (RFC 5256 §3).
type ThreadArgs struct {
	Algorithm string // upper case: ORDEREDSUBJECT, REFERENCES
	Charset   string
	Key       SearchKey
}

func parseThread(_ *Command, a *Args) (any, error) {
	alg, err := a.Keyword()
	if err != nil {
		return nil, errorf("THREAD needs an algorithm")
	}
	cs, err := a.AString()
	if err != nil {
		return nil, errorf("THREAD needs a charset")
	}
	out := &ThreadArgs{Algorithm: alg, Charset: upperString(cs.Value)}
	if out.Key, err = a.SearchKeys(); err != nil {
		return nil, err
	}
	return out, nil
}
