package collective

import (
	"sync"
	"time"

	"go.uber.org/zap"
)

// LocalOptions configure an in-memory communicator; zero values take the
// defaults of Config.
type LocalOptions struct {
	Job, Name  string
	Timeout    time.Duration
	MaxPayload int // largest message in bytes (default 1 MiB), so chunking is the same as over NATS
	Fanout     int // children per rank in the tree (default DefaultFanout)
	Logger     *zap.Logger
}

// NewLocal returns n connected in-memory communicators, for n goroutines of
// one process (ranks 0..n-1). They run the same protocol as the NATS
// communicator, with message delivery done by direct calls.
func NewLocal(n int) []Comm { return NewLocalWith(n, LocalOptions{}) }

// NewLocalWith is NewLocal with options.
func NewLocalWith(n int, o LocalOptions) []Comm {
	if n < 1 {
		panic("collective: NewLocal needs at least one rank")
	}
	cfg := Config{Job: o.Job, Name: o.Name, Timeout: o.Timeout}.withDefaults()
	if cfg.Job == "" {
		cfg.Job = "local"
	}
	maxPayload := o.MaxPayload
	if maxPayload <= 0 {
		maxPayload = 1 << 20
	}
	h := &hub{comms: make([]*comm, n), maxPayload: maxPayload}
	out := make([]Comm, n)
	for r := range n {
		c := newComm(r, n, cfg.Job, cfg.Name, o.Fanout, cfg.Timeout, o.Logger)
		c.joined = true // every rank listens from the start: no handshake
		h.comms[r] = c
		out[r] = c
	}
	for r, c := range h.comms {
		c.attach(&localLink{hub: h, rank: r})
	}
	return out
}

// hub connects the in-memory communicators of one NewLocal call.
type hub struct {
	comms      []*comm // fixed at creation
	maxPayload int

	mu     sync.Mutex // guards closed
	closed []bool     // by rank: closed ranks receive nothing
}

func (h *hub) isClosed(rank int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed != nil && h.closed[rank]
}

type localLink struct {
	hub  *hub
	rank int
}

func (l *localLink) toAll(b []byte) error {
	for r := range l.hub.comms {
		if r != l.rank {
			l.deliver(r, b)
		}
	}
	return nil
}

func (l *localLink) toRank(rank int, b []byte) error {
	l.deliver(rank, b)
	return nil
}

// deliver hands a copy (the sender reuses b) to rank, unless either side
// is closed: like a process that is gone.
func (l *localLink) deliver(rank int, b []byte) {
	if l.hub.isClosed(rank) || l.hub.isClosed(l.rank) {
		return
	}
	l.hub.comms[rank].deliver(append([]byte(nil), b...))
}

func (l *localLink) maxPayload() int { return l.hub.maxPayload }
func (l *localLink) flush() error    { return nil }

func (l *localLink) close() error {
	l.hub.mu.Lock()
	defer l.hub.mu.Unlock()
	if l.hub.closed == nil {
		l.hub.closed = make([]bool, len(l.hub.comms))
	}
	l.hub.closed[l.rank] = true
	return nil
}
