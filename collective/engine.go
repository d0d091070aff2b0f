package collective

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
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

// comm runs the protocol (package doc) over a link; both the NATS
// communicator and the in-memory twin are a comm.
type comm struct {
	rank, size int
	job, name  string
	jobName    []byte // job and name as the wire carries them
	commName   []byte
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
	parts []part      // per sender rank, for the collective in progress
	taken []message   // scratch: the messages just taken from the queue

	mu     sync.Mutex // guards the fields below; deliver runs on the link's goroutines
	cur    uint64     // number of the collective in progress or last started
	done   uint64     // number of the last collective finished
	joined bool       // the startup handshake is over
	queue  []message  // messages of collectives > done, not yet taken
	fail   error      // once set, every collective returns it
	told   bool       // the other ranks were sent an abort (or need none)
	closed bool
	wake   chan struct{} // capacity 1: deliver or Abort changed something
}

// part collects one sender's payload in the collective in progress.
type part struct {
	want   bool   // this sender must send in this collective
	done   bool   // all its chunks arrived
	chunks uint32 // its chunk count, known from the first chunk
	got    uint32 // chunks arrived so far
	data   []byte
}

// maxPrealloc bounds the buffer reserved from a chunk count announced by a
// message, so a bad count cannot make us allocate without limit.
const maxPrealloc = 64 << 20

func newComm(rank, size int, job, name string, timeout time.Duration, log *zap.Logger) *comm {
	if log == nil {
		log = zap.NewNop()
	}
	c := &comm{
		rank: rank, size: size, job: job, name: name, timeout: timeout,
		jobName: []byte(job), commName: []byte(name),
		log:   log.With(zap.String("job", job), zap.String("comm", name), zap.Int("rank", rank)),
		parts: make([]part, size),
		wake:  make(chan struct{}, 1),
	}
	c.enc = msgpack.NewEncoder(&c.buf)
	c.timer = time.NewTimer(time.Hour)
	c.timer.Stop()
	return c
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

// deliver takes one received message. It never blocks on the collective in
// progress: it checks what can be checked at once and queues the rest.
func (c *comm) deliver(data []byte) {
	var m message
	err := decodeMessage(data, &m)
	if c.deliverLocked(&m, err) {
		// A hello after the handshake: its sender may have missed the
		// welcome (core NATS delivers at most once), so say it again.
		if err := c.send(m.From, kindWelcome, 0, nil); err != nil {
			c.log.Warn("cannot repeat the welcome", zap.Int("to", m.From), zap.Error(err))
		}
	}
}

// deliverLocked does deliver's work under c.mu; it returns whether to
// repeat the welcome to m's sender, which is done without the lock.
func (c *comm) deliverLocked(m *message, err error) (welcome bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return false
	}
	switch {
	case err != nil:
		c.fail = fmt.Errorf("%w: %w", ErrProtocol, err)
	case string(m.Job) != c.job || string(m.Comm) != c.name:
		c.fail = protocolf("foreign message (job %q, communicator %q, %s #%d from rank %d) on the subjects of job %q, communicator %q",
			m.Job, m.Comm, m.Kind.op(), m.Seq, m.From, c.job, c.name)
	case m.From == c.rank:
		return false // our own broadcast, echoed by a connection without NoEcho
	case m.From >= c.size:
		c.fail = protocolf("%s #%d from rank %d reached rank %d of a %d-rank communicator",
			m.Kind.op(), m.Seq, m.From, c.rank, c.size)
	case m.Kind == kindAbort:
		c.fail = &AbortError{Rank: m.From, Reason: string(m.Payload)}
	case m.Kind == kindHello && c.joined:
		return c.rank == 0
	case m.Kind == kindWelcome && c.joined:
		return false // a repeated welcome
	case c.joined && m.Seq <= c.done:
		c.fail = c.staleLocked(m)
	default:
		c.queue = append(c.queue, *m)
	}
	c.signal()
	return false
}

func (c *comm) staleLocked(m *message) error {
	return protocolf("rank %d sent %s #%d, but rank %d has finished collective #%d (a message out of order or twice)",
		m.From, m.Kind.op(), m.Seq, c.rank, c.done)
}

// begin starts the next collective and returns its number and deadline.
func (c *comm) begin() (uint64, time.Time, error) {
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
	return c.cur, c.began.Add(c.timeout), nil
}

// finish ends collective seq: on success it records it; on failure it
// breaks the communicator and, unless the failure came from another rank's
// abort, tells the other ranks.
func (c *comm) finish(seq uint64, err error) error {
	c.mu.Lock()
	if err == nil && c.fail == nil {
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

// connLost breaks the communicator when its connection is gone for good.
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
	m := message{Job: c.jobName, Comm: c.commName, Kind: k, Seq: seq, From: c.rank, Chunks: uint32(chunks)}
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

// expect resets the parts for a collective receiving from rank from (-1:
// every other rank) and returns how many senders it waits for.
func (c *comm) expect(from int) int {
	n := 0
	for i := range c.parts {
		want := i != c.rank && (from < 0 || i == from)
		c.parts[i] = part{want: want}
		if want {
			n++
		}
	}
	return n
}

// receive waits until every expected sender's kind-k message of collective
// seq has arrived, into c.parts. A rank waiting for one root waits a quarter
// longer: the root, which waits for everyone, then reports which rank is
// missing, rather than everyone reporting the root.
func (c *comm) receive(ctx context.Context, seq uint64, k kind, from int, deadline time.Time) error {
	if from >= 0 && seq > 0 {
		deadline = deadline.Add(c.timeout / 4)
	}
	left := c.expect(from)
	armed := false
	for left > 0 {
		c.mu.Lock()
		if c.fail != nil {
			err := c.fail
			c.mu.Unlock()
			return err
		}
		c.taken = c.takeLocked(seq, c.taken[:0])
		c.mu.Unlock()
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

// takeLocked moves the queued messages of collective seq to dst.
func (c *comm) takeLocked(seq uint64, dst []message) []message {
	keep := c.queue[:0]
	for _, m := range c.queue {
		if m.Seq == seq {
			dst = append(dst, m)
		} else {
			keep = append(keep, m)
		}
	}
	clear(c.queue[len(keep):])
	c.queue = keep
	return dst
}

// accept checks one message of collective seq, in which this rank waits for
// kind k, and adds it to its sender's part; it returns 1 when that completes
// the sender's payload.
func (c *comm) accept(m *message, seq uint64, k kind) (int, error) {
	if m.Kind != k {
		return 0, protocolf("rank %d sent %s #%d while rank %d is in %s #%d (the ranks called different collectives)",
			m.From, m.Kind.op(), seq, c.rank, k.op(), seq)
	}
	p := &c.parts[m.From]
	switch {
	case !p.want:
		return 0, protocolf("rank %d sent an unexpected %s message in #%d to rank %d (do the ranks agree on the root?)",
			m.From, k.op(), seq, c.rank)
	case p.done && k == kindHello && bytes.Equal(p.data, m.Payload):
		return 0, nil // a resent hello
	case p.done && k == kindHello:
		return 0, protocolf("two processes claim rank %d", m.From)
	case p.done && k == kindWelcome:
		return 0, nil // rank 0 repeats its welcome to every hello resent
		// while this rank was slow to read the first one
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
		if p.want && !p.done {
			missing = append(missing, strconv.Itoa(i))
		}
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

// helloResend is how often a rank repeats its hello until rank 0 welcomes it.
const helloResend = 100 * time.Millisecond

// join runs the startup handshake (collective #0) within joinTimeout.
func (c *comm) join(ctx context.Context, joinTimeout time.Duration) error {
	c.began = time.Now()
	deadline := c.began.Add(joinTimeout)
	var err error
	if c.rank == 0 {
		err = c.welcome(ctx, deadline)
	} else {
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

func (c *comm) welcome(ctx context.Context, deadline time.Time) error {
	if err := c.receive(ctx, 0, kindHello, -1, deadline); err != nil {
		return err
	}
	for i, p := range c.parts {
		if !p.want {
			continue
		}
		if len(p.data) != helloSize {
			return protocolf("rank %d sent a hello of %d bytes", i, len(p.data))
		}
		if size := int(binary.LittleEndian.Uint32(p.data)); size != c.size {
			return protocolf("rank %d was started with %d ranks, rank 0 with %d", i, size, c.size)
		}
	}
	return c.send(-1, kindWelcome, 0, nil)
}

// helloSize: the communicator size (uint32) and a nonce (8 bytes) that tells
// two processes claiming one rank apart.
const helloSize = 12

func (c *comm) hello(ctx context.Context, deadline time.Time) error {
	var hello [helloSize]byte
	binary.LittleEndian.PutUint32(hello[:4], uint32(c.size))
	if _, err := rand.Read(hello[4:]); err != nil {
		return fmt.Errorf("collective: nonce: %w", err)
	}
	for {
		if err := c.send(0, kindHello, 0, hello[:]); err != nil {
			return err
		}
		try := time.Now().Add(helloResend)
		if try.After(deadline) {
			try = deadline
		}
		err := c.receive(ctx, 0, kindWelcome, 0, try)
		if !errors.Is(err, ErrTimeout) || !time.Now().Before(deadline) {
			return err
		}
	}
}

func (c *comm) Barrier(ctx context.Context) error {
	seq, deadline, err := c.begin()
	if err != nil {
		return err
	}
	if c.rank == 0 {
		err = c.receive(ctx, seq, kindArrive, -1, deadline)
		if err == nil {
			err = c.send(-1, kindRelease, seq, nil)
		}
	} else {
		err = c.send(0, kindArrive, seq, nil)
		if err == nil {
			err = c.receive(ctx, seq, kindRelease, 0, deadline)
		}
	}
	return c.finish(seq, err)
}

func (c *comm) checkRoot(root int) error {
	if root < 0 || root >= c.size {
		return fmt.Errorf("collective: root %d out of range [0, %d)", root, c.size)
	}
	return nil
}

func (c *comm) Bcast(ctx context.Context, root int, data []byte) ([]byte, error) {
	seq, deadline, err := c.begin()
	if err != nil {
		return nil, err
	}
	if err := c.checkRoot(root); err != nil {
		return nil, c.finish(seq, err)
	}
	if c.rank == root {
		err = c.send(-1, kindBcast, seq, data)
		if err == nil {
			err = c.receive(ctx, seq, kindBcastAck, -1, deadline)
		}
		if err = c.finish(seq, err); err != nil {
			return nil, err
		}
		return data, nil
	}
	err = c.receive(ctx, seq, kindBcast, root, deadline)
	out := c.parts[root].data
	if err == nil {
		err = c.send(root, kindBcastAck, seq, nil)
	}
	if err = c.finish(seq, err); err != nil {
		return nil, err
	}
	return out, nil
}

func (c *comm) Gather(ctx context.Context, root int, data []byte) ([][]byte, error) {
	seq, deadline, err := c.begin()
	if err != nil {
		return nil, err
	}
	if err := c.checkRoot(root); err != nil {
		return nil, c.finish(seq, err)
	}
	if c.rank != root {
		err = c.send(root, kindGather, seq, data)
		if err == nil {
			err = c.receive(ctx, seq, kindGatherDone, root, deadline)
		}
		return nil, c.finish(seq, err)
	}
	err = c.receive(ctx, seq, kindGather, -1, deadline)
	if err == nil {
		err = c.send(-1, kindGatherDone, seq, nil)
	}
	if err = c.finish(seq, err); err != nil {
		return nil, err
	}
	return c.collected(data), nil
}

func (c *comm) Allgather(ctx context.Context, data []byte) ([][]byte, error) {
	return c.allgather(ctx, kindAllgather, data)
}

func (c *comm) allgather(ctx context.Context, k kind, data []byte) ([][]byte, error) {
	seq, deadline, err := c.begin()
	if err != nil {
		return nil, err
	}
	err = c.send(-1, k, seq, data)
	if err == nil {
		err = c.receive(ctx, seq, k, -1, deadline)
	}
	if err = c.finish(seq, err); err != nil {
		return nil, err
	}
	return c.collected(data), nil
}

// collected returns the parts' payloads by rank, with own in this rank's
// place, and lets go of them.
func (c *comm) collected(own []byte) [][]byte {
	out := make([][]byte, c.size)
	for i := range c.parts {
		out[i] = c.parts[i].data
		c.parts[i].data = nil
	}
	out[c.rank] = own
	return out
}
