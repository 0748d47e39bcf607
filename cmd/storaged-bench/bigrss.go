package main

import (
	"fmt"
	"time"
)

// The lmtp-big scenario: conns connections each deliver one message of
// size octets, all at once, to a server started just before; then the
// server's peak resident memory (VmHWM, the high-water mark since each
// process started, summed over its process tree) says what those
// deliveries held at their worst. A server that reads each DATA into
// memory holds conns × size; one that spools large messages to a file
// holds buffers. Only a fresh server gives a figure for this load alone:
// the mark never goes down.

// runLMTPBig delivers one message per connection at once and measures
// the peak RSS of pids and their children.
func runLMTPBig(p lmtpParams, pids []int) ([]Result, error) {
	if len(pids) == 0 {
		return nil, fmt.Errorf("lmtp-big: -pids is required (the server's processes)")
	}
	p.n = p.conns
	r, err := runLMTP(p)
	if err != nil {
		return nil, err
	}
	// VmHWM is per process; the kernel updates it at once, but a
	// delivery's last pages may be touched after its 250 went out.
	time.Sleep(200 * time.Millisecond)
	hwm, procs, err := treeField(pids, "VmHWM:")
	if err != nil {
		return nil, err
	}
	return []Result{
		{Value: float64(hwm) / 1024, Unit: "MB peak RSS", Better: "lower", N: p.conns, Bytes: r.Bytes, Ms: r.Ms, Procs: procs},
	}, nil
}

// treeField sums a /proc/PID/status field (kB) over pids and their
// descendants.
func treeField(pids []int, key string) (sum int64, procs int, err error) {
	all, err := processTree(pids)
	if err != nil {
		return 0, 0, err
	}
	for _, pid := range all {
		if v, ok := procField(fmt.Sprintf("/proc/%d/status", pid), key); ok {
			sum += v
			procs++
		}
	}
	if procs == 0 {
		return 0, 0, fmt.Errorf("no process among %v", pids)
	}
	return sum, procs, nil
}
