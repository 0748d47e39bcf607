package store

import "sync"

// EventKind says what changed.
type EventKind uint8

const (
	Added    EventKind = iota + 1 // UIDs were appended
	Expunged                      // UIDs were removed
	FlagsSet                      // UIDs have new flags
	Renamed                       // the mailbox has a new name (Name, OldName)
	Removed                       // the mailbox was deleted (Name)
	Created                       // the mailbox was created (Name)
	// Account events, published with Mailbox 0 to SubscribeAccount's
	// subscribers only.
	Subscribed      // Name was subscribed
	Unsubscribed    // Name was unsubscribed
	MetadataChanged // METADATA Entries of mailbox Name ("": the server's) changed
)

// Index rebuilds (rebuild.go).
const (
	Rebuilt            EventKind = iota + 20 // the index was rebuilt in place: views read it again
	UIDValidityChanged                       // rebuilt under a new UIDVALIDITY: views are void
)

// Event is one committed change to one mailbox.
type Event struct {
	Mailbox uint64 // index mailbox id
	Kind    EventKind
	UIDs    []uint32
	// ModSeq is the mailbox's HIGHESTMODSEQ after the change; for
	// Expunged, exactly the MODSEQ of the expunge, the one its
	// tombstones keep (a View holds it while it withholds the expunge).
	ModSeq uint64
	// Origin is the subscription whose owner made the change (nil for
	// deliveries and external changes), so a session can skip its own.
	Origin *Sub
	// Keywords are those the change set: every session announces them
	// (an untagged FLAGS) even when the message is gone before it could
	// be shown, as clients expect a mailbox's keywords never to shrink.
	Keywords []string
	// Name is the mailbox's name for Renamed, Removed, Created and the
	// account events; OldName its name before a Renamed; Entries the
	// METADATA entry names a MetadataChanged changed.
	Name, OldName string
	Entries       []string
}

// accountWide is the mailbox id SubscribeAccount subscribes to: no
// mailbox has it (index ids start at 1).
const accountWide = 0

// maxQueued bounds the events a subscriber may leave unread; past it the
// subscriber is told to resynchronise from the index instead.
const maxQueued = 4096

// Hub fans events out to the subscribers of each mailbox.
type Hub struct {
	mu   sync.Mutex
	subs map[uint64]map[*Sub]struct{}
}

// Sub is one subscriber's queue of events for one mailbox.
type Sub struct {
	hub     *Hub
	mailbox uint64
	// C has a value whenever events are waiting.
	C chan struct{}

	mu       sync.Mutex
	queue    []Event
	overflow bool
}

// Subscribe starts queueing the events of a mailbox.
func (h *Hub) Subscribe(mailbox uint64) *Sub {
	s := &Sub{hub: h, mailbox: mailbox, C: make(chan struct{}, 1)}
	h.mu.Lock()
	if h.subs == nil {
		h.subs = make(map[uint64]map[*Sub]struct{})
	}
	if h.subs[mailbox] == nil {
		h.subs[mailbox] = make(map[*Sub]struct{})
	}
	h.subs[mailbox][s] = struct{}{}
	h.mu.Unlock()
	return s
}

// Watched tells whether anyone is subscribed to the mailbox's events
// (or to the whole account's).
func (h *Hub) Watched(mailbox uint64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs[mailbox]) > 0 || len(h.subs[accountWide]) > 0
}

// SubscribeAccount starts queueing the events of every mailbox of the
// account and the account's own (NOTIFY, RFC 5465): one queue, bounded
// like the others.
func (h *Hub) SubscribeAccount() *Sub { return h.Subscribe(accountWide) }

// Close stops the subscription.
func (s *Sub) Close() {
	h := s.hub
	h.mu.Lock()
	delete(h.subs[s.mailbox], s)
	if len(h.subs[s.mailbox]) == 0 {
		delete(h.subs, s.mailbox)
	}
	h.mu.Unlock()
}

// Take returns the waiting events. overflow means events were dropped and
// the subscriber must rebuild its view from the index.
func (s *Sub) Take() (events []Event, overflow bool) {
	s.mu.Lock()
	events, overflow = s.queue, s.overflow
	s.queue, s.overflow = nil, false
	s.mu.Unlock()
	return events, overflow
}

// Publish delivers an event to every subscriber of its mailbox and to
// the account's (SubscribeAccount).
func (h *Hub) Publish(e Event) {
	h.mu.Lock()
	subs := make([]*Sub, 0, len(h.subs[e.Mailbox])+len(h.subs[accountWide]))
	for s := range h.subs[e.Mailbox] {
		subs = append(subs, s)
	}
	if e.Mailbox != accountWide {
		for s := range h.subs[accountWide] {
			subs = append(subs, s)
		}
	}
	h.mu.Unlock()
	for _, s := range subs {
		s.mu.Lock()
		if len(s.queue) >= maxQueued {
			s.overflow, s.queue = true, nil
		} else if !s.overflow {
			s.queue = append(s.queue, e)
		}
		s.mu.Unlock()
		select {
		case s.C <- struct{}{}:
		default:
		}
	}
}
