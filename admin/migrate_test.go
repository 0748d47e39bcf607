package admin

import (
	"reflect"
	"testing"
)

// The paths of import and export are the admin's, made absolute before
// they travel to the server; USER, flag values and URLs stay as given.
func TestAbsPaths(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"import", "-into", "Old", "bob", "mbox", "/abs/x", "imap://h/"}, []string{"import", "-into", "Old", "bob", "/home/a/mbox", "/abs/x", "imap://h/"}},
		{[]string{"export", "--format", "mbox", "bob", "out"}, []string{"export", "--format", "mbox", "bob", "/home/a/out"}},
		{[]string{"import", "bob", "--dry-run", "Maildir"}, []string{"import", "bob", "--dry-run", "/home/a/Maildir"}},
		{[]string{"search", "bob", "INBOX", "ALL"}, []string{"search", "bob", "INBOX", "ALL"}},
	} {
		if got := AbsPaths(tc.in, "/home/a"); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v: %v, want %v", tc.in, got, tc.want)
		}
	}
}
