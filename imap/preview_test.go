package imap

import (
	"strings"
	"testing"

	"github.com/storaged/storaged/folder"
)

func TestPreviewText(t *testing.T) {
	for _, c := range []struct{ msg, want string }{
		{"Subject: x\r\n\r\nHello  there,\r\n\r\nhow\tare you?\r\n", "Hello there, how are you?"},
		{"Content-Type: text/html\r\n\r\n<html><head><style>p{}</style></head><body><p>Hi &amp; <b>bye</b></p></body></html>\r\n", "Hi & bye"},
		{"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9 au lait\r\n--b--\r\n", "Café au lait"},
		{"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: image/png\r\n\r\nPNG\r\n--b--\r\n", ""},
		{"Subject: x\r\n\r\n" + strings.Repeat("word ", 100) + "\r\n", strings.TrimSpace(strings.Repeat("word ", 52))[:256]},
		{"Subject: x\r\n\r\nbell\x07 ok\r\n", "bell ok"},
	} {
		got := previewText([]byte(c.msg))
		if got != c.want {
			t.Errorf("previewText(%q) = %q, want %q", c.msg, got, c.want)
		}
		if n := len([]rune(got)); n > 256 {
			t.Errorf("preview of %d characters", n)
		}
	}
}

// RFC 8970: FETCH PREVIEW and PREVIEW (LAZY), without \Seen.
func TestFetchPreview(t *testing.T) {
	e := newEnv(t)
	fetchTestAppend(t, e, "Subject: p\r\n\r\nLunch at noon?\r\nBring \"snacks\".\r\n", folder.Flags{}, fetchDate)
	fetchTestAppend(t, e, "Subject: p\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nCafé\r\n", folder.Flags{}, fetchDate)
	s := e.dial(t)
	s.login()
	s.selectInbox("s0")
	s.do("a1 FETCH 1 (PREVIEW)", `* 1 FETCH (PREVIEW "Lunch at noon? Bring \"snacks\".")`, "a1 OK FETCH completed")
	s.do("a2 UID FETCH 1 (FLAGS PREVIEW (LAZY))", `* 1 FETCH (UID 1 FLAGS (\Recent) PREVIEW "Lunch at noon? Bring \"snacks\".")`, "a2 OK FETCH completed")
	s.do("a3 FETCH 2 PREVIEW", "* 2 FETCH (PREVIEW {5}", "Café)", "a3 OK FETCH completed")
	s.do("a4 ENABLE UTF8=ACCEPT", "a4 BAD ENABLE is not valid in this state")
}
