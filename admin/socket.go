package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/storaged/storaged/internal/netserve"
)

// SocketName is the admin socket's file in the data directory.
const SocketName = "admin.sock"

// maxRequest bounds a request line: arguments and a password, not mail.
const maxRequest = 1 << 20

type request struct {
	Args  []string `json:"args"`
	Stdin string   `json:"stdin,omitempty"`
}

// frame is one line of the answer: output on fd 1 or 2, a progress
// record (progress.go), or the end.
type frame struct {
	Out      string    `json:"1,omitempty"`
	Err      string    `json:"2,omitempty"`
	Progress *Progress `json:"progress,omitempty"`
	Exit     *int      `json:"exit,omitempty"`
}

// Server answers the admin socket with Run over its Env.
type Server struct {
	Env *Env
	Log *slog.Logger

	group  netserve.Group
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
}

func (s *Server) init() {
	s.once.Do(func() { s.ctx, s.cancel = context.WithCancel(context.Background()) })
}

// Listen opens the socket at path, 0600; a socket left by a crash is
// replaced, one a live server answers on is not.
func Listen(path string) (net.Listener, error) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("admin: %s: another server is answering there", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("admin: %w", err)
	}
	// No umask games (the process's, shared by every goroutine): the
	// data directory is 0700 and the peer check below stands anyway.
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("admin: %w", err)
	}
	return l, nil
}

// Serve answers connections on l until Close.
func (s *Server) Serve(l net.Listener) error {
	s.init()
	return s.group.Serve(l, func(c net.Conn) { s.handle(s.ctx, c) })
}

// Close stops accepting and waits for the verbs running to end; those
// that act on mail are cut at their next context check.
func (s *Server) Close() {
	s.init()
	s.group.Shutdown()
	s.cancel()
	s.group.Wait()
}

// peerAllowed: root, or the uid this server runs as.
func peerAllowed(c net.Conn) (int, bool) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return -1, false
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return -1, false
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return -1, false
	}
	uid := int(cred.Uid)
	return uid, uid == 0 || uid == os.Getuid()
}

type frameWriter struct {
	mu  *sync.Mutex
	enc *json.Encoder
	fd  int
}

func (w frameWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f := frame{Out: string(p)}
	if w.fd == 2 {
		f = frame{Err: string(p)}
	}
	if err := w.enc.Encode(f); err != nil {
		return 0, err
	}
	return len(p), nil
}

// WriteProgress implements ProgressWriter: the record goes to the
// client, whose terminal (or not) decides how it is shown.
func (w frameWriter) WriteProgress(p Progress) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.enc.Encode(frame{Progress: &p})
}

func (s *Server) handle(ctx context.Context, c net.Conn) {
	defer c.Close()
	log := s.Log
	if log == nil {
		log = slog.Default()
	}
	uid, ok := peerAllowed(c)
	if !ok {
		log.Warn("admin: connection refused: only root and the server's user may use the admin socket", "peer_uid", uid)
		return
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	line, err := bufio.NewReader(io.LimitReader(c, maxRequest)).ReadBytes('\n')
	if err != nil {
		return
	}
	c.SetReadDeadline(time.Time{})
	var req request
	if err := json.Unmarshal(line, &req); err != nil || len(req.Args) == 0 {
		log.Warn("admin: malformed request", "err", err)
		return
	}
	// The client sends nothing after its request: its end of the stream
	// (a half-close on ^C, or its death) cancels the verb, which an
	// import takes as an interrupt: what it wrote is indexed, and the
	// same command run again goes on from there.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		var b [64]byte
		for {
			if _, err := c.Read(b[:]); err != nil {
				cancel()
				return
			}
		}
	}()
	var mu sync.Mutex
	enc := json.NewEncoder(c)
	stdout, stderr := frameWriter{&mu, enc, 1}, frameWriter{&mu, enc, 2}
	// A verb's own output is framed; its arguments are logged without
	// any that might be a password (auth test's second).
	logged := req.Args
	if len(logged) > 3 && logged[0] == "auth" {
		logged = append(logged[:3:3], "(password)")
	}
	start := time.Now()
	code := Run(ctx, s.Env, req.Args, strings.NewReader(req.Stdin), stdout, stderr)
	log.Info("admin", "verb", strings.Join(logged, " "), "exit", code, "peer_uid", uid, "ms", time.Since(start).Milliseconds())
	mu.Lock()
	enc.Encode(frame{Exit: &code})
	mu.Unlock()
}

// ErrNoServer: nothing answers on the socket; the caller runs the verb
// itself.
var ErrNoServer = errors.New("admin: no server is running")

// Call runs args in the server answering at path, copying its output,
// and returns the verb's exit status. stdin is read whole only for the
// verbs that take it (auth test without a password).
func Call(path string, args []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	return CallContext(context.Background(), path, args, stdin, stdout, stderr)
}

// CallContext is Call that interrupts the verb when ctx ends: it tells
// the server so (a half-close) and waits for the verb to stop and say
// what it did, so the exit status is still the verb's. Progress records
// go to stderr when it is a ProgressWriter (a Renderer), else as plain
// lines.
func CallContext(ctx context.Context, path string, args []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return 0, ErrNoServer
		}
		return 0, fmt.Errorf("admin: %w", err)
	}
	defer c.Close()
	req := request{Args: args}
	if NeedsStdin(args) && stdin != nil {
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		req.Stdin = line
	}
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return 0, fmt.Errorf("admin: %w", err)
	}
	ended := make(chan struct{})
	defer close(ended)
	go func() {
		select {
		case <-ctx.Done():
			if uc, ok := c.(*net.UnixConn); ok {
				uc.CloseWrite()
			}
		case <-ended:
		}
	}()
	pw, ok := stderr.(ProgressWriter)
	if !ok {
		pw = NewRenderer(stderr, false)
	}
	dec := json.NewDecoder(bufio.NewReader(c))
	for {
		var f frame
		if err := dec.Decode(&f); err != nil {
			return 0, fmt.Errorf("admin: the server closed the connection before the verb ended: %w", err)
		}
		switch {
		case f.Exit != nil:
			return *f.Exit, nil
		case f.Progress != nil:
			pw.WriteProgress(*f.Progress)
		case f.Err != "":
			io.WriteString(stderr, f.Err)
		default:
			io.WriteString(stdout, f.Out)
		}
	}
}
