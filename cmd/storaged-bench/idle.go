package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// idleParams selects the IDLE scenario: conns IMAP connections idle in
// one mailbox (RFC 2177), then rounds messages are delivered over LMTP one
// after the other; each round waits for every connection's * EXISTS.
type idleParams struct {
	imap     imapParams
	lmtpAddr string
	rcpt     string
	conns    int
	rounds   int
	pids     []int // the server's processes, for RSS; children are counted too
	wait     time.Duration
}

// runIMAPIdle gives the latency from the LMTP 250 to * EXISTS (median and
// maximum over every connection and round), and, when pids are given, the
// server's memory with all connections idle.
func runIMAPIdle(p idleParams) ([]Result, error) {
	if p.conns < 1 || p.rounds < 0 {
		return nil, errors.New("imap-idle: need -conns >= 1")
	}
	type idler struct {
		m      *imapConn
		exists chan time.Time
		done   chan error
	}
	idlers := make([]*idler, 0, p.conns)
	defer func() {
		for _, d := range idlers {
			d.m.c.Close()
		}
	}()
	for range p.conns {
		m, err := imapSession(p.imap)
		if err != nil {
			return nil, fmt.Errorf("connection %d: %w", len(idlers)+1, err)
		}
		d := &idler{m: m, exists: make(chan time.Time, p.rounds+16), done: make(chan error, 1)}
		idlers = append(idlers, d)
		if _, err := m.run("SELECT " + quote(p.imap.mailbox)); err != nil {
			return nil, err
		}
		m.tag++
		m.tb = strconv.AppendInt(append(m.tb[:0], 'b'), int64(m.tag), 10)
		m.tb = append(m.tb, ' ')
		m.w.Write(append(append([]byte(nil), m.tb...), "IDLE\r\n"...))
		if err := m.w.Flush(); err != nil {
			return nil, err
		}
		line, err := m.r.ReadSlice('\n')
		for err == nil && !bytes.HasPrefix(line, []byte("+")) {
			line, err = m.r.ReadSlice('\n')
		}
		if err != nil {
			return nil, fmt.Errorf("IDLE: %w", err)
		}
		go func() {
			for {
				line, err := d.m.r.ReadSlice('\n')
				if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
					d.done <- err
					return
				}
				if bytes.HasPrefix(line, []byte("* ")) && bytes.HasSuffix(line, []byte(" EXISTS\r\n")) {
					d.exists <- time.Now()
				}
				if bytes.HasPrefix(line, d.m.tb) {
					d.done <- nil
					return
				}
			}
		}()
	}
	var out []Result
	if len(p.pids) > 0 {
		rss, pss, procs, err := treeMemory(p.pids)
		if err != nil {
			return nil, err
		}
		// RSS counts pages shared between processes once per process;
		// PSS splits them, so both are given.
		out = append(out,
			Result{Value: float64(rss) / 1024, Unit: "MB RSS", Better: "lower", N: p.conns, PssMB: float64(pss) / 1024, Procs: procs, Suffix: "rss"},
			Result{Value: float64(pss) / 1024, Unit: "MB PSS", Better: "lower", N: p.conns, Procs: procs, Suffix: "rss"})
	}
	if p.rounds > 0 {
		l, err := dialLMTP(p.lmtpAddr, 10*time.Second)
		if err != nil {
			return nil, err
		}
		defer l.quit()
		g := newGenerator(1024, fmt.Sprint(time.Now().UnixNano()))
		var lat []time.Duration
		for r := range p.rounds {
			if err := l.deliver(g, r, p.rcpt); err != nil {
				return nil, fmt.Errorf("LMTP: %w", err)
			}
			acked := time.Now()
			timeout := time.After(p.wait)
			for i, d := range idlers {
				select {
				case t := <-d.exists:
					lat = append(lat, max(0, t.Sub(acked)))
				case err := <-d.done:
					return nil, fmt.Errorf("connection %d ended while idle: %v", i+1, err)
				case <-timeout:
					return nil, fmt.Errorf("round %d: connection %d saw no EXISTS within %s", r+1, i+1, p.wait)
				}
			}
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		out = append(out,
			Result{Value: ms(lat[len(lat)/2]), Unit: "ms", Better: "lower", N: p.conns, Ms: ms(lat[len(lat)/2]), P99Ms: ms(lat[len(lat)*99/100]), Suffix: "median"},
			Result{Value: ms(lat[len(lat)-1]), Unit: "ms", Better: "lower", N: p.conns, Suffix: "max"})
	}
	for _, d := range idlers {
		d.m.w.WriteString("DONE\r\n")
		d.m.w.Flush()
	}
	for _, d := range idlers {
		select {
		case <-d.done:
		case <-time.After(10 * time.Second):
		}
	}
	return out, nil
}

// treeMemory sums VmRSS and Pss (kB) over the processes pids and all their
// descendants, from /proc.
func treeMemory(pids []int) (rss, pss int64, procs int, err error) {
	all, err := processTree(pids)
	if err != nil {
		return 0, 0, 0, err
	}
	for _, pid := range all {
		r, ok := procField(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
		if !ok {
			continue
		}
		procs++
		rss += r
		if p, ok := procField(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:"); ok {
			pss += p
		}
	}
	if procs == 0 {
		return 0, 0, 0, fmt.Errorf("no process among %v", pids)
	}
	return rss, pss, procs, nil
}

// processTree is pids and all their descendants, from /proc.
func processTree(pids []int) ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	children := map[int][]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut after ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], pid)
	}
	seen := map[int]bool{}
	var out []int
	queue := append([]int(nil), pids...)
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		if seen[pid] {
			continue
		}
		seen[pid] = true
		out = append(out, pid)
		queue = append(queue, children[pid]...)
	}
	return out, nil
}

// procField is the kB value of the line starting with key in a /proc file.
func procField(path, key string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, err := strconv.ParseInt(f[0], 10, 64)
				return n, err == nil
			}
		}
	}
	return 0, false
}
