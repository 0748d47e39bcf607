package imap

import (
	"strings"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/imap/wire"
)

var sysFlags = []struct {
	f    folder.SysFlags
	name string
}{
	{folder.Seen, `\Seen`}, {folder.Answered, `\Answered`}, {folder.Flagged, `\Flagged`},
	{folder.Deleted, `\Deleted`}, {folder.Draft, `\Draft`},
}

// writeFlags writes a flag list: stored flags, plus \Recent when this
// session has it (RFC 9051 §2.3.2).
func writeFlags(w *wire.Writer, f folder.Flags, recent bool) {
	w.Open()
	n := 0
	sp := func() {
		if n > 0 {
			w.SP()
		}
		n++
	}
	for _, s := range sysFlags {
		if f.Sys.Has(s.f) {
			sp()
			w.Atom(s.name)
		}
	}
	if recent {
		sp()
		w.Atom(`\Recent`)
	}
	for _, k := range f.Keywords {
		sp()
		w.Atom(k)
	}
	w.Close()
}

// parseFlags turns client flags (already canonicalised by wire) into
// stored flags; \Recent cannot be set (RFC 9051 §2.3.2) and other system
// flags than the five are refused.
func parseFlags(in []string) (folder.Flags, error) {
	var f folder.Flags
outer:
	for _, fl := range in {
		for _, s := range sysFlags {
			if strings.EqualFold(fl, s.name) {
				f.Sys |= s.f
				continue outer
			}
		}
		if strings.EqualFold(fl, `\Recent`) {
			continue
		}
		if strings.HasPrefix(fl, `\`) {
			return f, bad("unknown system flag " + fl)
		}
		f.Keywords = append(f.Keywords, fl)
	}
	f.Keywords = folder.NormalizeKeywords(f.Keywords)
	return f, nil
}
