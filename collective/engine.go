package collective

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"go.uber.org/zap"
)

// link carries encoded messages between the ranks of one communicator; the
// receiving side calls comm.deliver. Messages of one sender to one receiver
// arrive in the order sent (or not at all).
type link interface {
	toAll(b []byte) error            // to every other rank
	toRank(rank int, b []byte) error // to one rank
	maxPayload() int                 // largest message, in bytes
	flush() error                    // push out what was sent
	close() error
}

// DefaultFanout is the number of children of a rank in the tree that
// collects arrivals, acks and contributions (Config.Fanout).
const DefaultFanout = 8

// comm runs the protocol (package doc) over a link; both the NATS
// communicator and the in-memory twin are a comm.
type comm struct {
	rank, size int
	job, name  string
	jobName    []byte // job and name as the wire carries them
	commName   []byte
	nonce      uint64 // this process's random identity, in every message it sends
	fanout     int
	timeout    time.Duration
	log        *zap.Logger
	link       link
	chunk      int // payload bytes per message

	sendMu sync.Mutex // guards buf and enc: collectives and Abort both send
	buf    bytes.Buffer
	enc    *msgpack.Encoder

	// Owned by the goroutine running a collective.
	began time.Time   // start of the collective in progress
	timer *time.Timer // the deadline of a wait, stopped between waits
	kinds [2]kind     // the kinds the collective in progress receives
	root  int         // the root of the collective in progress
	from  []int       // the senders of the wait in progress, ascending
	parts []part      // by index in from
	taken []message   // scratch: the messages just taken from the queue
	kids  []int       // scratch: this rank's children in the tree

	mu     sync.Mutex // guards the fields below; deliver runs on the link's goroutines
	cur    uint64     // number of the collective in progress or last started
	done   uint64     // number of the last collective finished
	joined bool       // the startup handshake is over
	queue  []message  // messages of collectives > done, not yet taken
	peers  map[int]uint64
	fail   error // once set, every collective returns it
	told   bool  // the other ranks were sent an abort (or need none)
	closed bool
	wake   chan struct{} // capacity 1: deliver or Abort changed something
}

// part collects one sender's payload in the wait in progress.
type part struct {
	done   bool   // all its chunks arrived
	chunks uint32 // its chunk count, known from the first chunk
	got    uint32 // chunks arrived so far
	data   []byte
}

// maxPrealloc bounds the buffer reserved from a chunk count announced by a
// message, so a bad count cannot make us allocate without limit.
const maxPrealloc = 64 << 20

func newComm(rank, size int, job, name string, fanout int, timeout time.Duration, log *zap.Logger) *comm {
	if log == nil {
		log = zap.NewNop()
	}
	if fanout < 2 {
		fanout = DefaultFanout
	}
	c := &comm{
		rank: rank, size: size, job: job, name: name, fanout: fanout, timeout: timeout,
		jobName: []byte(job), commName: []byte(name), nonce: newNonce(),
		log:   log.With(zap.String("job", job), zap.String("comm", name), zap.Int("rank", rank)),
		peers: map[int]uint64{},
		wake:  make(chan struct{}, 1),
	}
	c.enc = msgpack.NewEncoder(&c.buf)
	c.timer = time.NewTimer(time.Hour)
	c.timer.Stop()
	return c
}

// newNonce draws a process identity; zero is never drawn, so that a
// crafted message without one is never mistaken for ours.
func newNonce() uint64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
		if n := binary.LittleEndian.Uint64(b[:]); n != 0 {
			return n
		}
	}
}

// jitter is a random duration in [0, d).
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	n, err := rand.Int(rand.Reader, big.NewInt(int64(d)))
	if err != nil {
		return d / 2
	}
	return time.Duration(n.Int64())
}

// attach sets the link; it must happen before any message flows.
func (c *comm) attach(l link) {
	c.link = l
	c.chunk = max(l.maxPayload()-headerRoom(c.job, c.name), 1)
}

func (c *comm) Rank() int { return c.rank }
func (c *comm) Size() int { return c.size }

func (c *comm) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func protocolf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

// What deliver does after deliverLocked, without the lock.
type reply int

const (
	noReply     reply = iota
	sendWelcome       // repeat the welcome to the sender
	sendAbort         // tell every rank the communicator broke
	sendFailure       // tell a process joining a broken communicator why it broke
)

// deliver takes one received message. It never blocks on the collective in
// progress: it checks what can be checked at once and queues the rest.
func (c *comm) deliver(data []byte) {
	var m message
	err := decodeMessage(data, &m)
	switch c.deliverLocked(&m, err) {
	case sendWelcome:
		// A hello after the handshake: its sender may have missed the
		// welcome (core NATS delivers at most once), so say it again.
		if err := c.send(m.From, kindWelcome, 0, nil); err != nil {
			c.log.Warn("cannot repeat the welcome", zap.Int("to", m.From), zap.Error(err))
		}
	case sendAbort:
		c.abortOthers()
	case sendFailure:
		c.mu.Lock()
		reason := c.fail.Error()
		c.mu.Unlock()
		if len(reason) > maxReason {
			reason = reason[:maxReason]
		}
		if err := c.send(m.From, kindAbort, 0, []byte(reason)); err != nil {
			c.log.Debug("cannot tell a joining rank of the failure", zap.Int("to", m.From), zap.Error(err))
		}
	}
}

// deliverLocked does deliver's work under c.mu.
func (c *comm) deliverLocked(m *message, err error) reply {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		// A process joining a broken communicator (a job with this job
		// id that failed, perhaps over the very rank it claims) would
		// otherwise wait out its join timeout: tell it.
		if err == nil && m.Kind == kindHello && !c.closed && m.Nonce != c.nonce && m.From < c.size &&
			string(m.Job) == c.job && string(m.Comm) == c.name {
			return sendFailure
		}
		return noReply
	}
	switch {
	case err != nil:
		c.fail = fmt.Errorf("%w: %w", ErrProtocol, err)
	case string(m.Job) != c.job || string(m.Comm) != c.name:
		c.fail = protocolf("foreign message (job %q, communicator %q, %s #%d from rank %d) on the subjects of job %q, communicator %q",
			m.Job, m.Comm, m.Kind.op(), m.Seq, m.From, c.job, c.name)
	case m.From >= c.size:
		c.fail = protocolf("%s #%d from rank %d reached rank %d of a %d-rank communicator",
			m.Kind.op(), m.Seq, m.From, c.rank, c.size)
	case m.From == c.rank && m.Nonce == c.nonce:
		return noReply // our own broadcast, echoed by a connection without NoEcho
	case !c.knownLocked(m):
		return c.duplicateLocked(m.From)
	case m.Kind == kindAbort:
		c.fail = &AbortError{Rank: m.From, Reason: string(m.Payload)}
	case m.Kind == kindHello && m.From == 0:
		return noReply // rank 0's announcement: its nonce is now known
	case m.Kind == kindHello && c.joined:
		if c.rank == 0 {
			return sendWelcome
		}
		return noReply
	case m.Kind == kindWelcome && c.joined:
		return noReply // a repeated welcome
	case c.joined && m.Seq <= c.done:
		c.fail = c.staleLocked(m)
	default:
		c.queue = append(c.queue, *m)
	}
	c.signal()
	return noReply
}

// duplicateLocked fails c because two processes claim rank: two jobs with
// one job id on one server, or a rank started twice. Nothing either sends
// can be trusted; the caller says so to everyone at once (abortOthers), as
// the duplicate may be waiting for a welcome.
func (c *comm) duplicateLocked(rank int) reply {
	c.fail = duplicatef(rank, c.job, c.name, "")
	c.told = true
	c.signal()
	return sendAbort
}

// duplicatef is the error of a rank claimed twice; why, if not empty, says
// how it was found.
func duplicatef(rank int, job, name, why string) error {
	if why != "" {
		why = " (" + why + ")"
	}
	return protocolf("two processes claim rank %d of job %q (communicator %q)%s: is another job running with the same job id on this NATS server?",
		rank, job, name, why)
}

// abortOthers tells every other rank why c failed.
func (c *comm) abortOthers() {
	c.mu.Lock()
	reason := c.fail.Error()
	c.mu.Unlock()
	c.log.Warn("communicator broken; aborting the other ranks", zap.String("reason", reason))
	c.sendAbort(reason)
}

// claimedBy fails c when another process (nonce) asks for its rank, which
// it holds: see claim.
func (c *comm) claimedBy(nonce uint64) {
	if nonce == c.nonce {
		return
	}
	c.mu.Lock()
	r := noReply
	if c.fail == nil {
		r = c.duplicateLocked(c.rank)
	}
	c.mu.Unlock()
	if r == sendAbort {
		c.abortOthers()
	}
}

// knownLocked records the identity of m's sender, and reports whether it
// is the one already heard from for that rank.
func (c *comm) knownLocked(m *message) bool {
	if m.From == c.rank {
		return false
	}
	n, ok := c.peers[m.From]
	if !ok {
		c.peers[m.From] = m.Nonce
		return true
	}
	return n == m.Nonce
}

func (c *comm) staleLocked(m *message) error {
	return protocolf("rank %d sent %s #%d, but rank %d has finished collective #%d (a message out of order or twice)",
		m.From, m.Kind.op(), m.Seq, c.rank, c.done)
}

// begin starts the next collective, which receives messages of the given
// kinds, and returns its number and deadline.
func (c *comm) begin(root int, up, down kind) (uint64, time.Time, error) {
	c.mu.Lock()
	for i := range c.queue {
		if c.fail == nil && c.queue[i].Seq <= c.done {
			c.fail = c.staleLocked(&c.queue[i])
		}
	}
	if err := c.fail; err != nil {
		c.mu.Unlock()
		// It may have come between collectives: the others still need
		// to hear of it.
		return 0, time.Time{}, c.finish(0, err)
	}
	c.cur++
	c.began = time.Now()
	c.mu.Unlock()
	c.kinds, c.root = [2]kind{up, down}, root
	if err := c.checkRoot(root); err != nil {
		return 0, time.Time{}, c.finish(c.cur, err)
	}
	return c.cur, c.began.Add(c.timeout), nil
}

// finish ends collective seq: on success (every message it waited for
// arrived, even if a failure came after them) it records it; on failure it
// breaks the communicator and, unless the failure came from another rank's
// abort, tells the other ranks.
func (c *comm) finish(seq uint64, err error) error {
	c.mu.Lock()
	if err == nil {
		c.done = seq
		c.mu.Unlock()
		return nil
	}
	if c.fail == nil {
		c.fail = err
	}
	err = c.fail
	var ab *AbortError
	tell := !c.told && !errors.As(err, &ab) && !errors.Is(err, ErrClosed)
	c.told = true
	c.mu.Unlock()
	if tell {
		c.log.Warn("collective failed; aborting the other ranks", zap.Error(err))
		c.sendAbort(err.Error())
	}
	return err
}

// maxReason bounds an abort reason on the wire.
const maxReason = 4096

func (c *comm) sendAbort(reason string) {
	if len(reason) > maxReason {
		reason = reason[:maxReason]
	}
	c.mu.Lock()
	seq := c.cur
	c.mu.Unlock()
	if err := c.send(-1, kindAbort, seq, []byte(reason)); err != nil {
		c.log.Warn("cannot send abort", zap.Error(err))
		return
	}
	if err := c.link.flush(); err != nil {
		c.log.Warn("cannot flush abort", zap.Error(err))
	}
}

func (c *comm) Abort(reason string) {
	c.mu.Lock()
	if c.fail == nil {
		c.fail = &AbortError{Rank: c.rank, Reason: reason}
	}
	tell := !c.told && !c.closed
	c.told = true
	c.signal()
	c.mu.Unlock()
	if tell {
		c.sendAbort(reason)
	}
}

func (c *comm) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	if c.fail == nil {
		c.fail = ErrClosed
	}
	c.told = true
	c.signal()
	c.mu.Unlock()
	return c.link.close()
}

// connLost breaks the communicator when its connection is gone.
func (c *comm) connLost(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail == nil {
		c.fail = err
		c.signal()
	}
}

// send sends payload, in chunks if needed, to rank to (-1: every other rank).
func (c *comm) send(to int, k kind, seq uint64, payload []byte) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	chunks := max((len(payload)+c.chunk-1)/c.chunk, 1)
	m := message{Job: c.jobName, Comm: c.commName, Kind: k, Seq: seq, From: c.rank, Nonce: c.nonce, Chunks: uint32(chunks)}
	for i := range chunks {
		m.Chunk = uint32(i)
		m.Payload = payload[min(i*c.chunk, len(payload)):min((i+1)*c.chunk, len(payload))]
		if err := encodeMessage(&c.buf, c.enc, &m); err != nil {
			return err
		}
		var err error
		if to < 0 {
			err = c.link.toAll(c.buf.Bytes())
		} else {
			err = c.link.toRank(to, c.buf.Bytes())
		}
		if err != nil {
			return fmt.Errorf("collective: send %s #%d: %w", k.op(), seq, err)
		}
	}
	return nil
}

// The tree: in the collective rooted at root, rank r has the virtual rank
// v = (r - root) mod size; v's children are fanout*v+1 ... fanout*v+fanout
// and its parent (v-1)/fanout. Contributions flow up it, combined at every
// inner rank; what every rank needs flows down as one publish.

func (c *comm) real(v, root int) int { return (v + root) % c.size }

// tree returns this rank's parent (-1 at the root), its children
// (ascending; in c.kids), its depth and the tree's height.
func (c *comm) tree(root int) (parent int, kids []int, depth, height int) {
	v := (c.rank - root + c.size) % c.size
	parent = -1
	if v > 0 {
		parent = c.real((v-1)/c.fanout, root)
	}
	c.kids = c.kids[:0]
	for k := c.fanout*v + 1; k <= c.fanout*v+c.fanout && k < c.size; k++ {
		c.kids = append(c.kids, c.real(k, root))
	}
	slices.Sort(c.kids)
	return parent, c.kids, c.level(v), c.level(c.size - 1)
}

// level is the depth of virtual rank v.
func (c *comm) level(v int) int {
	d := 0
	for ; v > 0; v = (v - 1) / c.fanout {
		d++
	}
	return d
}

// subtree is the number of ranks in the subtree of rank r (root root).
func (c *comm) subtree(r, root int) int {
	lo := (r - root + c.size) % c.size
	hi, n := lo, 0
	for lo < c.size {
		n += min(hi, c.size-1) - lo + 1
		lo, hi = c.fanout*lo+1, c.fanout*hi+c.fanout
	}
	return n
}

// Deadlines: every rank of a collective shares one deadline, pushed back
// a little per level for a wait on children, so that the deepest rank
// missing a child times out first and names it; and by a quarter more for
// a wait on the root, which, waiting on everyone, names the missing rank.
func (c *comm) upDeadline(d time.Time, depth, height int) time.Time {
	return d.Add(time.Duration(height-depth) * (c.timeout / 32))
}

func (c *comm) downDeadline(d time.Time, height int) time.Time {
	return d.Add(c.timeout/4 + time.Duration(height)*(c.timeout/32))
}

// expect resets the wait for one kind-k message from each rank of from.
func (c *comm) expect(from []int) {
	c.from = append(c.from[:0], from...)
	slices.Sort(c.from)
	c.parts = slices.Grow(c.parts[:0], len(c.from))[:len(c.from)]
	clear(c.parts)
}

// receive waits until the kind-k message of collective seq of every rank
// of from has arrived, into c.parts (in the order of c.from).
func (c *comm) receive(ctx context.Context, seq uint64, k kind, from []int, deadline time.Time) error {
	c.expect(from)
	left := len(c.from)
	armed := false
	for left > 0 {
		// What arrived before a failure (an abort sent right after the
		// message this rank waits for) still completes the wait: the
		// failure breaks the next collective.
		c.mu.Lock()
		var err error
		c.taken, err = c.takeLocked(seq, k, c.taken[:0])
		fail := c.fail
		c.mu.Unlock()
		if err != nil {
			return err
		}
		for i := range c.taken {
			n, err := c.accept(&c.taken[i], seq, k)
			if err != nil {
				return err
			}
			left -= n
		}
		clear(c.taken)
		if left == 0 {
			break
		}
		if fail != nil {
			return fail
		}
		if !armed {
			armed = true
			c.timer.Reset(time.Until(deadline))
			defer c.timer.Stop()
		}
		select {
		case <-c.wake:
		case <-ctx.Done():
			return fmt.Errorf("collective: %s #%d on rank %d: %w", k.op(), seq, c.rank, ctx.Err())
		case <-c.timer.C:
			return c.timeoutError(k, seq, deadline.Sub(c.began).Round(time.Millisecond))
		}
	}
	return nil
}

// takeLocked moves the queued kind-k messages of collective seq to dst; a
// message of seq of a kind the collective never receives means the ranks
// called different collectives.
func (c *comm) takeLocked(seq uint64, k kind, dst []message) ([]message, error) {
	keep := c.queue[:0]
	var err error
	for _, m := range c.queue {
		switch {
		case m.Seq != seq:
			keep = append(keep, m)
		case m.Kind == k:
			dst = append(dst, m)
		case m.Kind == c.kinds[0] || m.Kind == c.kinds[1]:
			keep = append(keep, m) // for the other wait of this collective
		case err == nil:
			err = protocolf("rank %d sent %s #%d while rank %d is in %s #%d (the ranks called different collectives)",
				m.From, m.Kind.op(), seq, c.rank, k.op(), seq)
		}
	}
	clear(c.queue[len(keep):])
	c.queue = keep
	return dst, err
}

// accept adds one kind-k message of collective seq to its sender's part;
// it returns 1 when that completes the sender's payload.
func (c *comm) accept(m *message, seq uint64, k kind) (int, error) {
	i, ok := slices.BinarySearch(c.from, m.From)
	if !ok {
		return 0, protocolf("rank %d sent an unexpected %s message in #%d to rank %d (do the ranks agree on the root?)",
			m.From, k.op(), seq, c.rank)
	}
	p := &c.parts[i]
	switch {
	case p.done && (k == kindHello || k == kindWelcome):
		return 0, nil // resent while this rank was slow to read the first
	case p.done:
		return 0, protocolf("rank %d sent %s #%d twice", m.From, k.op(), seq)
	case m.Chunk != p.got || (p.got > 0 && m.Chunks != p.chunks):
		return 0, protocolf("rank %d sent chunk %d of %d in %s #%d where chunk %d was due",
			m.From, m.Chunk, m.Chunks, k.op(), seq, p.got)
	}
	if p.got == 0 {
		p.chunks = m.Chunks
		if m.Chunks == 1 {
			p.data = m.Payload
		} else {
			p.data = make([]byte, 0, min(len(m.Payload)*int(m.Chunks), maxPrealloc))
		}
	}
	if m.Chunks > 1 {
		p.data = append(p.data, m.Payload...)
	}
	p.got++
	if p.got < p.chunks {
		return 0, nil
	}
	p.done = true
	return 1, nil
}

func (c *comm) timeoutError(k kind, seq uint64, waited time.Duration) error {
	var missing []string
	for i, p := range c.parts {
		if p.done {
			continue
		}
		r := c.from[i]
		s := strconv.Itoa(r)
		if n := c.subtree(r, c.root); k != kindHello && n > 1 && r != c.root {
			s += fmt.Sprintf(" (or one of the %d ranks below it)", n-1)
		}
		missing = append(missing, s)
	}
	const most = 16
	if len(missing) > most {
		missing = append(missing[:most], fmt.Sprintf("and %d more", len(missing)-most))
	}
	who := "rank " + missing[0]
	if len(missing) > 1 {
		who = "ranks " + strings.Join(missing, ", ")
	}
	switch k {
	case kindHello:
		return fmt.Errorf("%w: %s did not join job %q (communicator %q) within %v", ErrTimeout, who, c.job, c.name, waited)
	case kindWelcome:
		return fmt.Errorf("%w: rank 0 did not welcome rank %d into job %q (communicator %q) within %v: is every rank up, with the same job id and server?",
			ErrTimeout, c.rank, c.job, c.name, waited)
	}
	return fmt.Errorf("%w: %s did not answer %s #%d within %v", ErrTimeout, who, k.op(), seq, waited)
}

// Hellos are repeated, with a growing pause and jitter, until rank 0
// welcomes the rank: thousands of ranks must not flood a rank 0 that is
// late.
const (
	helloFirst = 100 * time.Millisecond
	helloMax   = 2 * time.Second
)

// join runs the startup handshake (collective #0) within joinTimeout.
func (c *comm) join(ctx context.Context, joinTimeout time.Duration) error {
	c.began = time.Now()
	deadline := c.began.Add(joinTimeout)
	var err error
	if c.rank == 0 {
		c.kinds = [2]kind{kindHello}
		// Rank 0 announces itself, so that the ranks of another job
		// with this job id (and their own rank 0) hear of it at once.
		var hello [helloSize]byte
		binary.LittleEndian.PutUint32(hello[:], uint32(c.size))
		if err = c.send(-1, kindHello, 0, hello[:]); err == nil {
			err = c.welcome(ctx, deadline)
		}
	} else {
		c.kinds = [2]kind{kindWelcome}
		// Like every rank that waits on a root alone, wait longer than rank
		// 0, so that rank 0 is the one that names a missing rank.
		err = c.hello(ctx, deadline.Add(joinTimeout/4))
	}
	if err != nil {
		return c.finish(0, err)
	}
	c.mu.Lock()
	c.joined = true
	keep := c.queue[:0]
	for _, m := range c.queue {
		if m.Kind != kindHello && m.Kind != kindWelcome { // repeats, of no use now
			keep = append(keep, m)
		}
	}
	clear(c.queue[len(keep):])
	c.queue = keep
	c.mu.Unlock()
	return c.finish(0, nil)
}

// helloSize: the communicator size (uint32).
const helloSize = 4

func (c *comm) welcome(ctx context.Context, deadline time.Time) error {
	others := make([]int, c.size-1)
	for i := range others {
		others[i] = i + 1
	}
	if err := c.receive(ctx, 0, kindHello, others, deadline); err != nil {
		return err
	}
	for i, p := range c.parts {
		if len(p.data) != helloSize {
			return protocolf("rank %d sent a hello of %d bytes", c.from[i], len(p.data))
		}
		if size := int(binary.LittleEndian.Uint32(p.data)); size != c.size {
			return protocolf("rank %d was started with %d ranks, rank 0 with %d", c.from[i], size, c.size)
		}
	}
	return c.send(-1, kindWelcome, 0, nil)
}

func (c *comm) hello(ctx context.Context, deadline time.Time) error {
	var hello [helloSize]byte
	binary.LittleEndian.PutUint32(hello[:], uint32(c.size))
	pause := helloFirst
	for {
		if err := c.send(0, kindHello, 0, hello[:]); err != nil {
			return err
		}
		try := time.Now().Add(pause/2 + jitter(pause))
		if try.After(deadline) {
			try = deadline
		}
		err := c.receive(ctx, 0, kindWelcome, []int{0}, try)
		if !errors.Is(err, ErrTimeout) || !time.Now().Before(deadline) {
			return err
		}
		pause = min(2*pause, helloMax)
	}
}

func (c *comm) checkRoot(root int) error {
	if root < 0 || root >= c.size {
		return fmt.Errorf("collective: root %d out of range [0, %d)", root, c.size)
	}
	return nil
}

// upward waits for this rank's children's kind-k contributions to
// collective seq (in c.parts, by child) and returns the parent (-1 at the
// root) and the deadline of a wait on the root.
func (c *comm) upward(ctx context.Context, seq uint64, k kind, root int, deadline time.Time) (parent int, down time.Time, err error) {
	parent, kids, depth, height := c.tree(root)
	err = c.receive(ctx, seq, k, kids, c.upDeadline(deadline, depth, height))
	return parent, c.downDeadline(deadline, height), err
}

func (c *comm) Barrier(ctx context.Context) error {
	seq, deadline, err := c.begin(0, kindArrive, kindRelease)
	if err != nil {
		return err
	}
	parent, down, err := c.upward(ctx, seq, kindArrive, 0, deadline)
	switch {
	case err != nil:
	case parent < 0:
		err = c.send(-1, kindRelease, seq, nil)
	default:
		err = c.send(parent, kindArrive, seq, nil)
		if err == nil {
			err = c.receive(ctx, seq, kindRelease, []int{0}, down)
		}
	}
	return c.finish(seq, err)
}

// Bcast: the root publishes the data; acks come back up the tree.
func (c *comm) Bcast(ctx context.Context, root int, data []byte) ([]byte, error) {
	seq, deadline, err := c.begin(root, kindBcastAck, kindBcast)
	if err != nil {
		return nil, err
	}
	parent, kids, depth, height := c.tree(root)
	out := data
	if c.rank == root {
		err = c.send(-1, kindBcast, seq, data)
	} else {
		err = c.receive(ctx, seq, kindBcast, []int{root}, c.downDeadline(deadline, height))
		out = c.parts[0].data
	}
	if err == nil {
		err = c.receive(ctx, seq, kindBcastAck, kids, c.upDeadline(deadline, depth, height))
	}
	if err == nil && parent >= 0 {
		err = c.send(parent, kindBcastAck, seq, nil)
	}
	if err = c.finish(seq, err); err != nil {
		return nil, err
	}
	return out, nil
}

// Gather: contributions go up the tree as records, each inner rank
// passing on its own and its children's; the root says done.
func (c *comm) Gather(ctx context.Context, root int, data []byte) ([][]byte, error) {
	seq, deadline, err := c.begin(root, kindGather, kindGatherDone)
	if err != nil {
		return nil, err
	}
	parent, down, err := c.upward(ctx, seq, kindGather, root, deadline)
	if err != nil {
		return nil, c.finish(seq, err)
	}
	recs := c.records(data)
	if parent >= 0 {
		err = c.send(parent, kindGather, seq, recs)
		if err == nil {
			err = c.receive(ctx, seq, kindGatherDone, []int{root}, down)
		}
		return nil, c.finish(seq, err)
	}
	out, err := c.unpack(recs, seq)
	if err == nil {
		err = c.send(-1, kindGatherDone, seq, nil)
	}
	if err = c.finish(seq, err); err != nil {
		return nil, err
	}
	return out, nil
}

// Allgather: a gather to rank 0, which publishes every rank's data.
func (c *comm) Allgather(ctx context.Context, data []byte) ([][]byte, error) {
	seq, deadline, err := c.begin(0, kindAllgather, kindAllgathered)
	if err != nil {
		return nil, err
	}
	parent, down, err := c.upward(ctx, seq, kindAllgather, 0, deadline)
	if err != nil {
		return nil, c.finish(seq, err)
	}
	recs := c.records(data)
	if parent >= 0 {
		err = c.send(parent, kindAllgather, seq, recs)
		if err == nil {
			err = c.receive(ctx, seq, kindAllgathered, []int{0}, down)
		}
		if err == nil {
			recs = c.parts[0].data
		}
	} else {
		err = c.send(-1, kindAllgathered, seq, recs)
	}
	var out [][]byte
	if err == nil {
		out, err = c.unpack(recs, seq)
	}
	if err = c.finish(seq, err); err != nil {
		return nil, err
	}
	return out, nil
}

// records encodes this rank's data and its children's records (c.parts):
// a record is the rank and the length (uvarints), then the bytes.
func (c *comm) records(own []byte) []byte {
	n := binary.MaxVarintLen64*2 + len(own)
	for _, p := range c.parts {
		n += len(p.data)
	}
	b := make([]byte, 0, n)
	b = binary.AppendUvarint(b, uint64(c.rank))
	b = binary.AppendUvarint(b, uint64(len(own)))
	b = append(b, own...)
	for i := range c.parts {
		b = append(b, c.parts[i].data...)
		c.parts[i].data = nil
	}
	return b
}

// unpack decodes the records of every rank, once each, indexed by rank.
func (c *comm) unpack(b []byte, seq uint64) ([][]byte, error) {
	out := make([][]byte, c.size)
	seen := make([]bool, c.size)
	for n := 0; len(b) > 0; n++ {
		r, k := binary.Uvarint(b)
		if k <= 0 || r >= uint64(c.size) || seen[r] {
			return nil, protocolf("collective #%d: bad record %d (rank %d)", seq, n, r)
		}
		b = b[k:]
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, protocolf("collective #%d: record of rank %d: bad length", seq, r)
		}
		b = b[k:]
		out[r], seen[r] = b[:l:l], true
		b = b[l:]
	}
	for r, ok := range seen {
		if !ok {
			return nil, protocolf("collective #%d: no data of rank %d", seq, r)
		}
	}
	return out, nil
}
