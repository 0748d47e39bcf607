package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"
)

// The TLS scenarios. The client decides what both servers negotiate, so
// that the two do the same work: TLS 1.3 only, X25519 only, no session
// resumption (no ticket cache: every handshake is a full one, a signature
// from the server's key each), the certificate verified against -cafile
// (both servers are given the same ECDSA P-256 certificate).
//
//	tls-handshake: n handshakes to the implicit-TLS IMAP port, up to the
//	               greeting read, first one after the other, then by
//	               conns clients at once
//	imaps-body:    imap-body over implicit TLS
//	login-rss:     conns connections LOGIN at once; the servers' summed
//	               RSS sampled while they do

// benchTLS is the client configuration of every TLS scenario.
func benchTLS(caFile, serverName string) (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:       tls.VersionTLS13,
		MaxVersion:       tls.VersionTLS13,
		CurvePreferences: []tls.CurveID{tls.X25519},
		ServerName:       serverName,
		// No ClientSessionCache: no ticket is kept, so none is offered
		// and each handshake is a full one.
	}
	if caFile == "" {
		return nil, errors.New("-cafile is required: the servers' certificate, verified as a client would")
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	cfg.RootCAs = x509.NewCertPool()
	if !cfg.RootCAs.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no certificate", caFile)
	}
	return cfg, nil
}

// handshake is one full handshake to the greeting, the connection closed
// after it.
func handshake(addr string, cfg *tls.Config) error {
	m, err := dialIMAP(addr, cfg, 10*time.Second)
	if err != nil {
		return err
	}
	st := m.c.(*tls.Conn).ConnectionState()
	m.c.Close()
	if st.DidResume || st.Version != tls.VersionTLS13 || st.CurveID != tls.X25519 {
		return fmt.Errorf("negotiated %s, curve %v, resumed %v: want a full TLS 1.3 X25519 handshake",
			tls.VersionName(st.Version), st.CurveID, st.DidResume)
	}
	return nil
}

// runTLSHandshake gives handshakes per second, sequential and with conns
// clients at once, n handshakes each.
func runTLSHandshake(addr string, cfg *tls.Config, n, conns int) ([]Result, error) {
	if n < 1 || conns < 1 {
		return nil, errors.New("tls-handshake: need -n >= 1 and -conns >= 1")
	}
	lat := make([]time.Duration, 0, n)
	start := time.Now()
	for range n {
		t0 := time.Now()
		if err := handshake(addr, cfg); err != nil {
			return nil, fmt.Errorf("sequential handshake %d: %w", len(lat)+1, err)
		}
		lat = append(lat, time.Since(t0))
	}
	seq := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })

	var next int
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	start = time.Now()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next >= n || firstErr != nil {
					mu.Unlock()
					return
				}
				next++
				mu.Unlock()
				if err := handshake(addr, cfg); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	conc := time.Since(start)
	if firstErr != nil {
		return nil, fmt.Errorf("concurrent handshakes: %w", firstErr)
	}
	return []Result{
		{Value: float64(n) / seq.Seconds(), Unit: "handshakes/s", Better: "higher", N: n, Ms: ms(seq),
			P50Ms: ms(lat[len(lat)/2]), P99Ms: ms(lat[len(lat)*99/100]), Suffix: "sequential"},
		{Value: float64(n) / conc.Seconds(), Unit: "handshakes/s", Better: "higher", N: n, Ms: ms(conc), Suffix: "concurrent"},
	}, nil
}

// runLoginRSS opens conns connections, then has them all LOGIN at once
// while the servers' processes' RSS is sampled (VmRSS summed over the
// tree, every 20 ms): the peak of those samples and the time until the
// last LOGIN's OK. The connections are all open before the first LOGIN,
// so what is measured is the logins, not the connection setup.
//
// Connection i comes from a loopback address of its own (127.1.x.y):
// storaged's throttle counts logins in flight against the address's and
// the (user, address) pair's failure limits (20 and 10 by default), so
// that parallel connections get no more guesses than one; 500 at once
// from 127.0.0.1 would be refused past those. With distinct, connection
// i logs in as user<first+i>, so that no verification cache (storaged
// keeps one per user and password) spares a hash: every login costs
// the stored hash's full verification, on both servers.
func runLoginRSS(p imapParams, conns int, pids []int, distinct bool) ([]Result, error) {
	if conns < 1 || len(pids) == 0 {
		return nil, errors.New("login-rss: need -conns >= 1 and -pids")
	}
	ms0 := make([]*imapConn, 0, conns)
	defer func() {
		for _, m := range ms0 {
			m.c.Close()
		}
	}()
	for i := range conns {
		d := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 1, byte(i/250), byte(1+i%250))}}
		m, err := dialIMAPWith(d, p.addr, p.tls)
		if err != nil {
			return nil, fmt.Errorf("connection %d: %w", len(ms0)+1, err)
		}
		ms0 = append(ms0, m)
	}
	before, _, err := treeField(pids, "VmRSS:")
	if err != nil {
		return nil, err
	}
	stop := make(chan struct{})
	sampled := make(chan [2]int64) // peak kB, samples
	go func() {
		var peak, samples int64
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if v, _, err := treeField(pids, "VmRSS:"); err == nil {
				peak = max(peak, v)
				samples++
			}
			select {
			case <-stop:
				sampled <- [2]int64{peak, samples}
				return
			case <-tick.C:
			}
		}
	}()
	errs := make(chan error, conns)
	gate := make(chan struct{})
	for i, m := range ms0 {
		user := p.user
		if distinct {
			user += strconv.Itoa(p.first + i)
		}
		go func() {
			<-gate
			m.c.SetDeadline(time.Now().Add(5 * time.Minute))
			errs <- m.login(user, p.password)
		}()
	}
	start := time.Now()
	close(gate)
	// A login that fails (a server timing out its own queue of
	// verifications) is counted and reported, not fatal: it is part of
	// what the server does under this load.
	var failed []error
	for range conns {
		if err := <-errs; err != nil {
			failed = append(failed, err)
		}
	}
	el := time.Since(start)
	close(stop)
	s := <-sampled
	if len(failed) == conns {
		return nil, fmt.Errorf("parallel LOGIN: every one failed, the first: %w", failed[0])
	}
	for _, m := range ms0 {
		m.c.SetDeadline(time.Now().Add(10 * time.Second))
		m.w.WriteString("z LOGOUT\r\n")
		m.w.Flush()
	}
	for _, m := range ms0 {
		// Read to the server's close: the next run starts on a quiet server.
		for {
			line, err := m.r.ReadSlice('\n')
			if err != nil || bytes.HasPrefix(line, []byte("z ")) {
				break
			}
		}
	}
	out := []Result{
		{Value: float64(s[0]) / 1024, Unit: "MB peak RSS", Better: "lower", N: conns, Ms: ms(el),
			BeforeMB: float64(before) / 1024, Samples: int(s[1]), Suffix: "rss"},
		{Value: ms(el), Unit: "ms", Better: "lower", N: conns, Ms: ms(el), Hits: conns - len(failed), Suffix: "time"},
	}
	if len(failed) > 0 {
		fmt.Fprintf(os.Stderr, "storaged-bench: login-rss: %d of %d logins failed, the first: %v\n", len(failed), conns, failed[0])
		out = append(out, Result{Value: float64(len(failed)), Unit: "logins", Better: "lower", N: conns, Suffix: "failed"})
	}
	return out, nil
}
