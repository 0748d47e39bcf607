package admin

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/storaged/storaged/migrate"
)

// Progress of a long verb (import, export) travels as records, not as
// text: the verb may run in the server, which cannot know whether the
// admin watches a terminal. The side that prints (Renderer, in the CLI's
// process) draws a bar on a terminal and writes a plain line every few
// seconds otherwise. A small renderer of our own rather than a library:
// it must draw from records that arrive over the socket, interleave with
// the verb's other output on the same stream, and add no dependency.
//
// Invariants:
//   - The verb sends at most one record per progressEvery, and always a
//     last one (Done), so the socket carries a few records a second
//     whatever the message rate.
//   - Output the verb writes while a bar is drawn clears the bar's line
//     first: no message is ever printed into the middle of a bar.

// Progress is one record.
type Progress struct {
	Verb       string `json:"verb"`
	Added      int64  `json:"added"`
	Duplicates int64  `json:"duplicates,omitempty"`
	Skipped    int64  `json:"skipped,omitempty"`
	// Read is the source's bytes yielded so far; Expect* the source's
	// estimates of the whole, 0 when unknown.
	Read           int64 `json:"read"`
	ExpectMessages int64 `json:"expect_messages,omitempty"`
	ExpectBytes    int64 `json:"expect_bytes,omitempty"`
	ElapsedMS      int64 `json:"elapsed_ms"`
	Done           bool  `json:"done,omitempty"`
}

// ProgressWriter takes progress records: a Renderer, or the socket's
// standard-error stream, which forwards them to the client.
type ProgressWriter interface {
	WriteProgress(Progress) error
}

// progressEvery bounds how often a verb emits a record.
const progressEvery = 100 * time.Millisecond

// reporter turns migrate's per-message totals into records.
type reporter struct {
	verb string
	pw   ProgressWriter
	last time.Time
	cur  Progress
}

// progressTo reports to o.stderr when it takes records; otherwise (a
// plain writer: tests, old callers) a Renderer without a terminal does.
func (o *out) progressTo(verb string) *reporter {
	pw, ok := o.stderr.(ProgressWriter)
	if !ok {
		pw = NewRenderer(o.stderr, false)
	}
	return &reporter{verb: verb, pw: pw}
}

func (r *reporter) update(t migrate.Totals) {
	read := t.Read
	if read == 0 {
		read = t.Bytes // export counts what it wrote
	}
	r.cur = Progress{Verb: r.verb, Added: t.Messages, Duplicates: t.Duplicates, Skipped: t.Skipped, Read: read,
		ExpectMessages: t.ExpectMessages, ExpectBytes: t.ExpectBytes, ElapsedMS: t.Elapsed.Milliseconds()}
	if now := time.Now(); now.Sub(r.last) >= progressEvery {
		r.last = now
		r.pw.WriteProgress(r.cur)
	}
}

// finish sends the last record; the renderer ends its bar's line.
func (r *reporter) finish() {
	r.cur.Verb, r.cur.Done = r.verb, true
	r.pw.WriteProgress(r.cur)
}

// IsTerminal tells whether w is a terminal (a bar can be drawn there).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// plainEvery is how often a Renderer without a terminal writes a line.
const plainEvery = 5 * time.Second

// Renderer prints progress records to w: a bar redrawn in place on a
// terminal, else a plain line at the first record, every plainEvery and
// at the end. It passes other output through (Write), so it stands in
// for the stream it draws on.
type Renderer struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	drawn bool // a bar is on the current line
	last  time.Time
	first bool
	cur   Progress
}

// NewRenderer renders to w, as a bar when tty.
func NewRenderer(w io.Writer, tty bool) *Renderer {
	return &Renderer{w: w, tty: tty, first: true}
}

// Write implements io.Writer: a bar on the line is cleared first and
// drawn again below the text.
func (r *Renderer) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.drawn {
		io.WriteString(r.w, "\r\x1b[K")
	}
	n, err := r.w.Write(p)
	if r.drawn {
		r.draw()
	}
	return n, err
}

// WriteProgress implements ProgressWriter.
func (r *Renderer) WriteProgress(p Progress) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cur = p
	if r.tty {
		r.draw()
		if p.Done {
			io.WriteString(r.w, "\n")
			r.drawn = false
		}
		return nil
	}
	if now := time.Now(); r.first || p.Done || now.Sub(r.last) >= plainEvery {
		r.first, r.last = false, now
		_, err := fmt.Fprintln(r.w, plainLine(p))
		return err
	}
	return nil
}

func (r *Renderer) draw() {
	io.WriteString(r.w, "\r"+barLine(r.cur, termWidth(r.w))+"\x1b[K")
	r.drawn = !r.cur.Done
}

func termWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 20 {
			return int(ws.Col)
		}
	}
	return 80
}

// fraction is how far the verb is, by bytes when the source said how
// many, else by messages; ok is false when it said neither.
func fraction(p Progress) (f float64, ok bool) {
	switch {
	case p.Done:
		return 1, true
	case p.ExpectBytes > 0:
		f = float64(p.Read) / float64(p.ExpectBytes)
	case p.ExpectMessages > 0:
		f = float64(p.processed()) / float64(p.ExpectMessages)
	default:
		return 0, false
	}
	// An estimate is an estimate: the bar never claims the end early.
	return min(f, 0.99), true
}

func (p Progress) processed() int64 { return p.Added + p.Duplicates + p.Skipped }

// stats is the part of a line every form shares.
func stats(p Progress) string {
	secs := max(float64(p.ElapsedMS)/1000, 0.001)
	n := p.processed()
	s := fmt.Sprintf("%d", n)
	if p.ExpectMessages > 0 {
		s += fmt.Sprintf("/%d", p.ExpectMessages)
	}
	s += fmt.Sprintf(" msgs, %s, %.0f msg/s, %s/s", humanBytes(p.Read), float64(n)/secs, humanBytes(int64(float64(p.Read)/secs)))
	if p.Duplicates > 0 || p.Skipped > 0 {
		s += fmt.Sprintf(" (%d already there, %d skipped)", p.Duplicates, p.Skipped)
	}
	return s
}

func eta(p Progress, f float64) string {
	if p.Done {
		return fmt.Sprintf("done in %s", shortDuration(time.Duration(p.ElapsedMS)*time.Millisecond))
	}
	if f <= 0 {
		return "ETA --"
	}
	left := time.Duration(float64(p.ElapsedMS)*(1-f)/f) * time.Millisecond
	return "ETA " + shortDuration(left)
}

func shortDuration(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%d:%02d", m, s)
}

// plainLine is a log line: "import: 1200/5000 msgs, 3.1 MiB, … 24% ETA 0:12".
func plainLine(p Progress) string {
	line := p.Verb + ": " + stats(p)
	if f, ok := fraction(p); ok {
		line += fmt.Sprintf(", %.0f%%, %s", f*100, eta(p, f))
	} else if p.Done {
		line += ", " + eta(p, 1)
	}
	return line
}

// barLine is "import [=====>     ]  42% ETA 0:12 1200/5000 msgs, …":
// what matters most first, the line cut to width.
func barLine(p Progress, width int) string {
	line := p.Verb
	if f, ok := fraction(p); ok {
		barW := min(30, max(10, width/4))
		fill := int(f * float64(barW))
		bar := strings.Repeat("=", fill)
		if fill < barW {
			bar += ">" + strings.Repeat(" ", barW-fill-1)
		}
		line += fmt.Sprintf(" [%s] %3.0f%% %s", bar, f*100, eta(p, f))
	} else if p.Done {
		line += " " + eta(p, 1)
	}
	line += " " + stats(p)
	if len(line) > width-1 {
		line = line[:width-1]
	}
	return line
}
