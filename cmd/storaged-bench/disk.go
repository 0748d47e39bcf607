package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// diskCmd measures the file system's ceiling for what a delivery has to
// make durable (issue 14: "measure the disk's ceiling in the same run"):
// files created, written and fsynced, alone and then also renamed into a
// second directory that is fsynced after the rename, as a Maildir
// delivery does, by 1, 4 and 20 writers at once. Its figures bound what
// any server on the same file system can acknowledge per second.
//
//	storaged-bench disk -dir D [-n N -size S -conns 1,4,20 -run R]
func diskCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("disk", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "a directory on the file system to measure (made and emptied here)")
	n := fs.Int("n", 2000, "files per measurement")
	size := fs.Int("size", 4096, "octets per file")
	connsList := fs.String("conns", "1,4,20", "comma-separated writer counts")
	runN := fs.Int("run", 0, "run number, copied into each result")
	if err := fs.Parse(args); err != nil {
		return 64
	}
	if *dir == "" || *n < 1 || *size < 0 {
		fmt.Fprintln(stderr, "storaged-bench disk: -dir is required, -n at least 1")
		return 64
	}
	var conns []int
	for _, f := range strings.Split(*connsList, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c < 1 {
			fmt.Fprintf(stderr, "storaged-bench disk: -conns: %q\n", f)
			return 64
		}
		conns = append(conns, c)
	}
	enc := json.NewEncoder(stdout)
	for _, rename := range []bool{false, true} {
		for _, c := range conns {
			ops, err := diskRun(*dir, *n, *size, c, rename)
			if err != nil {
				fmt.Fprintf(stderr, "storaged-bench disk: %v\n", err)
				return 1
			}
			what := "create + write + fsync"
			if rename {
				what = "create + write + fsync + rename + dir fsync"
			}
			enc.Encode(Result{Server: "disk", Scenario: fmt.Sprintf("disk: %s of %d octets, %d-way (files/s)", what, *size, c),
				Run: *runN, Value: ops, Unit: "files/s", Better: "higher", N: *n})
		}
	}
	return 0
}

// diskRun makes n files of size octets under dir/tmp with conns writers
// and returns files per second; rename moves each into dir/new and
// fsyncs dir/new after (each writer its own directory fsync, as each
// delivery alone would).
func diskRun(dir string, n, size, conns int, rename bool) (float64, error) {
	base, err := os.MkdirTemp(dir, "disk-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(base)
	tmp, dst := filepath.Join(base, "tmp"), filepath.Join(base, "new")
	for _, d := range []string{tmp, dst} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return 0, err
		}
	}
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = 'a' + byte(i%26)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, conns)
	start := time.Now()
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var d *os.File
			if rename {
				if d, errs[w] = os.Open(dst); errs[w] != nil {
					return
				}
				defer d.Close()
			}
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				name := strconv.FormatInt(i, 10)
				if errs[w] = diskFile(filepath.Join(tmp, name), buf); errs[w] != nil {
					return
				}
				if rename {
					if errs[w] = os.Rename(filepath.Join(tmp, name), filepath.Join(dst, name)); errs[w] != nil {
						return
					}
					if errs[w] = d.Sync(); errs[w] != nil {
						return
					}
				}
			}
		}(w)
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return float64(n) / secs, nil
}

func diskFile(path string, buf []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
