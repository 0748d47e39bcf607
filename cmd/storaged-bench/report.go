package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
)

// reportCmd reads JSON result lines and prints one Markdown table: per
// scenario, each server's median (min–max) and, for every server after the
// base, how many times faster the base is (>1: the base is faster, for
// rates and for times alike).
func reportCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	servers := fs.String("servers", "", "comma-separated server labels, in column order (default: order of appearance)")
	base := fs.String("base", "", "the server the ratios compare against (default: the first)")
	if err := fs.Parse(args); err != nil {
		return 64
	}
	var all []Result
	for _, path := range fs.Args() {
		rs, err := readResults(path)
		if err != nil {
			fmt.Fprintln(stderr, "storaged-bench report:", err)
			return 1
		}
		all = append(all, rs...)
	}
	writeReport(stdout, all, splitList(*servers), *base)
	return 0
}

func readResults(path string) ([]Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Result
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var r Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

type summary struct {
	min, med, max float64
	n             int
}

func summarize(v []float64) summary {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return summary{min: s[0], med: med, max: s[len(s)-1], n: len(s)}
}

func writeReport(w io.Writer, all []Result, servers []string, base string) {
	var scenarios []string
	vals := map[string]map[string][]float64{}
	better := map[string]string{}
	seen := map[string]bool{}
	for _, r := range all {
		if vals[r.Scenario] == nil {
			vals[r.Scenario] = map[string][]float64{}
			scenarios = append(scenarios, r.Scenario)
			better[r.Scenario] = r.Better
		}
		vals[r.Scenario][r.Server] = append(vals[r.Scenario][r.Server], r.Value)
		if !seen[r.Server] {
			seen[r.Server] = true
			if len(servers) == 0 || !contains(servers, r.Server) {
				servers = append(servers, r.Server)
			}
		}
	}
	if base == "" && len(servers) > 0 {
		base = servers[0]
	}
	hdr := []string{"scenario", base + " median (min–max)"}
	for _, s := range servers {
		if s != base {
			hdr = append(hdr, s+" median (min–max)", base+" ÷ "+s)
		}
	}
	fmt.Fprintln(w, "| "+strings.Join(hdr, " | ")+" |")
	sep := make([]string, len(hdr))
	for i := range sep {
		sep[i] = "---"
		if i > 0 {
			sep[i] = "---:"
		}
	}
	fmt.Fprintln(w, "|"+strings.Join(sep, "|")+"|")
	for _, sc := range scenarios {
		cell := func(s string) (string, *summary) {
			v := vals[sc][s]
			if len(v) == 0 {
				return "–", nil
			}
			m := summarize(v)
			return fmt.Sprintf("%s (%s–%s)", num(m.med), num(m.min), num(m.max)), &m
		}
		bc, bs := cell(base)
		row := []string{sc, bc}
		for _, s := range servers {
			if s == base {
				continue
			}
			c, ss := cell(s)
			ratio := "–"
			if bs != nil && ss != nil && bs.med > 0 && ss.med > 0 {
				r := bs.med / ss.med
				if better[sc] == "lower" {
					r = ss.med / bs.med
				}
				ratio = fmt.Sprintf("%.2f×", r)
			}
			row = append(row, c, ratio)
		}
		fmt.Fprintln(w, "| "+strings.Join(row, " | ")+" |")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// num prints three significant digits at most, and no exponent.
func num(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
