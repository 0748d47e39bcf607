package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rssKB reads a process's resident set from /proc.
func rssKB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return n
}

// BenchmarkIdleConnections: the server's RSS per IMAP connection idling
// in IDLE on INBOX (1,000 connections), measured on the server process.
func BenchmarkIdleConnections(b *testing.B) {
	const conns = 1000
	dir := b.TempDir()
	imapAddr := freeAddr(b)
	cfg := filepath.Join(dir, "c.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("data_dir = %q\n[lmtp]\nlisten = [\"unix:%s\"]\n[imap]\nlisten = [%q]\n[pop3]\nlisten = []\n", dir, filepath.Join(dir, "lmtp.sock"), imapAddr)), 0o600)
	add := exec.Command(binary(nil), "-config", cfg, "user", "add", "-password-stdin", "ann")
	add.Stdin = strings.NewReader("pw\n")
	if out, err := add.CombinedOutput(); err != nil {
		b.Fatalf("%v %s", err, out)
	}
	e := &env{dir: dir, cfg: cfg, sock: filepath.Join(dir, "lmtp.sock")}
	p := e.startB(b)
	defer p.term(nil)
	idle := func() net.Conn {
		c, err := net.Dial("tcp", imapAddr)
		if err != nil {
			b.Fatal(err)
		}
		r := bufio.NewReader(c)
		r.ReadString('\n')
		for _, cmd := range []string{"a LOGIN ann pw", "b SELECT INBOX", "c IDLE"} {
			fmt.Fprintf(c, "%s\r\n", cmd)
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					b.Fatal(err)
				}
				if strings.HasPrefix(l, cmd[:2]) || strings.HasPrefix(l, "+") {
					break
				}
			}
		}
		return c
	}
	first := idle() // warm: account open, index mapped
	defer first.Close()
	before := rssKB(p.cmd.Process.Pid)
	held := make([]net.Conn, 0, conns)
	b.ResetTimer()
	for i := 0; i < conns; i++ {
		held = append(held, idle())
	}
	b.StopTimer()
	time.Sleep(500 * time.Millisecond) // let the runtime settle its heap
	after := rssKB(p.cmd.Process.Pid)
	for _, c := range held {
		c.Close()
	}
	b.ReportMetric(float64(after-before)/conns, "KB-RSS/conn")
	b.ReportMetric(float64(after), "KB-RSS-total")
}

func freeAddr(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
