package server_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/storaged/storaged/config"
)

// BenchmarkLMTPDelivery: 4 KB messages to 10 users over 4 connections,
// durable (every 250 is fsynced and indexed). Reports messages/s.
func BenchmarkLMTPDelivery(b *testing.B) {
	for _, rcptsPerMsg := range []int{1, 10} {
		b.Run(fmt.Sprintf("rcpts=%d", rcptsPerMsg), func(b *testing.B) {
			benchDelivery(b, rcptsPerMsg, "maildir")
		})
	}
}

// BenchmarkFormats puts the storage formats side by side: LMTP delivery
// as above, SELECT plus UID FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE) of a
// 10,000-message INBOX, and every body of it.
func BenchmarkFormats(b *testing.B) {
	for _, f := range storeFormats {
		b.Run("delivery/"+f, func(b *testing.B) { benchDelivery(b, 1, f) })
	}
	for _, f := range storeFormats {
		b.Run("select-fetch-10k/"+f, func(b *testing.B) { benchSelectFetchFormat(b, 10000, f) })
	}
	for _, f := range storeFormats {
		b.Run("fetch-bodies-10k/"+f, func(b *testing.B) { benchFetchBodies(b, f) })
	}
}

// BenchmarkQuota is delivery as in BenchmarkLMTPDelivery with every user
// under a limit (and warnings) against none: what the check and the
// reservation cost. Run with -count to interleave the two.
func BenchmarkQuota(b *testing.B) {
	b.Run("off", func(b *testing.B) { benchDeliveryWith(b, 1, withFormat("maildir")) })
	b.Run("on", func(b *testing.B) {
		benchDeliveryWith(b, 1, withFormat("maildir", func(c *config.Config) {
			c.Quota.Storage, c.Quota.Messages, c.Quota.Warnings = 1<<40, 1<<30, []int{80, 95}
			c.Quota.Rules = []string{"Trash:storage=+100M"}
		}))
	})
}

func benchDelivery(b *testing.B, rcptsPerMsg int, format string) {
	benchDeliveryWith(b, rcptsPerMsg, withFormat(format))
}

func benchDeliveryWith(b *testing.B, rcptsPerMsg int, mutate func(*config.Config)) {
	dir := b.TempDir()
	users := make([]string, 10)
	for i := range users {
		users[i] = fmt.Sprintf("user%d", i)
	}
	ts := startServer(b, dir, mutate, users...)
	body := strings.Repeat("This is a line of a four kilobyte test message body.....\r\n", 68)
	const conns = 4
	var next atomic.Int64
	var wg sync.WaitGroup
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	start := time.Now()
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			cl := ts.lmtpClient()
			defer cl.Close()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				var rcpts []string
				for r := 0; r < rcptsPerMsg; r++ {
					rcpts = append(rcpts, users[(int(i)+r)%len(users)]+"@example.org")
				}
				msg := fmt.Sprintf("From: a@example.net\r\nSubject: bench %d\r\nMessage-ID: <%d@bench>\r\n\r\n%s", i, i, body)
				res, err := send(cl, "a@example.net", rcpts, []byte(msg))
				if err != nil {
					b.Error(err)
					return
				}
				for r, s := range res {
					if s != nil {
						b.Errorf("%s: %v", r, s)
						return
					}
				}
			}
		}(c)
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
	b.ReportMetric(float64(b.N*rcptsPerMsg)/el.Seconds(), "copies/s")
}

// BenchmarkFsync is the disk's ceiling: 4 KB write + fsync, serially.
func BenchmarkFsync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "f"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		f.Write(buf)
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "fsyncs/s")
}
