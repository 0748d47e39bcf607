package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/storaged/storaged/auth"
	"github.com/storaged/storaged/quota"
)

// Config is the whole configuration.
type Config struct {
	// DataDir holds everything storaged writes; $STORAGED_DATA or ./data.
	DataDir string `toml:"data_dir"`
	// Hostname names this server in trace headers and greetings.
	Hostname string `toml:"hostname"`
	// LocalDomains are the domains whose recipients are ours; empty means
	// "localhost" and Hostname.
	LocalDomains []string    `toml:"local_domains"`
	Server       Server      `toml:"server"`
	Log          Log         `toml:"log"`
	TLS          TLS         `toml:"tls"`
	Auth         Auth        `toml:"auth"`
	Users        Users       `toml:"users"`
	Mail         Mail        `toml:"mail"`
	LMTP         LMTP        `toml:"lmtp"`
	IMAP         IMAP        `toml:"imap"`
	POP3         POP3        `toml:"pop3"`
	Quota        Quota       `toml:"quota"`
	Sieve        Sieve       `toml:"sieve"`
	ManageSieve  ManageSieve `toml:"managesieve"`
	Metrics      Metrics     `toml:"metrics"`
	Admin        Admin       `toml:"admin"`
	// ShutdownTimeout bounds how long SIGTERM waits for deliveries in
	// flight before it cuts them (none of those was acknowledged).
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
}

// Server is what every mail access listener (IMAP, POP3, ManageSieve)
// shares: the connections they may hold together. LMTP, the MTA's
// door, is not counted.
type Server struct {
	// MaxConnections bounds the open connections of all three; one more
	// is told so in its protocol (IMAP "* BYE [LIMIT]" as its greeting,
	// RFC 9051 §7.1.5) and closed. 0: no bound.
	MaxConnections int `toml:"max_connections"`
	// MaxConnectionsPerAddress bounds them per remote address (an IPv6
	// address counts by its /64). Addresses in auth.trusted_networks
	// (a webmail, a proxy) are exempt: they speak for many users, and
	// the per-user limits still hold. 0: no bound.
	MaxConnectionsPerAddress int `toml:"max_connections_per_address"`
	// User is the account serve runs as (a name or a number, "vmail"):
	// started as root it binds every listener and socket, gives the
	// data directory's new files to this user, and then drops to it for
	// the whole process; started as this user it runs as it is. Empty:
	// the process stays as it was started (as root, each store's files
	// are then given to the uid/gid of the user's passwd-file line).
	// Every store's files belong to this user, so passwd-file lines with
	// other uid/gid fields are refused (451 4.3.0, NO [UNAVAILABLE]).
	User string `toml:"user"`
	// Group is the group it runs as; empty: the user's primary group.
	Group string `toml:"group"`
	// AccessGroups are supplementary groups kept after the drop (names
	// or numbers), Dovecot's mail_access_groups: "mail" for mbox spools
	// under /var/mail that belong to root:mail. Empty: none but Group.
	AccessGroups []string `toml:"access_groups"`
}

// Admin is the socket the CLI's admin verbs reach a running server on.
type Admin struct {
	// Socket is the unix socket's path, relative to data_dir; empty
	// turns it off (the verbs then need the server stopped).
	Socket string `toml:"socket"`
}

// Metrics is the Prometheus endpoint.
type Metrics struct {
	// Listen is the host:port of GET /metrics; empty turns it off.
	Listen string `toml:"listen"`
}

// Sieve is filtering at delivery, in Pigeonhole's terms where it has one.
type Sieve struct {
	// Enabled runs users' scripts at delivery.
	Enabled bool `toml:"enabled"`
	// Dir holds the users' scripts (dir/<user>/NAME.sieve, the active
	// one linked from dir/<user>.sieve), relative to data_dir.
	Dir string `toml:"dir"`
	// Before and After are site scripts run around the user's
	// (sieve_before, sieve_after): files, or folders of *.sieve.
	Before []string `toml:"before"`
	After  []string `toml:"after"`
	// GlobalDir is where include :global finds scripts.
	GlobalDir string `toml:"global_dir"`
	// Relay is the submission server (host:port) redirects and vacation
	// replies go through; empty refuses both, with a log line.
	Relay string `toml:"relay"`
	// RedirectEnvelopeFrom is the envelope sender of a redirect
	// (Pigeonhole's sieve_redirect_envelope_from): "sender", the
	// original one, by default; "recipient", the user redirecting, so
	// that SPF at the next hop passes and bounces come back to the user;
	// or an address (RFC 5228 §4.2 leaves the choice to the server). A
	// null original sender stays null either way, so a redirected bounce
	// can never draw a bounce of its own.
	RedirectEnvelopeFrom string `toml:"redirect_envelope_from"`
	// Limits.
	MaxScriptSize Size     `toml:"max_script_size"` // sieve_max_script_size
	MaxScripts    int      `toml:"max_scripts"`     // per user; 0: none
	MaxActions    int      `toml:"max_actions"`     // sieve_max_actions
	MaxRedirects  int      `toml:"max_redirects"`   // sieve_max_redirects
	MaxVacations  int      `toml:"max_vacation_replies"`
	MaxSteps      int      `toml:"max_steps"` // commands and tests run per script
	RunTimeout    Duration `toml:"run_timeout"`
	// SpamHeader and SpamMax set where spamtest reads its score (RFC
	// 5235), e.g. rspamd's "X-Spam-Score" with "5.2 / 15.0" values;
	// VirusHeader and VirusMax the same for virustest.
	SpamHeader  string  `toml:"spam_header"`
	SpamMax     float64 `toml:"spam_max"`
	VirusHeader string  `toml:"virus_header"`
	VirusMax    float64 `toml:"virus_max"`
}

// TLS is the server's certificates, shared by every protocol: STARTTLS
// (IMAP, LMTP, ManageSieve), STLS (POP3) and the implicit TLS listeners
// (RFC 8314). Without cert and key nothing offers TLS.
type TLS struct {
	// Cert and Key are PEM files: the default certificate (full chain)
	// and its key, relative to data_dir.
	Cert string `toml:"cert"`
	Key  string `toml:"key"`
	// Certs are more certificates, chosen by the name the client asks for
	// (SNI); the default answers names none of them has.
	Certs []CertPair `toml:"certs"`
}

// CertPair is one certificate and its key.
type CertPair struct {
	Cert string `toml:"cert"`
	Key  string `toml:"key"`
}

// Enabled reports whether any certificate is configured.
func (t *TLS) Enabled() bool { return t.Cert != "" }

// Pairs lists every certificate, the default first.
func (t *TLS) Pairs() []CertPair {
	if !t.Enabled() {
		return nil
	}
	return append([]CertPair{{Cert: t.Cert, Key: t.Key}}, t.Certs...)
}

// Auth is the login policy every protocol shares.
type Auth struct {
	// TrustedNetworks may send passwords over a connection without TLS
	// (addresses or CIDR networks). Elsewhere LOGIN, USER/PASS and
	// AUTHENTICATE need STARTTLS or an implicit TLS port first.
	TrustedNetworks []string `toml:"trusted_networks"`
	// MaxParallelVerifications bounds the password hashes computed at
	// once (argon2id at Dovecot's cost holds 64 MiB each); the others
	// wait. 0: one per CPU.
	MaxParallelVerifications int `toml:"max_parallel_verifications"`
	// The keys below are read by config/auth.go; README "Users and
	// domains" and "Login policy" say what they do.
	UsernameFormat            string   `toml:"username_format"`
	Mechanisms                []string `toml:"mechanisms"`
	MasterUsersFile           string   `toml:"master_users_file"`
	MasterUserSeparator       string   `toml:"master_user_separator"`
	MaxFailuresPerAddress     int      `toml:"max_failures_per_address"`
	MaxFailuresPerUserAddress int      `toml:"max_failures_per_user_address"`
	MaxFailuresPerUser        int      `toml:"max_failures_per_user"`
	FailureWindow             Duration `toml:"failure_window"`
	FailDelayMax              Duration `toml:"fail_delay_max"`
}

// DefaultManageSieveListen is ManageSieve's default address (RFC 5804
// §1.8's port 4190, on loopback).
const DefaultManageSieveListen = "127.0.0.1:4190"

// ManageSieve is the script editing listener (RFC 5804).
type ManageSieve struct {
	// Listen addresses (host:port); empty turns ManageSieve off.
	Listen []string `toml:"listen"`
	// AuthFailDelay is how long a failed login waits for its answer.
	AuthFailDelay Duration `toml:"auth_fail_delay"`
	// IdleTimeout closes a session that sends nothing for this long.
	IdleTimeout Duration `toml:"idle_timeout"`
	// MaxConnectionsPerUserAddress bounds one user's sessions from one
	// address, checked at login (NO (TRYLATER)); 0: no bound.
	MaxConnectionsPerUserAddress int `toml:"max_connections_per_user_address"`
}

// Quota is the default limit of every user and what happens at it. A
// user's own limits come from the passwd-file's extra fields, spelt as
// Dovecot's (userdb_quota_rule=*:storage=1G, userdb_quota_rule2=…).
type Quota struct {
	// Storage and Messages are every user's limit; 0 means none.
	Storage  Size  `toml:"storage"`
	Messages int64 `toml:"messages"`
	// Rules are mailbox rules in Dovecot's quota_rule spelling:
	// "Trash:storage=+100M", "Spam:ignore".
	Rules []string `toml:"rules"`
	// FullTempfail answers a full store with LMTP 452 4.2.2 (the MTA
	// retries) instead of 552 5.2.2 (it bounces).
	FullTempfail bool `toml:"full_tempfail"`
	// CheckAtRcpt refuses an already full recipient at RCPT.
	CheckAtRcpt bool `toml:"check_at_rcpt"`
	// Warnings are thresholds in percent; crossing one upwards puts one
	// warning message into the user's INBOX.
	Warnings []int `toml:"warnings"`
	// Root is the quota root name IMAP clients show.
	Root string `toml:"root"`
	// PolicyListen is the address of the Postfix policy service
	// (check_policy_service inet:127.0.0.1:12340); empty turns it off.
	PolicyListen string `toml:"policy_listen"`
	// The policy service's answers, as Dovecot's quota-status spells them.
	PolicySuccess   string `toml:"policy_success"`
	PolicyOverQuota string `toml:"policy_overquota"`
	PolicyNoUser    string `toml:"policy_nouser"`
}

// Limits returns the default limits.
func (q *Quota) Limits() (quota.Limits, error) {
	l := quota.Limits{Storage: int64(q.Storage), Messages: q.Messages}
	for _, r := range q.Rules {
		rule, err := quota.ParseRule(r)
		if err != nil {
			return l, err
		}
		if rule.Mailbox == "*" {
			return l, fmt.Errorf("%q: set storage and messages for every user instead of a \"*\" rule", r)
		}
		l.Rules = append(l.Rules, rule)
	}
	return l, nil
}

// POP3 is the POP3 listener.
type POP3 struct {
	// Listen addresses (host:port); empty turns POP3 off.
	Listen []string `toml:"listen"`
	// ListenTLS are implicit TLS addresses (pop3s, RFC 8314 §3.3: port
	// 995); they need [tls].
	ListenTLS []string `toml:"listen_tls"`
	// AuthFailDelay is how long a failed login waits for its answer.
	AuthFailDelay Duration `toml:"auth_fail_delay"`
	// IdleTimeout closes a session that sends nothing for this long; RFC
	// 1939 §3 asks for at least 10 minutes.
	IdleTimeout Duration `toml:"idle_timeout"`
	// LockSession lets one session at a time hold a user's maildrop
	// (RFC 1939 §8; a second login gets -ERR [IN-USE]). Off, as
	// Dovecot's pop3_lock_session=no: sessions share it.
	LockSession bool `toml:"lock_session"`
	// MaxConnectionsPerUserAddress bounds one user's sessions from one
	// address, checked at login (-ERR [IN-USE]); 0: no bound.
	MaxConnectionsPerUserAddress int `toml:"max_connections_per_user_address"`
}

// IMAP is the mail access listener.
type IMAP struct {
	// Listen addresses (host:port); several are allowed.
	Listen []string `toml:"listen"`
	// ListenTLS are implicit TLS addresses (imaps, RFC 8314 §3.3: port
	// 993); they need [tls].
	ListenTLS []string `toml:"listen_tls"`
	// AuthFailDelay is how long a failed login waits for its answer.
	AuthFailDelay Duration `toml:"auth_fail_delay"`
	// MaxMessageSize is the APPENDLIMIT.
	MaxMessageSize Size `toml:"max_message_size"`
	// MaxLineLength bounds one line of a command between literals
	// (Dovecot's imap_max_line_length); a longer one is BAD. RFC 7162
	// §4 asks for at least 8000 octets.
	MaxLineLength Size `toml:"max_line_length"`
	// MaxLiteralSize bounds a literal that is not an APPEND message (a
	// SEARCH string, a METADATA value): a larger one is BAD, answered
	// before the client sends its octets (a synchronising literal).
	MaxLiteralSize Size `toml:"max_literal_size"`
	// MaxCommandSize bounds one command's lines and non-message literals
	// together.
	MaxCommandSize Size `toml:"max_command_size"`
	// IdleTimeout logs out a session that sends nothing for this long;
	// RFC 9051 §5.4 asks for at least 30 minutes once logged in.
	IdleTimeout Duration `toml:"idle_timeout"`
	// LoginIdleTimeout is the shorter one before login (§5.4 allows it).
	LoginIdleTimeout Duration `toml:"login_idle_timeout"`
	// MaxConnectionsPerUserAddress bounds one user's sessions from one
	// address, as Dovecot's mail_max_userip_connections (10), checked at
	// login: NO [LIMIT] (RFC 5530). 0: no bound.
	MaxConnectionsPerUserAddress int `toml:"max_connections_per_user_address"`
}

// Log is where and how storaged logs.
type Log struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text or json
	// File is where serve logs, relative to data_dir; empty is standard
	// error (the journal under systemd). A reload (SIGHUP, what
	// logrotate's postrotate sends) reopens it.
	File string `toml:"file"`
	// RawlogUsers are the users whose sessions (IMAP, POP3, ManageSieve)
	// are traced from their login on, Dovecot's rawlog: login names as
	// the server normalises them (username_format applied). A reload
	// applies a change to the sessions that log in afterwards.
	RawlogUsers []string `toml:"rawlog_users"`
	// RawlogDir holds the traces, <user>/<proto>-<date>-<time>-<session>.in
	// and .out; relative to data_dir.
	RawlogDir string `toml:"rawlog_dir"`
}

// Users is the user database.
type Users struct {
	File string `toml:"file"` // passwd-file, relative to data_dir
}

// Mail is the message store.
type Mail struct {
	Dir      string `toml:"dir"`       // mail/<user>/, relative to data_dir
	IndexDir string `toml:"index_dir"` // index/<user>/index.db
	Format   string `toml:"format"`    // maildir, mbox or mh; a user's userdb_mail=FORMAT overrides it
	// LockWait is how long an mbox append or rewrite waits for another
	// program's lock before a temporary failure (LMTP 451 4.2.0).
	LockWait Duration `toml:"lock_wait"`
	// MaxMailboxes bounds a user's mailboxes, INBOX included, and
	// MaxMailboxDepth the levels of one name ("a/b/c" is 3): an IMAP
	// CREATE or RENAME past either gets NO [LIMIT]. 0: no bound.
	MaxMailboxes    int `toml:"max_mailboxes"`
	MaxMailboxDepth int `toml:"max_mailbox_depth"`
	// Layout is how Maildir stores nest folders, Dovecot's LAYOUT= of
	// mail_location: "" (Maildir++, ".Work.Sub") or "fs" (nested
	// directories, "Work/Sub"). A user whose userdb_mail (or mail) field
	// gives a location takes that location's LAYOUT= instead, as Dovecot
	// does. A store found in the other layout is refused, never
	// misread.
	Layout string `toml:"layout"`
	// Sync is how a Maildir delivery becomes durable before its 250:
	// "syncfs" (the default) renames the unsynced file into place and
	// waits for one syncfs(2) of the file system, shared by every
	// delivery in flight to any user; "fsync" fsyncs each file and, per
	// batch, each directory. Both are durable; syncfs writes each dirty
	// block once for all and flushes the disk once, but it also flushes
	// whatever else is dirty on that file system, so "fsync" suits mail
	// kept on a file system that other programs write heavily. mbox and
	// MH always fsync.
	Sync string `toml:"sync"`
}

// LMTP is the delivery listener.
type LMTP struct {
	// Listen addresses: host:port for TCP, unix:PATH for a socket.
	Listen     []string `toml:"listen"`
	SocketMode string   `toml:"socket_mode"` // octal permissions of unix sockets
	// SocketUser and SocketGroup own the unix sockets (names or
	// numbers; empty leaves the server's own), e.g. "postfix" so that
	// Postfix's lmtp client may connect to a 0660 socket.
	SocketUser     string `toml:"socket_user"`
	SocketGroup    string `toml:"socket_group"`
	MaxMessageSize Size   `toml:"max_message_size"`
	MaxRecipients  int    `toml:"max_recipients"`
	// MaxLineLength bounds one line of a message; a longer line refuses
	// the message (500 5.5.2), read to its end so the session goes on.
	MaxLineLength Size `toml:"max_line_length"`
	// ReadTimeout bounds each command and the whole DATA upload, so it
	// must fit the largest message at the slowest acceptable rate.
	ReadTimeout  Duration `toml:"read_timeout"`
	WriteTimeout Duration `toml:"write_timeout"`
	// RecipientDelimiter separates user and detail ("user+detail",
	// Dovecot's recipient_delimiter; each character is one); "" none.
	RecipientDelimiter string `toml:"recipient_delimiter"`
	// SaveToDetailMailbox files user+detail@ mail into the folder
	// "detail" when it exists (Dovecot's lmtp_save_to_detail_mailbox).
	SaveToDetailMailbox bool `toml:"save_to_detail_mailbox"`
}

// Defaults is the embedded configuration.
func Defaults() Config {
	return Config{
		DataDir:         "./data",
		Log:             Log{Level: "info", Format: "text", RawlogUsers: []string{}, RawlogDir: "rawlog"},
		TLS:             TLS{Certs: []CertPair{}},
		Auth:            defaultAuth(),
		Users:           Users{File: "users"},
		Admin:           Admin{Socket: "admin.sock"},
		ShutdownTimeout: Duration(30 * time.Second),
		Server:          Server{MaxConnections: 10000, MaxConnectionsPerAddress: 100},
		Mail: Mail{Dir: "mail", IndexDir: "index", Format: "maildir", LockWait: Duration(10 * time.Second), Sync: "syncfs",
			MaxMailboxes: 10000, MaxMailboxDepth: 20},
		LMTP: LMTP{
			Listen:         []string{"127.0.0.1:2424", "unix:lmtp.sock"},
			SocketMode:     "0660",
			MaxMessageSize: 50 << 20,
			MaxRecipients:  1000,
			MaxLineLength:  2 << 20,
			ReadTimeout:    Duration(10 * time.Minute),
			WriteTimeout:   Duration(time.Minute),

			RecipientDelimiter: "+", // Dovecot's recipient_delimiter
		},
		IMAP: IMAP{
			Listen:         []string{"127.0.0.1:1143"},
			ListenTLS:      []string{},
			AuthFailDelay:  Duration(time.Second),
			MaxMessageSize: 50 << 20,
			MaxLineLength:  64 << 10,
			MaxLiteralSize: 64 << 10,
			MaxCommandSize: 1 << 20,

			IdleTimeout:                  Duration(30 * time.Minute),
			LoginIdleTimeout:             Duration(time.Minute),
			MaxConnectionsPerUserAddress: 10,
		},
		POP3: POP3{
			Listen:        []string{"127.0.0.1:1110"},
			ListenTLS:     []string{},
			AuthFailDelay: Duration(time.Second),
			IdleTimeout:   Duration(10 * time.Minute),

			MaxConnectionsPerUserAddress: 10,
		},
		Sieve: Sieve{
			Enabled:       true,
			Dir:           "sieve",
			MaxScriptSize: 1 << 20,
			MaxScripts:    100,
			MaxActions:    32,
			MaxRedirects:  4,
			MaxVacations:  1,
			MaxSteps:      100000,
			RunTimeout:    Duration(10 * time.Second),
			SpamMax:       15,
			VirusMax:      5,
		},
		ManageSieve: ManageSieve{
			Listen:        []string{DefaultManageSieveListen},
			AuthFailDelay: Duration(time.Second),
			IdleTimeout:   Duration(30 * time.Minute),

			MaxConnectionsPerUserAddress: 10,
		},
		Quota: Quota{
			Root:            "User quota",
			PolicySuccess:   "DUNNO",
			PolicyOverQuota: "552 5.2.2 Mailbox full",
			PolicyNoUser:    "REJECT Unknown user",
		},
	}
}

// Load reads the file at path over the defaults; path "" means defaults
// only. The environment variable STORAGED_DATA sets data_dir unless the
// file does.
func Load(path string) (*Config, error) {
	c := Defaults()
	if env := os.Getenv("STORAGED_DATA"); env != "" {
		c.DataDir = env
	}
	if path != "" {
		text, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		// First as plain TOML, so that a value of the wrong type is
		// named in the config's words (types.go), then into c.
		var doc map[string]any
		md, err := toml.Decode(string(text), &doc)
		if err == nil {
			if terr := checkTypes(doc, md); terr != nil {
				return nil, fmt.Errorf("config %s: %w", path, terr)
			}
			md, err = toml.Decode(string(text), &c)
		}
		if err != nil {
			var perr toml.ParseError
			if errors.As(err, &perr) {
				return nil, fmt.Errorf("config %s: %s", path, perr.ErrorWithPosition())
			}
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
		if und := md.Undecoded(); len(und) > 0 {
			keys := make([]string, len(und))
			for i, k := range und {
				keys[i] = k.String()
			}
			sort.Strings(keys)
			return nil, fmt.Errorf("config %s: unknown key %s", path, strings.Join(keys, ", "))
		}
	}
	if err := c.resolve(); err != nil {
		if path != "" {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	return &c, nil
}

func (c *Config) resolve() error {
	if c.DataDir == "" {
		return errors.New("data_dir: must not be empty")
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	c.DataDir = abs
	if c.Hostname == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		c.Hostname = h
	}
	if strings.ContainsAny(c.Hostname, " \t\r\n()<>[];") {
		return fmt.Errorf("hostname: %q is not a host name", c.Hostname)
	}
	if len(c.LocalDomains) == 0 {
		c.LocalDomains = []string{"localhost", c.Hostname}
	}
	for i, d := range c.LocalDomains {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "" || strings.ContainsAny(d, " @<>") {
			return fmt.Errorf("local_domains: %q is not a domain", c.LocalDomains[i])
		}
		c.LocalDomains[i] = d
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level: %q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fmt.Errorf("log.format: %q is not text or json", c.Log.Format)
	}
	for _, p := range []struct {
		key string
		v   *string
	}{{"users.file", &c.Users.File}, {"mail.dir", &c.Mail.Dir}, {"mail.index_dir", &c.Mail.IndexDir}} {
		if *p.v == "" {
			return fmt.Errorf("%s: must not be empty", p.key)
		}
		*p.v = c.Path(*p.v)
	}
	if c.Admin.Socket != "" {
		c.Admin.Socket = c.Path(c.Admin.Socket)
	}
	switch c.Mail.Format {
	case "maildir", "mbox", "mh":
	default:
		return fmt.Errorf("mail.format: %q is not one of maildir, mbox, mh", c.Mail.Format)
	}
	switch c.Mail.Layout = strings.ToLower(c.Mail.Layout); c.Mail.Layout {
	case "", "maildir++", "fs":
	default:
		return fmt.Errorf("mail.layout: %q is not one of \"\" (Maildir++), fs", c.Mail.Layout)
	}
	switch c.Mail.Sync = strings.ToLower(c.Mail.Sync); c.Mail.Sync {
	case "syncfs", "fsync":
	default:
		return fmt.Errorf("mail.sync: %q is not one of syncfs, fsync", c.Mail.Sync)
	}
	if c.Mail.LockWait <= 0 {
		return errors.New("mail.lock_wait: must be positive")
	}
	if len(c.LMTP.Listen) == 0 {
		return errors.New("lmtp.listen: at least one address is needed")
	}
	for i, l := range c.LMTP.Listen {
		if p, ok := strings.CutPrefix(l, "unix:"); ok {
			if p == "" {
				return fmt.Errorf("lmtp.listen: %q has no path", l)
			}
			c.LMTP.Listen[i] = "unix:" + c.Path(p)
		}
	}
	if err := listenList("lmtp.listen", &c.LMTP.Listen, true); err != nil {
		return err
	}
	for _, ls := range []struct {
		key   string
		addrs *[]string
	}{{"imap.listen", &c.IMAP.Listen}, {"imap.listen_tls", &c.IMAP.ListenTLS},
		{"pop3.listen", &c.POP3.Listen}, {"pop3.listen_tls", &c.POP3.ListenTLS},
		{"managesieve.listen", &c.ManageSieve.Listen}} {
		if err := listenList(ls.key, ls.addrs, false); err != nil {
			return err
		}
	}
	if err := c.resolveTLS(); err != nil {
		return err
	}
	if c.POP3.AuthFailDelay < 0 {
		return errors.New("pop3.auth_fail_delay: must not be negative")
	}
	if c.POP3.IdleTimeout <= 0 {
		return errors.New("pop3.idle_timeout: must be positive")
	}
	if c.IMAP.AuthFailDelay < 0 {
		return errors.New("imap.auth_fail_delay: must not be negative")
	}
	if c.IMAP.MaxMessageSize <= 0 || c.IMAP.MaxMessageSize > 1<<32-1 {
		return errors.New("imap.max_message_size: must be positive and under 4G")
	}
	if c.IMAP.MaxLineLength < 8000 || c.IMAP.MaxLineLength > 16<<20 {
		return errors.New("imap.max_line_length: must be from 8000 (RFC 7162 §4) to 16M")
	}
	if c.IMAP.MaxLiteralSize <= 0 || c.IMAP.MaxLiteralSize > 16<<20 {
		return errors.New("imap.max_literal_size: must be positive and at most 16M")
	}
	if c.IMAP.MaxCommandSize < c.IMAP.MaxLineLength || c.IMAP.MaxCommandSize > 64<<20 {
		return errors.New("imap.max_command_size: must be at least imap.max_line_length and at most 64M")
	}
	if c.IMAP.IdleTimeout < Duration(30*time.Minute) {
		return errors.New("imap.idle_timeout: must be at least 30m (RFC 9051 §5.4)")
	}
	if c.IMAP.LoginIdleTimeout <= 0 || c.IMAP.LoginIdleTimeout > c.IMAP.IdleTimeout {
		return errors.New("imap.login_idle_timeout: must be positive and at most imap.idle_timeout")
	}
	if err := c.resolveLimits(); err != nil {
		return err
	}
	if m, err := strconv.ParseUint(c.LMTP.SocketMode, 8, 32); err != nil || m > 0o777 {
		return fmt.Errorf("lmtp.socket_mode: %q is not an octal mode like 0660", c.LMTP.SocketMode)
	}
	if _, _, err := c.SocketOwner(); err != nil {
		return err
	}
	if _, err := c.AccessGIDs(); err != nil {
		return err
	}
	if _, _, _, err := c.RunAs(); err != nil {
		return err
	}
	if c.ShutdownTimeout <= 0 {
		return errors.New("shutdown_timeout: must be positive, like \"30s\"")
	}
	if c.Log.File != "" {
		c.Log.File = c.Path(c.Log.File)
	}
	if c.Log.RawlogDir == "" {
		return errors.New("log.rawlog_dir: must not be empty")
	}
	c.Log.RawlogDir = c.Path(c.Log.RawlogDir)
	for _, u := range c.Log.RawlogUsers {
		// Each names a directory beneath rawlog_dir.
		if u == "" || u == "." || u == ".." || strings.ContainsAny(u, "/\x00") {
			return fmt.Errorf("log.rawlog_users: %q is not a user name", u)
		}
	}
	if c.LMTP.MaxMessageSize <= 0 {
		return errors.New("lmtp.max_message_size: must be positive")
	}
	if c.LMTP.MaxLineLength < 1000 {
		return errors.New("lmtp.max_line_length: must be at least 1000 (RFC 5322 allows 998 octets plus CRLF)")
	}
	if c.LMTP.MaxRecipients <= 0 {
		return errors.New("lmtp.max_recipients: must be positive")
	}
	if c.LMTP.ReadTimeout <= 0 || c.LMTP.WriteTimeout <= 0 {
		return errors.New("lmtp.read_timeout, lmtp.write_timeout: must be positive")
	}
	if err := c.Quota.resolve(); err != nil {
		return err
	}
	if c.Metrics.Listen != "" {
		if c.Metrics.Listen, err = listenAddr("metrics.listen", c.Metrics.Listen); err != nil {
			return err
		}
	}
	return c.resolveSieve()
}

// resolveLimits checks the connection and mailbox limits: counts, 0
// meaning none.
func (c *Config) resolveLimits() error {
	for _, p := range []struct {
		key string
		v   int
	}{{"server.max_connections", c.Server.MaxConnections},
		{"server.max_connections_per_address", c.Server.MaxConnectionsPerAddress},
		{"imap.max_connections_per_user_address", c.IMAP.MaxConnectionsPerUserAddress},
		{"pop3.max_connections_per_user_address", c.POP3.MaxConnectionsPerUserAddress},
		{"managesieve.max_connections_per_user_address", c.ManageSieve.MaxConnectionsPerUserAddress},
		{"mail.max_mailboxes", c.Mail.MaxMailboxes}, {"mail.max_mailbox_depth", c.Mail.MaxMailboxDepth}} {
		if p.v < 0 {
			return fmt.Errorf("%s: must not be negative (0 means none)", p.key)
		}
	}
	return nil
}

func (c *Config) resolveSieve() error {
	sv := &c.Sieve
	if sv.Dir == "" {
		return errors.New("sieve.dir: must not be empty")
	}
	sv.Dir = c.Path(sv.Dir)
	for _, list := range []struct {
		key   string
		paths []string
	}{{"sieve.before", sv.Before}, {"sieve.after", sv.After}} {
		for i, p := range list.paths {
			if p == "" {
				return fmt.Errorf("%s: an empty path", list.key)
			}
			list.paths[i] = c.Path(p)
		}
	}
	if sv.GlobalDir != "" {
		sv.GlobalDir = c.Path(sv.GlobalDir)
	}
	if sv.Relay != "" {
		if _, _, err := net.SplitHostPort(sv.Relay); err != nil {
			return fmt.Errorf("sieve.relay: %q: %w", sv.Relay, err)
		}
	}
	switch f := sv.RedirectEnvelopeFrom; {
	case f == "" || f == "sender" || f == "recipient":
	case strings.Count(f, "@") == 1 && !strings.ContainsAny(f, "<> \t\r\n"):
	default:
		return fmt.Errorf("sieve.redirect_envelope_from: %q: want \"sender\", \"recipient\" or an address", f)
	}
	if sv.MaxScriptSize <= 0 || sv.MaxScriptSize > 64<<20 {
		return errors.New("sieve.max_script_size: must be positive and at most 64M")
	}
	for _, p := range []struct {
		key string
		v   int
		min int
	}{{"sieve.max_scripts", sv.MaxScripts, 0}, {"sieve.max_actions", sv.MaxActions, 1},
		{"sieve.max_redirects", sv.MaxRedirects, 0}, {"sieve.max_vacation_replies", sv.MaxVacations, 0},
		{"sieve.max_steps", sv.MaxSteps, 100}} {
		if p.v < p.min {
			return fmt.Errorf("%s: must be at least %d", p.key, p.min)
		}
	}
	if sv.RunTimeout <= 0 {
		return errors.New("sieve.run_timeout: must be positive")
	}
	if sv.SpamMax <= 0 || sv.VirusMax <= 0 {
		return errors.New("sieve.spam_max, sieve.virus_max: must be positive")
	}
	if strings.ContainsAny(sv.SpamHeader+sv.VirusHeader, ": \t\r\n") {
		return errors.New("sieve.spam_header, sieve.virus_header: a header field name, without the colon")
	}
	if c.ManageSieve.AuthFailDelay < 0 {
		return errors.New("managesieve.auth_fail_delay: must not be negative")
	}
	if c.ManageSieve.IdleTimeout <= 0 {
		return errors.New("managesieve.idle_timeout: must be positive")
	}
	return nil
}

func (c *Config) resolveTLS() error {
	t := &c.TLS
	if (t.Cert == "") != (t.Key == "") {
		return errors.New("tls.cert, tls.key: set both or neither")
	}
	if t.Cert == "" && len(t.Certs) > 0 {
		return errors.New("tls.certs: set tls.cert and tls.key first (the default certificate)")
	}
	if t.Cert != "" {
		t.Cert, t.Key = c.Path(t.Cert), c.Path(t.Key)
	}
	for i := range t.Certs {
		p := &t.Certs[i]
		if p.Cert == "" || p.Key == "" {
			return fmt.Errorf("tls.certs[%d]: cert and key are both needed", i)
		}
		p.Cert, p.Key = c.Path(p.Cert), c.Path(p.Key)
	}
	if !t.Enabled() && len(c.IMAP.ListenTLS)+len(c.POP3.ListenTLS) > 0 {
		return errors.New("imap.listen_tls, pop3.listen_tls: need a certificate ([tls] cert and key)")
	}
	if _, err := auth.ParseNetworks(c.Auth.TrustedNetworks); err != nil {
		return fmt.Errorf("auth.trusted_networks: %w", err)
	}
	if c.Auth.MaxParallelVerifications < 0 {
		return errors.New("auth.max_parallel_verifications: must not be negative (0: one per CPU)")
	}
	return c.resolveAuth()
}

// TrustedNetworks is auth.trusted_networks parsed (resolve checked it).
func (c *Config) TrustedNetworks() auth.Networks {
	n, _ := auth.ParseNetworks(c.Auth.TrustedNetworks)
	return n
}

func (q *Quota) resolve() error {
	if q.Messages < 0 {
		return errors.New("quota.messages: must not be negative (0 means none)")
	}
	if _, err := q.Limits(); err != nil {
		return fmt.Errorf("quota.rules: %w", err)
	}
	for _, w := range q.Warnings {
		if w <= 0 || w > 100 {
			return fmt.Errorf("quota.warnings: %d is not a percentage from 1 to 100", w)
		}
	}
	if q.Root == "" {
		return errors.New("quota.root: must not be empty (Apple Mail hides a quota without a name)")
	}
	if q.PolicyListen != "" {
		var err error
		if q.PolicyListen, err = listenAddr("quota.policy_listen", q.PolicyListen); err != nil {
			return err
		}
	}
	for _, p := range []struct{ key, v string }{{"policy_success", q.PolicySuccess}, {"policy_overquota", q.PolicyOverQuota}, {"policy_nouser", q.PolicyNoUser}} {
		if p.v == "" || strings.ContainsAny(p.v, "\r\n") {
			return fmt.Errorf("quota.%s: must be one line of text, like Postfix's access(5) actions", p.key)
		}
	}
	return nil
}

// Path resolves p against DataDir.
func (c *Config) Path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.DataDir, p)
}

// SocketPerm is LMTP.SocketMode as a file mode.
func (c *Config) SocketPerm() os.FileMode {
	m, _ := strconv.ParseUint(c.LMTP.SocketMode, 8, 32)
	return os.FileMode(m)
}

// SocketOwner is the uid and gid lmtp.socket_user and socket_group name,
// -1 for each that is not set.
func (c *Config) SocketOwner() (uid, gid int, err error) {
	uid, gid = -1, -1
	if n := c.LMTP.SocketUser; n != "" {
		u, err := user.Lookup(n)
		if err != nil {
			if u, err = user.LookupId(n); err != nil {
				return 0, 0, fmt.Errorf("lmtp.socket_user: %q: no such user", n)
			}
		}
		uid, _ = strconv.Atoi(u.Uid)
	}
	if n := c.LMTP.SocketGroup; n != "" {
		g, err := user.LookupGroup(n)
		if err != nil {
			if g, err = user.LookupGroupId(n); err != nil {
				return 0, 0, fmt.Errorf("lmtp.socket_group: %q: no such group", n)
			}
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	return uid, gid, nil
}

// RunAs is the uid and gid server.user and server.group name; ok is
// false when server.user is empty (the process stays as it started).
func (c *Config) RunAs() (uid, gid int, ok bool, err error) {
	n := c.Server.User
	if n == "" {
		if c.Server.Group != "" {
			return 0, 0, false, errors.New("server.group: needs server.user")
		}
		return -1, -1, false, nil
	}
	u, err := user.Lookup(n)
	if err != nil {
		if u, err = user.LookupId(n); err != nil {
			return 0, 0, false, fmt.Errorf("server.user: %q: no such user", n)
		}
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	if uid == 0 {
		return 0, 0, false, fmt.Errorf("server.user: %q is root: name an unprivileged user (or leave it empty)", n)
	}
	if g := c.Server.Group; g != "" {
		grp, err := user.LookupGroup(g)
		if err != nil {
			if grp, err = user.LookupGroupId(g); err != nil {
				return 0, 0, false, fmt.Errorf("server.group: %q: no such group", g)
			}
		}
		gid, _ = strconv.Atoi(grp.Gid)
	}
	return uid, gid, true, nil
}

// AccessGIDs are the gids server.access_groups names, in order, without
// repeats.
func (c *Config) AccessGIDs() ([]int, error) {
	if len(c.Server.AccessGroups) > 0 && c.Server.User == "" {
		return nil, errors.New("server.access_groups: needs server.user")
	}
	var gids []int
	for _, g := range c.Server.AccessGroups {
		grp, err := user.LookupGroup(g)
		if err != nil {
			if grp, err = user.LookupGroupId(g); err != nil {
				return nil, fmt.Errorf("server.access_groups: %q: no such group", g)
			}
		}
		gid, _ := strconv.Atoi(grp.Gid)
		if !slices.Contains(gids, gid) {
			gids = append(gids, gid)
		}
	}
	return gids, nil
}

// Write prints the configuration as TOML.
func (c *Config) Write(w io.Writer) error {
	return toml.NewEncoder(w).Encode(c)
}

// Size is a byte count written as 1048576, "50M", "50MiB" or "1G".
type Size int64

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = Size(v)
	return nil
}

// UnmarshalTOML accepts plain integers as well as strings.
func (s *Size) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case int64:
		if x < 0 {
			return fmt.Errorf("size %d is negative", x)
		}
		*s = Size(x)
		return nil
	case string:
		return s.UnmarshalText([]byte(x))
	}
	return fmt.Errorf("size must be a number or a string like \"50M\", not %T", v)
}

// MarshalText prints the size in the largest exact binary unit.
func (s Size) MarshalText() ([]byte, error) {
	v := int64(s)
	for _, u := range []struct {
		suffix string
		n      int64
	}{{"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if v >= u.n && v%u.n == 0 {
			return []byte(strconv.FormatInt(v/u.n, 10) + u.suffix), nil
		}
	}
	return []byte(strconv.FormatInt(v, 10)), nil
}

// ParseSize reads "123", "50K", "50M", "2G" (binary units; "MiB"/"MB"
// spellings accepted).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(strings.ToUpper(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		n      int64
	}{{"GIB", 1 << 30}, {"MIB", 1 << 20}, {"KIB", 1 << 10}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.n
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size like 1048576, \"50M\" or \"1G\"", s)
	}
	return n * mult, nil
}

// Duration is a time.Duration written as "10m" or "30s".
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration like \"30s\" or \"10m\"", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
