package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// maildirCmd writes the same generated messages a "run -scenario lmtp"
// would deliver straight into a Maildir's cur/, as a mail admin copying
// a store in would. It exists for the 100,000-message read benchmarks:
// filling them over LMTP takes minutes on storaged and most of an hour
// on Dovecot (whose Maildir delivery slows as its index grows), and what
// is measured there is reading, not delivery. Both servers then index
// the files on their first SELECT, which the harness does as its
// untimed warm-up.
func maildirCmd(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("maildir", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "the Maildir (cur/, new/ and tmp/ are made in it)")
	n := fs.Int("n", 1000, "messages to write")
	size := fs.Int("size", 4096, "message size in octets")
	seed := fs.String("seed", "fill", "tag in Message-ID")
	to := fs.String("to", "bench@localhost", "the To address")
	uid := fs.Int("uid", -1, "owner of what is written (-1: this process's)")
	gid := fs.Int("gid", -1, "group of what is written")
	if err := fs.Parse(args); err != nil {
		return 64
	}
	if *dir == "" {
		fmt.Fprintln(stderr, "storaged-bench maildir: -dir is required")
		return 64
	}
	if err := writeMaildir(*dir, *n, *size, *seed, *to, *uid, *gid); err != nil {
		fmt.Fprintln(stderr, "storaged-bench maildir:", err)
		return 1
	}
	return 0
}

func writeMaildir(dir string, n, size int, seed, to string, uid, gid int) error {
	for _, sub := range []string{"", "cur", "new", "tmp"} {
		p := filepath.Join(dir, sub)
		if err := os.MkdirAll(p, 0o700); err != nil {
			return err
		}
		if err := chown(p, uid, gid); err != nil {
			return err
		}
	}
	g := newGenerator(size, seed)
	host, _ := os.Hostname()
	var wire []byte
	for i := range n {
		wire = g.appendMessage(wire[:0], i, to)
		// The generator writes DATA form; a Maildir file is the message
		// with LF line ends and no dot-stuffing (none of its lines
		// starts with a dot: see filler).
		msg := bytes.ReplaceAll(bytes.TrimSuffix(wire, []byte(".\r\n")), []byte("\r\n"), []byte("\n"))
		date := benchEpoch.Add(time.Duration(i) * time.Minute)
		name := strconv.FormatInt(date.Unix(), 10) + ".M" + strconv.Itoa(i) + "P" + strconv.Itoa(os.Getpid()) + "." + host + ":2,"
		p := filepath.Join(dir, "cur", name)
		if err := os.WriteFile(p, msg, 0o600); err != nil {
			return err
		}
		if err := chown(p, uid, gid); err != nil {
			return err
		}
		// The arrival time, as INTERNALDATE: the file's mtime.
		if err := os.Chtimes(p, date, date); err != nil {
			return err
		}
	}
	return nil
}

func chown(p string, uid, gid int) error {
	if uid < 0 && gid < 0 {
		return nil
	}
	return os.Lchown(p, uid, gid)
}
