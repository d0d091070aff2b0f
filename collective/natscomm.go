package collective

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	neturl "net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
)

// Defaults of Config.
const (
	DefaultName        = "world"
	DefaultTimeout     = 30 * time.Second
	DefaultJoinTimeout = 60 * time.Second
)

// Config configures a communicator.
type Config struct {
	Rank, Size int
	// Job tells concurrent jobs apart; Name tells communicators of one job
	// apart (default "world"). Both are subject tokens: 1 to 128 letters,
	// digits, '-' or '_'.
	Job, Name string
	// URL of the NATS server(s), comma-separated; not needed for one rank.
	URL string
	// Timeout bounds every collective, from the call on this rank until
	// it has what it needs (default 30 s): a rank that is later than that
	// to the same collective fails the job. A rank waiting for a root alone
	// (bcast data, barrier release, gather done) waits a quarter longer, so
	// the root, which waits for everyone, names the missing rank first.
	Timeout time.Duration
	// JoinTimeout bounds connecting and the startup handshake (default 60 s).
	JoinTimeout time.Duration
	// Fanout is the number of children of a rank in the collectives' tree
	// (default DefaultFanout); every rank of a job must use the same.
	Fanout int
	Auth   Auth
	Logger *zap.Logger // nil: no logging
}

// Auth holds the NATS credentials and TLS files, passed to the client as
// they are. At most one of Token, User/Password, NkeySeedFile, CredsFile.
type Auth struct {
	Token          string
	User, Password string
	NkeySeedFile   string // an nkey seed file (nats.NkeyOptionFromSeed)
	CredsFile      string // a JWT credentials file (nats.UserCredentials)
	CAFile         string // verify the server with this CA
	CertFile       string // client certificate, with KeyFile
	KeyFile        string
}

func (cfg Config) withDefaults() Config {
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.JoinTimeout <= 0 {
		cfg.JoinTimeout = DefaultJoinTimeout
	}
	return cfg
}

func (cfg Config) validate() error {
	if cfg.Size < 1 || cfg.Rank < 0 || cfg.Rank >= cfg.Size {
		return fmt.Errorf("collective: rank %d of %d", cfg.Rank, cfg.Size)
	}
	for _, n := range []struct{ what, v string }{{"job", cfg.Job}, {"communicator name", cfg.Name}} {
		if n.v == "" || len(n.v) > maxName || subjectToken(n.v) != n.v {
			return fmt.Errorf("collective: %s %q: want 1 to %d letters, digits, '-' or '_'", n.what, n.v, maxName)
		}
	}
	return nil
}

func (a Auth) options() ([]nats.Option, error) {
	var opts []nats.Option
	n := 0
	if a.Token != "" {
		n++
		opts = append(opts, nats.Token(a.Token))
	}
	if a.User != "" || a.Password != "" {
		n++
		opts = append(opts, nats.UserInfo(a.User, a.Password))
	}
	if a.NkeySeedFile != "" {
		n++
		o, err := nats.NkeyOptionFromSeed(a.NkeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("collective: nkey seed %s: %w", a.NkeySeedFile, err)
		}
		opts = append(opts, o)
	}
	if a.CredsFile != "" {
		n++
		opts = append(opts, nats.UserCredentials(a.CredsFile))
	}
	if n > 1 {
		return nil, errors.New("collective: give one of token, user/password, nkey seed, creds file")
	}
	if a.CAFile != "" {
		opts = append(opts, nats.RootCAs(a.CAFile))
	}
	if (a.CertFile == "") != (a.KeyFile == "") {
		return nil, errors.New("collective: a TLS client certificate needs both cert and key files")
	}
	if a.CertFile != "" {
		opts = append(opts, nats.ClientCert(a.CertFile, a.KeyFile))
	}
	return opts, nil
}

// Open returns the communicator cfg describes: for one rank an in-process
// one (no NATS), else a NATS one, once every rank has joined.
func Open(ctx context.Context, cfg Config) (Comm, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Size == 1 {
		return NewLocalWith(1, LocalOptions{Job: cfg.Job, Name: cfg.Name, Timeout: cfg.Timeout, Logger: cfg.Logger})[0], nil
	}
	if cfg.URL == "" {
		return nil, fmt.Errorf("collective: %d ranks need a NATS server URL (flag or %s)", cfg.Size, EnvURL)
	}
	opts, err := cfg.Auth.options()
	if err != nil {
		return nil, err
	}
	c := newComm(cfg.Rank, cfg.Size, cfg.Job, cfg.Name, cfg.Fanout, cfg.Timeout, cfg.Logger)
	var server atomic.Value // redacted URL of the server connected to
	server.Store(Redact(cfg.URL))
	lost := func(err error) error {
		if err == nil {
			return fmt.Errorf("%w at %s", ErrConnLost, server.Load())
		}
		return fmt.Errorf("%w at %s: %v", ErrConnLost, server.Load(), err)
	}
	opts = append(opts,
		nats.Name(fmt.Sprintf("pw %s/%s rank %d", cfg.Job, cfg.Name, cfg.Rank)),
		nats.NoEcho(),
		// Messages in flight when a connection breaks are lost: the
		// communicator fails at once. The client still reconnects (to
		// another server of a cluster, if it can), so that the abort this
		// rank sends gets out.
		nats.ClosedHandler(func(*nats.Conn) { c.connLost(lost(nil)) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			err = lost(err)
			c.log.Warn("NATS connection lost", zap.Error(err))
			c.connLost(err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { server.Store(Redact(nc.ConnectedUrl())) }),
		// Soon, to another server of the cluster if there is one, so the
		// abort reaches the ranks on the others within their timeout.
		nats.ReconnectWait(100*time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, 100*time.Millisecond),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			c.connLost(fmt.Errorf("collective: NATS at %s: %w", server.Load(), err))
		}),
	)
	nc, err := connect(ctx, cfg.URL, cfg.JoinTimeout, opts)
	if err != nil {
		return nil, err
	}
	server.Store(Redact(nc.ConnectedUrl()))
	if err := c.start(ctx, nc, true, cfg.JoinTimeout); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// New returns a NATS communicator over an open connection, which Close
// leaves open. The connection should have been made with nats.NoEcho (else
// every rank also receives its own broadcasts, which are dropped, at a cost).
func New(ctx context.Context, nc *nats.Conn, cfg Config) (Comm, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := newComm(cfg.Rank, cfg.Size, cfg.Job, cfg.Name, cfg.Fanout, cfg.Timeout, cfg.Logger)
	if err := c.start(ctx, nc, false, cfg.JoinTimeout); err != nil {
		return nil, err
	}
	return c, nil
}

// connectRetry is the first pause between attempts to reach a server; it
// doubles up to connectRetryMax, with jitter, so that thousands of ranks
// starting together do not retry in step.
const (
	connectRetry    = 100 * time.Millisecond
	connectRetryMax = 2 * time.Second
)

func connect(ctx context.Context, url string, within time.Duration, opts []nats.Option) (*nats.Conn, error) {
	deadline := time.Now().Add(within)
	pause := connectRetry
	for {
		nc, err := nats.Connect(url, opts...)
		if err == nil {
			return nc, nil
		}
		// A server that is not up yet or too busy to answer in time is
		// worth waiting for; bad credentials or certificates stay bad.
		wait := pause/2 + jitter(pause)
		if permanent(err) || !time.Now().Add(wait).Before(deadline) {
			return nil, fmt.Errorf("collective: connect to %s: %w", Redact(url), err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("collective: connect to %s: %w", Redact(url), ctx.Err())
		case <-time.After(wait):
		}
		pause = min(2*pause, connectRetryMax)
	}
}

// permanent reports whether a connect error will not go away by retrying.
func permanent(err error) bool {
	var certErr *tls.CertificateVerificationError
	return errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) ||
		errors.Is(err, nats.ErrAuthRevoked) || errors.Is(err, nats.ErrSecureConnRequired) ||
		errors.Is(err, nats.ErrSecureConnWanted) || errors.As(err, &certErr) ||
		strings.Contains(err.Error(), "Authorization Violation") || strings.Contains(err.Error(), "x509:")
}

// Redact returns the URLs (comma-separated) without their user
// information: what may be printed or logged of a URL that carries a token
// or a password.
func Redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		u, err := neturl.Parse(p)
		switch {
		case err == nil && u.User != nil:
			u.User = neturl.User("REDACTED")
			parts[i] = u.String()
		case err != nil && strings.Contains(p, "@"):
			parts[i] = "REDACTED@" + p[strings.LastIndex(p, "@")+1:]
		default:
			parts[i] = p
		}
	}
	return strings.Join(parts, ",")
}

// start subscribes c on nc and runs the startup handshake.
func (c *comm) start(ctx context.Context, nc *nats.Conn, own bool, joinTimeout time.Duration) error {
	base := "pw." + c.job + "." + c.name + "."
	l := &natsLink{nc: nc, own: own, all: base + "all", ranks: make([]string, c.size)}
	for r := range l.ranks {
		l.ranks[r] = base + strconv.Itoa(r)
	}
	c.attach(l)
	claim := base + "claim." + strconv.Itoa(c.rank)
	if err := c.claim(nc, claim, joinTimeout); err != nil {
		return err
	}
	deliver := func(m *nats.Msg) { c.deliver(m.Data) }
	for _, s := range []struct {
		subj string
		h    nats.MsgHandler
	}{{l.all, deliver}, {l.ranks[c.rank], deliver}, {claim, c.answerClaim}} {
		sub, err := nc.Subscribe(s.subj, s.h)
		if err == nil {
			// The protocol bounds what is in flight; never drop messages.
			err = sub.SetPendingLimits(-1, -1)
		}
		if err != nil {
			l.unsubscribe()
			return fmt.Errorf("collective: subscribe %s: %w", s.subj, err)
		}
		l.subs = append(l.subs, sub)
	}
	if err := nc.FlushTimeout(joinTimeout); err != nil {
		l.unsubscribe()
		return fmt.Errorf("collective: subscribe on %s: %w", Redact(nc.ConnectedUrl()), err)
	}
	if err := c.join(ctx, joinTimeout); err != nil {
		l.unsubscribe()
		return err
	}
	c.log.Debug("joined", zap.Int("size", c.size), zap.Int("max_payload", l.maxPayload()))
	return nil
}

// claimWait bounds the wait for an answer to a claim. The server answers a
// request nobody listens to at once ("no responders"), and a holder answers
// from its own subscription's goroutine, so only a server without that
// feature, or one under extreme load, makes a claim wait this long.
const claimWait = 2 * time.Second

// claim asks, before c listens on anything, whether another process holds
// c's rank: it requests on the rank's claim subject with c's nonce. No
// responders: the rank is free. An answer: a holder is there (and, told by
// the request, fails its own job, see answerClaim), so c fails at once
// without sending a collective message. No answer within claimWait (a
// server without "no responders"): c goes on, and the nonce check catches a
// duplicate as soon as their messages meet. Two processes that claim one
// rank at the same moment both find it free; the nonce check catches them.
func (c *comm) claim(nc *nats.Conn, subj string, joinTimeout time.Duration) error {
	if !nc.HeadersSupported() { // no "no responders" without headers
		return nil
	}
	var req [8]byte
	binary.LittleEndian.PutUint64(req[:], c.nonce)
	_, err := nc.Request(subj, req[:], min(claimWait, max(joinTimeout/2, time.Millisecond)))
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return nil
	case errors.Is(err, nats.ErrTimeout):
		c.log.Debug("no answer to the rank's claim; going on", zap.String("subject", subj))
		return nil
	case err != nil:
		return fmt.Errorf("collective: claim rank %d on %s: %w", c.rank, Redact(nc.ConnectedUrl()), err)
	}
	return duplicatef(c.rank, c.job, c.name, "a running process answered this one's claim")
}

// answerClaim answers a claim on c's rank with c's nonce, and fails c
// when the claimant is another process.
func (c *comm) answerClaim(m *nats.Msg) {
	if len(m.Data) != 8 {
		return // not a claim
	}
	var nonce [8]byte
	binary.LittleEndian.PutUint64(nonce[:], c.nonce)
	if err := m.Respond(nonce[:]); err != nil {
		c.log.Debug("cannot answer a claim", zap.Error(err))
	}
	c.claimedBy(binary.LittleEndian.Uint64(m.Data))
}

// natsLink: one subject all ranks subscribe to, one per rank, and one per
// rank for claims.
type natsLink struct {
	nc    *nats.Conn
	own   bool     // Close closes nc
	all   string   // pw.<job>.<comm>.all
	ranks []string // pw.<job>.<comm>.<rank>
	subs  []*nats.Subscription
}

func (l *natsLink) toAll(b []byte) error            { return l.nc.Publish(l.all, b) }
func (l *natsLink) toRank(rank int, b []byte) error { return l.nc.Publish(l.ranks[rank], b) }
func (l *natsLink) maxPayload() int                 { return int(l.nc.MaxPayload()) }

// flush waits for the server's answer, unless the connection is down:
// then what was sent waits in the client's buffer for a reconnection, and
// waiting here would only delay the error.
func (l *natsLink) flush() error {
	if !l.nc.IsConnected() {
		return nil
	}
	return l.nc.FlushTimeout(5 * time.Second)
}

func (l *natsLink) unsubscribe() {
	for _, s := range l.subs {
		_ = s.Unsubscribe() // fails only if already gone
	}
	l.subs = nil
}

func (l *natsLink) close() error {
	if l.own {
		// Drain would wait for messages nobody needs any more.
		l.nc.Close()
		return nil
	}
	l.unsubscribe()
	return nil
}
