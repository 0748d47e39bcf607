package store

import (
	"fmt"
	"os"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/maildir"
)

// Format is one on-disk storage format the store can keep an account in.
type Format struct {
	Name string
	// Open opens the user's store at root, creating it when it is new.
	Open func(root string) (folder.Store, error)
	// Owns reports whether root already holds a store of this format, so
	// that an account is never opened in a format other than its own.
	Owns func(root string) bool
}

// MaildirFormat is Maildir++, the default.
var MaildirFormat = Format{
	Name: "maildir",
	Open: func(root string) (folder.Store, error) { return maildir.Open(root) },
	Owns: func(root string) bool { return isDir(root + "/cur") },
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// formatFor picks the format of user's store at root: the one on disk
// when there is one, which must be the one configured.
func (a *Accounts) formatFor(user, root string) (Format, error) {
	want := "maildir"
	if a.opts.UserFormat != nil {
		w, err := a.opts.UserFormat(user)
		if err != nil {
			return Format{}, err
		}
		if w != "" {
			want = w
		}
	}
	formats := a.opts.Formats
	if len(formats) == 0 {
		formats = []Format{MaildirFormat}
	}
	var conf *Format
	for i := range formats {
		if formats[i].Name == want {
			conf = &formats[i]
		}
	}
	if conf == nil {
		return Format{}, fmt.Errorf("store: user %s: unknown storage format %q", user, want)
	}
	for _, f := range formats {
		if f.Name != conf.Name && f.Owns(root) && !conf.Owns(root) {
			return Format{}, fmt.Errorf("store: user %s: the store at %s is %s, but the configuration says %s (convert it with import, or set the user's format back)", user, root, f.Name, conf.Name)
		}
	}
	return *conf, nil
}
