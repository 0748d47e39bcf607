package folder

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/storaged/storaged/internal/safefs"
)

// Separator is the hierarchy separator of mailbox names everywhere in
// storaged (IMAP shows it; formats map it to their own layout).
const Separator = "/"

// Inbox is the one name compared case-insensitively (RFC 9051 §5.1).
const Inbox = "INBOX"

// MaxNameLen bounds a mailbox name in octets: deep enough for any real
// hierarchy, short enough that every format's path stays under PATH_MAX.
const MaxNameLen = 512

// CanonicalName returns name with any case of INBOX as a first level
// spelled "INBOX".
func CanonicalName(name string) string {
	first, rest, hasRest := strings.Cut(name, Separator)
	if strings.EqualFold(first, Inbox) {
		if hasRest {
			return Inbox + Separator + rest
		}
		return Inbox
	}
	return name
}

// CheckName refuses every name that could escape a user's store or that
// some format cannot hold: empty levels (a '/' leading, trailing or
// doubled), "." and ".." (any '.': Maildir++ would read it as a
// separator), a level starting with '~' (a home directory to shells and
// mail tools), control characters and NUL, invalid UTF-8, '\', the LIST
// wildcards '%' and '*' (so no "%2e" either), and more than MaxNameLen
// octets. It is the one check of mailbox names: every path a format
// builds comes from a name that passed it, and IMAP applies it after
// decoding modified UTF-7, so no encoding smuggles a '.' or a '/' past
// it (DecodeMUTF7 also refuses encoded ASCII outright).
func CheckName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty name", ErrBadName)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w: longer than %d octets", ErrBadName, MaxNameLen)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: not UTF-8", ErrBadName)
	}
	for _, r := range name {
		switch {
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return fmt.Errorf("%w: control character", ErrBadName)
		case r == '\\':
			return fmt.Errorf("%w: '\\' is not allowed", ErrBadName)
		case r == '.':
			// Maildir++ spells the hierarchy with dots; Dovecot refuses
			// them in names for the same reason.
			return fmt.Errorf("%w: '.' is not allowed", ErrBadName)
		case r == '%' || r == '*':
			// LIST wildcards: a name holding them could never be listed
			// on its own (RFC 9051 §5.1).
			return fmt.Errorf("%w: '%c' is not allowed", ErrBadName, r)
		}
	}
	for _, level := range strings.Split(name, Separator) {
		if level == "" {
			return fmt.Errorf("%w: empty hierarchy level", ErrBadName)
		}
		if strings.TrimSpace(level) != level {
			return fmt.Errorf("%w: level %q starts or ends with space", ErrBadName, level)
		}
		if level[0] == '~' {
			return fmt.Errorf("%w: level %q starts with '~'", ErrBadName, level)
		}
	}
	return nil
}

// CheckOnDisk refuses, as ErrBadName, a name whose place on disk
// (rel, beneath the store root, as a format spells it) could not exist:
// a component longer than a file name may be (255 octets; a Maildir++
// folder is one component for all its levels, and modified UTF-7 makes
// names outside ASCII longer). "" is the root itself.
func CheckOnDisk(rel string) error {
	if rel == "" {
		return nil
	}
	if err := safefs.CheckPath(rel); err != nil {
		return fmt.Errorf("%w: too long to be a folder on disk", ErrBadName)
	}
	return nil
}

// Parent returns the name's parent and whether it has one.
func Parent(name string) (string, bool) {
	i := strings.LastIndex(name, Separator)
	if i < 0 {
		return "", false
	}
	return name[:i], true
}

// CheckRename checks both names of a Store.Rename. INBOX is never renamed
// as a folder: the store moves its messages instead (RFC 9051 §6.3.6).
func CheckRename(oldName, newName string) error {
	for _, n := range []string{oldName, newName} {
		if err := CheckName(n); err != nil {
			return err
		}
	}
	if CanonicalName(oldName) == Inbox {
		return fmt.Errorf("%w: INBOX is not renamed as a folder", ErrBadName)
	}
	return nil
}

// CheckDelete checks the name of a Store.Delete: INBOX cannot go.
func CheckDelete(name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if CanonicalName(name) == Inbox {
		return fmt.Errorf("%w: INBOX cannot be deleted", ErrBadName)
	}
	return nil
}
