package wire

// QUOTA (RFC 9208 §4).

// QuotaRootArgs: GETQUOTA quota-root.
type QuotaRootArgs struct {
	Root string
}

func parseGetQuota(_ *Command, a *Args) (any, error) {
	r, err := a.AString()
	if err != nil {
		return nil, err
	}
	return &QuotaRootArgs{Root: r.Value}, a.End()
}

// SetQuotaArgs: SETQUOTA quota-root (resource limit ...).
type SetQuotaArgs struct {
	Root   string
	Limits []QuotaLimit
}

// QuotaLimit is one resource's limit in SETQUOTA.
type QuotaLimit struct {
	Resource string // upper case
	Limit    uint64
}

func parseSetQuota(_ *Command, a *Args) (any, error) {
	r, err := a.AString()
	if err != nil {
		return nil, err
	}
	l, err := a.List()
	if err != nil {
		return nil, err
	}
	out := &SetQuotaArgs{Root: r.Value}
	for l.More() {
		res, err := l.Keyword()
		if err != nil {
			return nil, err
		}
		n, err := l.Number64()
		if err != nil {
			return nil, err
		}
		out.Limits = append(out.Limits, QuotaLimit{Resource: res, Limit: n})
	}
	return out, a.End()
}
