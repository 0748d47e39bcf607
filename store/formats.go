package store

import (
	"fmt"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/maildir"
)

// formatFor picks the format of user's store at root: the one on disk
// when there is one, which must be the one configured.
func (a *Accounts) formatFor(user, root string) (folder.Format, error) {
	want := "maildir"
	if a.opts.UserFormat != nil {
		w, err := a.opts.UserFormat(user)
		if err != nil {
			return folder.Format{}, err
		}
		if w != "" {
			want = w
		}
	}
	formats := a.opts.Formats
	if len(formats) == 0 {
		formats = []folder.Format{maildir.Format}
	}
	var conf *folder.Format
	for i := range formats {
		if formats[i].Name == want {
			conf = &formats[i]
		}
	}
	if conf == nil {
		return folder.Format{}, fmt.Errorf("store: user %s: unknown storage format %q", user, want)
	}
	for _, f := range formats {
		if f.Name != conf.Name && f.Owns(root) && !conf.Owns(root) {
			return folder.Format{}, fmt.Errorf("store: user %s: the store at %s is %s, but the configuration says %s (convert it with import, or set the user's format back)", user, root, f.Name, conf.Name)
		}
	}
	return *conf, nil
}
