package server_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// twentyRules is a typical user filter: nineteen rules that do not match
// the benchmark's message (lists, senders, sizes, bodies) and one that
// sets a flag, so every message is still one append into INBOX and the
// difference to "none" is the cost of Sieve alone.
func twentyRules() string {
	var b strings.Builder
	b.WriteString(`require ["fileinto","mailbox","imap4flags","envelope","body","variables","regex"];` + "\n")
	for i := 0; i < 6; i++ {
		fmt.Fprintf(&b, "if header :contains \"list-id\" \"list%d.example.com\" { fileinto :create \"Lists/%d\"; stop; }\n", i, i)
	}
	for i := 0; i < 5; i++ {
		fmt.Fprintf(&b, "if address :domain :is \"from\" \"spam%d.example\" { discard; stop; }\n", i)
	}
	for i := 0; i < 4; i++ {
		fmt.Fprintf(&b, "if envelope :localpart :is \"from\" \"bounce%d\" { fileinto :create \"Bounces\"; stop; }\n", i)
	}
	b.WriteString("if size :over 5M { fileinto :create \"Big\"; stop; }\n")
	b.WriteString("if header :regex \"subject\" \"^\\\\[ticket #[0-9]+\\\\]\" { fileinto :create \"Tickets\"; stop; }\n")
	b.WriteString("if body :contains \"unsubscribe now\" { fileinto :create \"Promo\"; stop; }\n")
	b.WriteString("if header :matches \"subject\" \"*invoice*\" { set \"x\" \"${1}\"; fileinto :create \"Invoices\"; stop; }\n")
	b.WriteString("if header :contains \"subject\" \"bench\" { addflag \"$bench\"; }\n")
	return b.String()
}

// BenchmarkSieveLMTP is LMTP delivery with a 20-rule script active for
// every user against no script; it reports messages per second and the
// compile cache's hit rate.
func BenchmarkSieveLMTP(b *testing.B) {
	for _, mode := range []string{"none", "20rules"} {
		b.Run(mode, func(b *testing.B) {
			const nUsers, workers = 8, 4
			var users []string
			for i := 0; i < nUsers; i++ {
				users = append(users, fmt.Sprintf("b%d", i))
			}
			ts := startServerB(b, b.TempDir(), users)
			if mode == "20rules" {
				src := []byte(twentyRules())
				for _, u := range users {
					if err := ts.Sieve.Put(u, "rules", src); err != nil {
						b.Fatal(err)
					}
					if err := ts.Sieve.SetActive(u, "rules"); err != nil {
						b.Fatal(err)
					}
				}
			}
			msg := []byte("From: Some One <someone@example.net>\r\nTo: b0@example.org\r\nSubject: bench message\r\n" +
				"Message-ID: <bench@example.net>\r\n\r\n" + strings.Repeat("A line of body text for the benchmark.\r\n", 50))
			var next int64
			var mu sync.Mutex
			take := func() (int, bool) {
				mu.Lock()
				defer mu.Unlock()
				if next >= int64(b.N) {
					return 0, false
				}
				next++
				return int(next), true
			}
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := ts.lmtpClient()
					defer c.Close()
					for {
						n, ok := take()
						if !ok {
							return
						}
						rcpt := users[n%nUsers] + "@example.org"
						res, err := send(c, "sender@example.net", []string{rcpt}, msg)
						if err != nil || res[rcpt] != nil {
							b.Errorf("deliver: %v %v", res, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			el := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
			if mode == "20rules" {
				hits, misses := ts.Sieve.Stats()
				if hits+misses > 0 {
					b.ReportMetric(100*float64(hits)/float64(hits+misses), "cache-hit-%")
				}
			}
		})
	}
}
