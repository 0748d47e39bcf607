package sieve

import (
	"context"
	"time"
)

// Action is one thing the script asks for. The caller performs them in
// order; the interpreter only collects them.
type Action interface{ action() }

// Keep stores the message in the user's default mailbox (RFC 5228 §4.3).
type Keep struct {
	Flags []string // RFC 5232 §5; nil: none
}

// FileInto stores the message in Mailbox (RFC 5228 §4.1). Create asks
// for the mailbox to be created if missing (RFC 5490 §3.2); without it
// a missing mailbox is the caller's error, and an implicit keep. Copy
// (RFC 3894) only records that the implicit keep was not cancelled.
type FileInto struct {
	Mailbox string
	Flags   []string
	Copy    bool
	Create  bool
}

// Redirect forwards the message to Address, an addr-spec (RFC 5228 §4.2).
type Redirect struct {
	Address string
	Copy    bool
}

// Discard records that the script discarded the message (RFC 5228 §4.4).
// It carries no work: it only cancelled the implicit keep.
type Discard struct{}

// Reject refuses the message with Reason (RFC 5429). Extended is ereject,
// which asks for an SMTP-level refusal; storaged refuses in the LMTP
// session for both.
type Reject struct {
	Reason   string
	Extended bool
}

// Vacation asks for an auto-reply (RFC 5230). The caller decides whether
// to send: NoReplyReason applies RFC 3834 and RFC 5230 §4.5, and the
// caller keeps the per-sender memory of Handle for Period.
type Vacation struct {
	Reason    string
	Subject   string // "" when the script gave none
	From      string // "" when the script gave none
	Addresses []string
	MIME      bool
	// Handle identifies this vacation for the response memory: :handle,
	// or the reason, subject, from and :mime together as Pigeonhole
	// builds it (RFC 5230 §4.2).
	Handle string
	Period time.Duration
}

func (Keep) action()     {}
func (FileInto) action() {}
func (Redirect) action() {}
func (Discard) action()  {}
func (Reject) action()   {}
func (Vacation) action() {}

// Result is what a run decided.
type Result struct {
	Actions []Action
	// ImplicitKeep is true when nothing cancelled the implicit keep (RFC
	// 5228 §2.10.2): the caller keeps the message, with ImplicitKeepFlags
	// (the imap4flags internal variable at the end of the run).
	ImplicitKeep      bool
	ImplicitKeepFlags []string
	// Header is the message header after editheader changed it; nil when
	// no edit was made. FormatHeader writes it back.
	Header []Field
	// Duplicates are the ids the duplicate test looked up (RFC 7352). The
	// caller records them once the message is delivered, so a failed
	// delivery is not taken for a seen one.
	Duplicates []DuplicateMark
}

// DuplicateMark is one id to remember: until now+Period; Last marks a
// :last test, whose memory is renewed on every match.
type DuplicateMark struct {
	Key    string
	Period time.Duration
	Last   bool
}

// DuplicateTracker answers whether an id was recorded before and has not
// expired. Keys are opaque, already hashed with the handle.
type DuplicateTracker interface {
	Seen(ctx context.Context, key string) (bool, error)
}

// RunLimits bound one run. Zero values take the defaults in brackets.
type RunLimits struct {
	MaxActions      int // actions in the result [32, Pigeonhole's sieve_max_actions]
	MaxRedirects    int // redirect actions [4, sieve_max_redirects]
	MaxSteps        int // commands, tests and comparisons executed [100000]
	MaxVariableSize int // bytes of one variable value [4096]
	MaxVariables    int // variables per script scope [255]
	MaxStringSize   int // bytes of an expanded string [65536]
	MaxBodySize     int // bytes of body the body test reads [1 MiB]
}

func (l RunLimits) withDefaults() RunLimits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxActions, 32)
	def(&l.MaxRedirects, 4)
	def(&l.MaxSteps, 100000)
	def(&l.MaxVariableSize, 4096)
	def(&l.MaxVariables, 255)
	def(&l.MaxStringSize, 64<<10)
	def(&l.MaxBodySize, 1<<20)
	return l
}

// Env is what a run knows besides the message.
type Env struct {
	// From is the envelope sender (MAIL FROM), "" for the null path <>.
	// To is the envelope recipient (RCPT TO), OrigTo the original one
	// (ORCPT) when known, Auth the authenticated submitter if any.
	From, To, OrigTo, Auth string
	// UserAddresses are the user's own addresses: vacation answers only
	// mail sent to one of them (RFC 5230 §4.5).
	UserAddresses []string
	// Environment holds RFC 5183 items by lower-case name: domain, host,
	// location, name, phase, remote-host, remote-ip, version.
	Environment map[string]string
	// Duplicates serves the duplicate test; nil: nothing was seen.
	Duplicates DuplicateTracker
	// MailboxExists serves mailboxexists; nil: no mailbox exists.
	MailboxExists func(name string) bool
	// Now is the current time (currentdate, default zone of date); zero:
	// time.Now(). Its location is the default zone.
	Now time.Time
	// Spam and Virus say where spamtest and virustest read their score;
	// nil: the message counts as not tested.
	Spam, Virus *ScoreConfig
	Limits      RunLimits
}
