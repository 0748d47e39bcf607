// Package server wires a configuration into a running storaged: the user
// database, the accounts, delivery and the protocol listeners, with
// start-up repair and a draining shutdown. cmd/storaged and end-to-end
// tests both start storaged through it.
//
// Invariants:
//   - Shutdown refuses new work first, lets every delivery in flight
//     finish, and closes the accounts (their indexes) last.
//   - A demo user is only ever created when every listener is on
//     loopback.
//   - Every protocol shares one tls.Config whose certificates ReloadTLS
//     swaps (SIGHUP); a failed reload keeps the old ones.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/storaged/storaged/admin"
	"github.com/storaged/storaged/auth"
	"github.com/storaged/storaged/config"
	"github.com/storaged/storaged/delivery"
	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/imap"
	"github.com/storaged/storaged/internal/certs"
	"github.com/storaged/storaged/internal/netserve"
	"github.com/storaged/storaged/internal/rawlog"
	"github.com/storaged/storaged/lmtp"
	"github.com/storaged/storaged/maildir"
	"github.com/storaged/storaged/managesieve"
	"github.com/storaged/storaged/mbox"
	"github.com/storaged/storaged/metrics"
	"github.com/storaged/storaged/mh"
	"github.com/storaged/storaged/policy"
	"github.com/storaged/storaged/pop3"
	"github.com/storaged/storaged/quota"
	"github.com/storaged/storaged/sieve"
	"github.com/storaged/storaged/sievestore"
	"github.com/storaged/storaged/store"
)

// Server is one storaged instance.
type Server struct {
	Config    *config.Config
	Log       *slog.Logger
	Users     *auth.DB
	Auth      *auth.Authenticator // every protocol's logins: one throttle for all
	Accounts  *store.Accounts
	Deliverer *delivery.Deliverer
	// Sieve is every user's scripts, whether or not delivery runs them.
	Sieve *sievestore.Store
	// Metrics are this server's Prometheus metrics ([metrics] listen).
	Metrics     *metrics.Metrics
	metricsHTTP *http.Server
	metricsAddr net.Addr

	lmtp        *lmtp.Server
	managesieve *managesieve.Server
	imap        *imap.Server
	pop3        *pop3.Server
	policy      *policy.Server
	admin       *admin.Server
	rawlog      *rawlog.Tracer // [log] rawlog_users, which a reload replaces
	// LoadConfig reads the configuration again for Reload (SIGHUP);
	// nil reloads only the certificates and the users file. LogLevel,
	// when set, is the level a reload changes.
	LoadConfig func() (*config.Config, error)
	LogLevel   *slog.LevelVar
	// ReopenLog starts a new log file after a rotation, at each reload.
	ReopenLog func() error
	reloadMu  sync.Mutex
	live      *config.Config // the last configuration Reload read
	stop      chan struct{}
	stopOnce  sync.Once
	certs     *certs.Store // nil without [tls]
	// bound are the listeners, each with the address the configuration
	// gave it; lmu guards the slice, which a reload changes.
	lmu      sync.Mutex
	bound    []*bound
	tlsOn    bool
	wg       sync.WaitGroup
	errc     chan error
	cancel   context.CancelFunc
	repaired chan struct{}
}

// EnsureDataDir creates the directories the configuration names; run
// as root with server.user, it gives those it makes to that user.
func EnsureDataDir(cfg *config.Config) error {
	uid, gid, give := runAsRoot(cfg)
	for _, d := range []string{cfg.DataDir, cfg.Mail.Dir, cfg.Mail.IndexDir, filepath.Dir(cfg.Users.File)} {
		if err := mkdirAllFor(d, 0o700, uid, gid, give); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	return nil
}

// New opens the user database and the account registry; nothing listens
// yet. lockWait is how long to wait for an index another process holds.
func New(cfg *config.Config, logger *slog.Logger, lockWait time.Duration) (*Server, error) {
	if err := EnsureDataDir(cfg); err != nil {
		return nil, err
	}
	users, err := auth.Open(cfg.Users.File, logger)
	if err != nil {
		return nil, err
	}
	users.SetMaxParallel(cfg.Auth.MaxParallelVerifications)
	authn, err := NewAuthenticator(cfg, users, logger)
	if err != nil {
		return nil, err
	}
	m := metrics.New()
	accounts, err := NewAccounts(cfg, users, logger, lockWait, m)
	if err != nil {
		return nil, err
	}
	scripts := NewSieveStore(cfg, users, logger)
	d := &delivery.Deliverer{
		Users: users, Accounts: accounts, Hostname: cfg.Hostname, Metrics: m,
		Domains: cfg.LocalDomains, DetailDelimiter: cfg.LMTP.RecipientDelimiter, Log: logger,
		SaveToDetail:  cfg.LMTP.SaveToDetailMailbox,
		QuotaTempFail: cfg.Quota.FullTempfail, QuotaAtRcpt: cfg.Quota.CheckAtRcpt,
	}
	if cfg.Sieve.Enabled {
		d.Sieve = sieveDelivery(cfg, scripts)
	}
	return &Server{
		Config: cfg, Log: logger, Users: users, Auth: authn, Accounts: accounts,
		Deliverer: d, Sieve: scripts, Metrics: m,
		errc:     make(chan error, 8),
		repaired: make(chan struct{}),
		stop:     make(chan struct{}),
	}, nil
}

// NewAccounts is the account registry the configuration describes, as
// the server and the CLI's verbs open it. It creates nothing on disk
// until an account is opened.
func NewAccounts(cfg *config.Config, users *auth.DB, logger *slog.Logger, lockWait time.Duration, m *metrics.Metrics) (*store.Accounts, error) {
	defLimits, err := cfg.Quota.Limits()
	if err != nil {
		return nil, fmt.Errorf("quota: %w", err)
	}
	fopt := folder.Options{LockWait: cfg.Mail.LockWait.D()}
	if cfg.Mail.Sync == "syncfs" {
		fopt.FSSync = new(folder.FSSync)
	}
	return store.NewAccounts(store.Options{
		MailDir: cfg.Mail.Dir, IndexDir: cfg.Mail.IndexDir, LockWait: lockWait, Logger: logger,
		Formats:       Formats,
		FormatOptions: fopt,
		OnIndexCommit: m.IndexCommit,
		// The files of a user's store belong to the user's passwd-file
		// uid/gid or server.user (privileges.go).
		Owner: storeOwner(cfg, users),
		UserFormat: func(user string) (string, error) {
			if u, ok := users.Lookup(user); ok {
				if f := u.MailFormat(); f != "" {
					return f, nil
				}
			}
			return cfg.Mail.Format, nil
		},
		// A Dovecot store adopted in place keeps its layout: the
		// location's LAYOUT= (maildir:~/Maildir:LAYOUT=fs); a user
		// without a location of their own has mail.layout, as a
		// Dovecot user without userdb_mail has mail_location's.
		UserLayout: func(user string) string {
			if u, ok := users.Lookup(user); ok {
				loc := u.Extra["userdb_mail"]
				if loc == "" {
					loc = u.Extra["mail"]
				}
				if loc != "" {
					return maildir.LocationLayout(loc)
				}
			}
			return cfg.Mail.Layout
		},
		Quota: store.QuotaOptions{
			// A user's own rules (passwd-file extra fields, Dovecot's
			// spelling) over the config's default; read at each check,
			// so that a reloaded passwd-file takes effect at once.
			Limits: func(user string) (quota.Limits, error) {
				if u, ok := users.Lookup(user); ok {
					return quota.FromFields(defLimits, u.Extra)
				}
				return defLimits, nil
			},
			Warnings: cfg.Quota.Warnings,
			WarningMessage: func(user string, percent int, u quota.Usage, l quota.Limits, now time.Time) []byte {
				return quota.WarningMessage(cfg.Hostname, user, percent, u, l, now)
			},
		},
	}), nil
}

// NewSieveStore opens the script store the configuration describes. A
// user's Dovecot layout is looked for in the passwd-file's home field,
// else in the user's mail directory (mail.dir/<user>).
func NewSieveStore(cfg *config.Config, users *auth.DB, logger *slog.Logger) *sievestore.Store {
	return sievestore.New(sievestore.Options{
		Dir: cfg.Sieve.Dir,
		Home: func(user string) string {
			if u, ok := users.Lookup(user); ok && u.Home != "" && filepath.IsAbs(u.Home) {
				return u.Home
			}
			return filepath.Join(cfg.Mail.Dir, user)
		},
		MaxScriptSize: int64(cfg.Sieve.MaxScriptSize),
		MaxScripts:    cfg.Sieve.MaxScripts,
		Before:        cfg.Sieve.Before,
		After:         cfg.Sieve.After,
		GlobalDir:     cfg.Sieve.GlobalDir,
		Log:           logger,
		Owner:         storeOwner(cfg, users),
	})
}

func sieveDelivery(cfg *config.Config, scripts *sievestore.Store) *delivery.Sieve {
	sv := &delivery.Sieve{
		Scripts:      scripts,
		MaxRedirects: cfg.Sieve.MaxRedirects,
		MaxVacations: cfg.Sieve.MaxVacations,
		RedirectFrom: cfg.Sieve.RedirectEnvelopeFrom,
		RunTimeout:   cfg.Sieve.RunTimeout.D(),
		Limits: sieve.RunLimits{
			MaxActions: cfg.Sieve.MaxActions, MaxRedirects: cfg.Sieve.MaxRedirects, MaxSteps: cfg.Sieve.MaxSteps,
		},
	}
	if cfg.Sieve.Relay != "" {
		sv.Relay = &delivery.SMTPRelay{Addr: cfg.Sieve.Relay, Helo: cfg.Hostname}
	}
	if cfg.Sieve.SpamHeader != "" {
		sv.Spam = &sieve.ScoreConfig{Header: cfg.Sieve.SpamHeader, Max: cfg.Sieve.SpamMax}
	}
	if cfg.Sieve.VirusHeader != "" {
		sv.Virus = &sieve.ScoreConfig{Header: cfg.Sieve.VirusHeader, Max: cfg.Sieve.VirusMax}
	}
	return sv
}

// Formats are the storage formats accounts may use.
var Formats = []folder.Format{maildir.Format, mh.Format, mbox.Format}

// loadCerts reads the configured certificates; no [tls] is no TLS.
func (s *Server) loadCerts() (*tls.Config, error) {
	if !s.Config.TLS.Enabled() {
		return nil, nil
	}
	var pairs []certs.Pair
	for _, p := range s.Config.TLS.Pairs() {
		pairs = append(pairs, certs.Pair{Cert: p.Cert, Key: p.Key})
	}
	st, err := certs.Load(pairs)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	s.certs = st
	s.Log.Info("TLS certificates loaded", "names", strings.Join(st.Names(), " "))
	return st.Config(), nil
}

// ReloadTLS reads the certificate files again (SIGHUP). Connections
// already in TLS keep theirs; a failure keeps the old certificates.
func (s *Server) ReloadTLS() error {
	if s.certs == nil {
		return errors.New("no [tls] certificate is configured")
	}
	if err := s.certs.Reload(); err != nil {
		return err
	}
	s.Log.Info("TLS certificates reloaded", "names", strings.Join(s.certs.Names(), " "))
	return nil
}

// Start listens on every configured address and starts the start-up
// repair in the background.
func (s *Server) Start() error {
	cfg := s.Config
	tlsConf, err := s.loadCerts()
	if err != nil {
		return err
	}
	trusted := cfg.TrustedNetworks()
	s.lmtp = lmtp.New(lmtp.Config{
		Metrics:        s.Metrics,
		Hostname:       cfg.Hostname,
		MaxMessageSize: int64(cfg.LMTP.MaxMessageSize),
		MaxRecipients:  cfg.LMTP.MaxRecipients,
		MaxLineLength:  int(cfg.LMTP.MaxLineLength),
		ReadTimeout:    cfg.LMTP.ReadTimeout.D(),
		WriteTimeout:   cfg.LMTP.WriteTimeout.D(),
		TLS:            tlsConf,
		// Large messages are spooled on the data directory's disk.
		SpoolDir: filepath.Join(cfg.DataDir, "tmp"),
	}, s.Deliverer, s.Log)
	// One count for the three access protocols: a client's connections
	// add up whichever it opens. Trusted networks (a webmail, a proxy)
	// speak for many users: counted in the total only.
	limits := netserve.NewLimits(cfg.Server.MaxConnections, cfg.Server.MaxConnectionsPerAddress, trusted.Trusts)
	s.rawlog = rawlog.New(cfg.Log.RawlogDir, cfg.Log.RawlogUsers)
	s.imap = imap.New(imap.Config{
		Limits:                       limits,
		IdleTimeout:                  cfg.IMAP.IdleTimeout.D(),
		LoginIdleTimeout:             cfg.IMAP.LoginIdleTimeout.D(),
		MaxConnectionsPerUserAddress: cfg.IMAP.MaxConnectionsPerUserAddress,
		MaxMailboxes:                 cfg.Mail.MaxMailboxes,
		MaxMailboxDepth:              cfg.Mail.MaxMailboxDepth,
		MaxMessageSize:               int64(cfg.IMAP.MaxMessageSize),
		MaxLine:                      int(cfg.IMAP.MaxLineLength),
		MaxLiteral:                   int64(cfg.IMAP.MaxLiteralSize),
		MaxCommand:                   int64(cfg.IMAP.MaxCommandSize),
		AuthFailDelay:                cfg.IMAP.AuthFailDelay.D(),
		QuotaRoot:                    cfg.Quota.Root,
		Metrics:                      s.Metrics,
		TLS:                          tlsConf,
		Trusted:                      trusted,
		Auth:                         s.Auth,
		Rawlog:                       s.rawlog,
	}, s.Users, s.Accounts, s.Log)
	// Always there, so that a reload can open its listener.
	s.policy = policy.New(policy.Config{
		Success: cfg.Quota.PolicySuccess, OverQuota: cfg.Quota.PolicyOverQuota, NoUser: cfg.Quota.PolicyNoUser,
	}, s.Deliverer, s.Log)
	s.pop3 = pop3.New(pop3.Config{
		Metrics:       s.Metrics,
		AuthFailDelay: cfg.POP3.AuthFailDelay.D(),
		IdleTimeout:   cfg.POP3.IdleTimeout.D(),
		TLS:           tlsConf,
		Trusted:       trusted,
		Auth:          s.Auth,
		LockSession:   cfg.POP3.LockSession,
		Limits:        limits,
		Rawlog:        s.rawlog,

		MaxConnectionsPerUserAddress: cfg.POP3.MaxConnectionsPerUserAddress,
	}, s.Users, s.Accounts, s.Log)
	s.managesieve = managesieve.New(managesieve.Config{
		AuthFailDelay: cfg.ManageSieve.AuthFailDelay.D(),
		IdleTimeout:   cfg.ManageSieve.IdleTimeout.D(),
		MaxRedirects:  cfg.Sieve.MaxRedirects,
		TLS:           tlsConf,
		Trusted:       trusted,
		Auth:          s.Auth,
		Limits:        limits,
		Rawlog:        s.rawlog,

		MaxConnectionsPerUserAddress: cfg.ManageSieve.MaxConnectionsPerUserAddress,
		Metrics:                      s.Metrics,
	}, s.Users, s.Sieve, s.Log)
	s.tlsOn = tlsConf != nil
	var opened []*bound
	for _, p := range listenSpecs(cfg) {
		for _, addr := range p.addrs {
			b, err := s.openListener(p, addr)
			if err != nil {
				for _, b := range opened {
					b.l.Close()
				}
				return err
			}
			if b != nil {
				opened = append(opened, b)
			}
		}
	}
	// Everything is bound before the privilege drop and served after it
	// (privileges.go): no connection is ever handled as root.
	unbind := func(more ...net.Listener) {
		for _, b := range opened {
			b.l.Close()
		}
		for _, l := range more {
			if l != nil {
				l.Close()
			}
		}
	}
	var metricsL net.Listener
	if cfg.Metrics.Listen != "" {
		if metricsL, err = net.Listen("tcp", cfg.Metrics.Listen); err != nil {
			unbind()
			return fmt.Errorf("metrics: listen %s: %w", cfg.Metrics.Listen, err)
		}
	}
	adminL, err := s.listenAdmin()
	if err != nil {
		unbind(metricsL)
		return err
	}
	if err := s.dropPrivileges(); err != nil {
		unbind(metricsL, adminL)
		return err
	}
	for _, b := range opened {
		s.serveListener(b)
	}
	if metricsL != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", s.Metrics.Handler())
		s.metricsHTTP = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		s.metricsAddr = metricsL.Addr()
		s.Log.Info("listening", "proto", "metrics", "addr", metricsL.Addr().String())
		go s.metricsHTTP.Serve(metricsL)
	}
	s.serveAdmin(adminL)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.repair(ctx)
	return nil
}

// MetricsAddr is where GET /metrics is served, nil when it is off.
func (s *Server) MetricsAddr() net.Addr { return s.metricsAddr }

// Addrs returns the addresses a protocol listens on.
func (s *Server) Addrs(proto string) []net.Addr {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	var out []net.Addr
	for _, b := range s.bound {
		if b.proto == proto {
			out = append(out, b.l.Addr())
		}
	}
	return out
}

// Err delivers the first listener failure.
func (s *Server) Err() <-chan error { return s.errc }

// Repaired is closed when the start-up repair has finished.
func (s *Server) Repaired() <-chan struct{} { return s.repaired }

func (s *Server) closeListeners() {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	for _, b := range s.bound {
		b.retired.Store(true)
		b.l.Close()
	}
}

// Shutdown drains and stops everything; see the package invariants.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.cancel != nil {
		s.cancel()
	}
	if s.metricsHTTP != nil {
		s.metricsHTTP.Close()
	}
	if s.admin != nil {
		s.admin.Close()
	}
	var err error
	if s.imap != nil {
		s.imap.Shutdown()
	}
	if s.pop3 != nil {
		s.pop3.Shutdown()
	}
	if s.policy != nil {
		s.policy.Shutdown()
	}
	if s.managesieve != nil {
		s.managesieve.Shutdown()
	}
	if s.lmtp != nil {
		if derr := s.lmtp.Shutdown(ctx); derr != nil {
			s.Log.Warn("drain timed out; open transactions were cut (none had been acknowledged)", "err", derr)
			err = derr
		}
	}
	s.wg.Wait()
	if s.cancel != nil {
		<-s.repaired
	}
	return errors.Join(err, s.Accounts.Close())
}

// Close releases what New opened, for a Server that was never started.
func (s *Server) Close() error { return s.Accounts.Close() }

func (s *Server) repair(ctx context.Context) {
	defer close(s.repaired)
	start := time.Now()
	n := 0
	for _, u := range s.Users.List() {
		if ctx.Err() != nil {
			return
		}
		if _, err := os.Stat(filepath.Join(s.Config.Mail.Dir, u.Name)); err != nil {
			continue
		}
		acct, err := s.Accounts.Open(ctx, u.Name)
		if err == nil {
			err = acct.SyncAll(ctx)
		}
		if err != nil {
			s.Log.Error("repair failed", "user", u.Name, "err", err)
			continue
		}
		n++
	}
	s.Log.Info("startup repair finished", "accounts", n, "ms", time.Since(start).Milliseconds())
}

// FirstStart creates a demo user on a fresh data directory, so that a
// newcomer can deliver and read at once; Banner tells of it once the
// listeners are up. A users file that is missing where mail stores
// already exist is not a first start but most likely a mistyped
// users.file: that is an error, never a new user database.
func (s *Server) FirstStart(password string) (demo bool, err error) {
	cfg := s.Config
	// Per-domain users files (users/%d) hold full addresses only: no
	// demo user there.
	if _, err := os.Stat(cfg.Users.File); !errors.Is(err, os.ErrNotExist) || s.Users.PerDomain() {
		if s.Users.Len() == 0 {
			s.Log.Warn("no users yet: add one with 'storaged user add NAME'", "users_file", cfg.Users.File)
		}
		return false, nil
	}
	if ents, _ := os.ReadDir(cfg.Mail.Dir); len(ents) > 0 {
		return false, fmt.Errorf("users.file %s does not exist, but %s holds mail stores: is users.file mistyped? (storaged user add NAME creates it)", cfg.Users.File, cfg.Mail.Dir)
	}
	for _, addr := range cfg.LMTP.Listen {
		if !loopbackOnly(addr) {
			s.Log.Warn("no users yet: add one with 'storaged user add NAME'", "users_file", cfg.Users.File)
			return false, nil
		}
	}
	if err := s.Users.Add("demo", password, nil); err != nil {
		return false, err
	}
	return true, nil
}

// Banner prints how to use the demo user FirstStart made, with the
// addresses the listeners really have.
func (s *Server) Banner(out io.Writer, password string) {
	addrs := func(proto string) string {
		var l []string
		for _, a := range s.Addrs(proto) {
			l = append(l, a.String())
		}
		if len(l) == 0 {
			return "(off)"
		}
		return strings.Join(l, ", ")
	}
	lmtpTCP := ""
	for _, a := range s.Addrs("lmtp") {
		if a.Network() == "tcp" {
			lmtpTCP = a.String()
			break
		}
	}
	deliver := "swaks --server " + lmtpTCP + " --protocol LMTP --to demo@localhost"
	if lmtpTCP == "" {
		deliver = "storaged deliver -a demo@localhost < message"
	}
	fmt.Fprintf(out, `
  First start: created the user "demo" with password %s
  (shown once; change it with: storaged user passwd demo).
  Deliver a message:  %s
  It lands in %s; read it over IMAP at %s
  or POP3 at %s (user demo).

`, password, deliver, filepath.Join(s.Config.Mail.Dir, "demo"), addrs("imap"), addrs("pop3"))
}

func loopbackOnly(addr string) bool {
	if strings.HasPrefix(addr, "unix:") {
		return true
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// listen opens a TCP address or unix:PATH. A socket file left by a crash
// is replaced; one a live server answers on is not.
func listen(addr string, perm os.FileMode, uid, gid int) (net.Listener, error) {
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok {
		return net.Listen("tcp", addr)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("%s: another server is answering there", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, perm); err != nil {
		l.Close()
		return nil, err
	}
	if uid >= 0 || gid >= 0 {
		// lmtp.socket_user/socket_group: the MTA's client (Postfix's lmtp
		// runs as postfix) connects to a socket that is not world-writable.
		if err := os.Lchown(path, uid, gid); err != nil {
			l.Close()
			return nil, fmt.Errorf("%s: set owner: %w", path, err)
		}
	}
	return l, nil
}

// LockDataDir takes the data directory for this process (an flock on
// data_dir/.storaged.lock, released when the process ends, however it
// ends): a second server on the same directory is refused with the pid
// of the first. The returned func releases it.
func LockDataDir(cfg *config.Config) (func(), error) {
	path := filepath.Join(cfg.DataDir, ".storaged.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		pid := strings.TrimSpace(string(b))
		if pid == "" {
			pid = "unknown"
		}
		return nil, fmt.Errorf("another storaged (pid %s) serves the data directory %s", pid, cfg.DataDir)
	}
	if uid, gid, give := runAsRoot(cfg); give {
		// A later start as server.user opens it for writing.
		if err := f.Chown(uid, gid); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
	}
	f.Truncate(0)
	fmt.Fprintf(f, "%d\n", os.Getpid())
	return func() { f.Close() }, nil
}
