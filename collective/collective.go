// Package collective is the communicator of a job's ranks: barrier,
// broadcast, gather, allgather, allreduce and abort, over core NATS (or, for
// unit tests and single-rank runs, in memory).
//
// # Bootstrap
//
// FromEnv finds rank, size and job id: PW_RANK, PW_SIZE, PW_JOB (set by the
// local launcher, internal/infra/launch), else SLURM_PROCID, SLURM_NTASKS,
// SLURM_JOB_ID and SLURM_STEP_ID (srun), else OMPI_COMM_WORLD_RANK and
// OMPI_COMM_WORLD_SIZE (mpirun), else one rank. The server is PW_NATS_URL
// (or a flag), its token PW_NATS_TOKEN; Open needs no server for one rank.
//
// # Subjects
//
// A communicator of job J named C uses one subject for all and one per rank:
//
//	pw.J.C.all   every rank subscribes; one publish reaches all (welcome,
//	             barrier release, bcast data, gather done, allgather and
//	             allreduce results, decisions, abort)
//	pw.J.C.r     rank r's own inbox (startup hellos, and what its children
//	             in the tree send: arrivals, acks, contributions)
//	pw.J.C.claim.r  requests of processes starting as rank r, which the
//	             process holding rank r answers (see below)
//
// so concurrent jobs (or communicators) on one server never see each
// other's traffic; a message of another job or communicator that reaches a
// rank anyway is an error, never mixed in.
//
// # Protocol
//
// Every rank numbers its collectives 1, 2, 3, ...; all ranks must call the
// same collectives in the same order. A message carries the number of the
// collective it belongs to. A rank keeps messages of later collectives until
// it gets there; a message of a collective it has already finished, of
// another kind than the collective it is in, from an unexpected sender, or a
// duplicate, fails the communicator with ErrProtocol.
//
// Collectives run on a tree: in a collective rooted at R, rank r has the
// virtual rank v = (r-R) mod N, whose children are k*v+1 ... k*v+k (k is
// Config.Fanout, default 8). What flows up (barrier arrivals, bcast acks,
// gather and allgather contributions as records, allreduce and decide
// vectors reduced on the way) goes from each rank to its parent once its
// children's parts are in; what flows down (release, data, result, verdict)
// is one publish by the root. A collective thus takes O(log_k N) rounds and
// about 2N messages, and no rank handles more than k+1 of them.
//
// Core NATS delivers at most once, so every collective completes only on
// explicit answers and fails with ErrTimeout naming the ranks (and
// subtrees) that did not answer; the deepest rank missing a child times out
// first. A rank whose collective fails tells the others (an abort), so they
// fail promptly too. A rank that loses its connection to the server fails
// at once with ErrConnLost. Payloads above the server's max payload travel
// in chunks.
//
// Every process draws a random nonce that all its messages carry. Before
// it listens on anything, a process starting as rank r claims the rank: it
// requests on pw.J.C.claim.r with its nonce. The server answers "no
// responders" when nobody holds r; the holder, if there is one, answers, so
// the claimant fails at once without sending a collective message, and the
// holder fails its own job as well (two jobs with one job id on one
// server, or a rank started twice: neither can go on). Two processes that
// claim one rank in the same moment both find it free; then a rank that
// hears two nonces for one rank fails. Either way the error is ErrProtocol
// ("two processes claim rank r") and the rank aborts every rank that can
// hear it. A process that joins after its partners failed that way and
// left can only time out waiting for them.
//
// At start every rank subscribes, then sends hellos to rank 0 (repeated
// with a growing pause and jitter) until rank 0, having heard from all,
// publishes a welcome: no rank sends a collective message before every rank
// listens.
//
// # Message layout
//
// One NATS message is one msgpack array of 10 elements (wire version 2):
//
//	[0] version  uint      2
//	[1] job      str
//	[2] comm     str
//	[3] kind     uint      see the kind constants
//	[4] seq      uint      collective number; 0 is the startup handshake
//	[5] from     uint      sender rank
//	[6] nonce    uint      the sender process's random identity
//	[7] chunk    uint      index of this chunk, < chunks
//	[8] chunks   uint      number of chunks of the sender's payload, >= 1
//	[9] payload  bin       this chunk's bytes
package collective

import (
	"context"
	"errors"
	"fmt"
)

// Comm is a communicator. The collective methods must be called by one
// goroutine at a time, and by every rank in the same order; Rank, Size and
// Abort may be called from any goroutine. Returned slices belong to the
// caller. After any collective fails, every later one fails with the same
// error: the communicator is broken, as the ranks no longer agree.
type Comm interface {
	Rank() int
	Size() int
	// Barrier returns once every rank has entered it.
	Barrier(ctx context.Context) error
	// Bcast returns root's data on every rank (root gets its own slice back).
	Bcast(ctx context.Context, root int, data []byte) ([]byte, error)
	// Gather returns every rank's data, indexed by rank, on root; nil on
	// the other ranks.
	Gather(ctx context.Context, root int, data []byte) ([][]byte, error)
	// Allgather returns every rank's data, indexed by rank, on every rank.
	Allgather(ctx context.Context, data []byte) ([][]byte, error)
	// AllreduceInt64 reduces v element-wise over all ranks; every rank must
	// pass the same number of values.
	AllreduceInt64(ctx context.Context, op Op, v []int64) ([]int64, error)
	// AllreduceFloat64 reduces v element-wise over all ranks, in an order
	// fixed by the tree, once: every rank gets bit-identical results.
	AllreduceFloat64(ctx context.Context, op Op, v []float64) ([]float64, error)
	// Decide reduces v element-wise over all ranks to rank 0, which calls
	// decide with the result; every rank returns decide's bytes. It is a
	// check and a verdict in two message rounds (2(N-1) messages), where an
	// allreduce and a bcast take four.
	Decide(ctx context.Context, op Op, v []int64, decide func(reduced []int64) []byte) ([]byte, error)
	// Abort breaks the communicator on every rank: pending and later
	// collectives fail with an *AbortError naming this rank and reason.
	Abort(reason string)
	// Close releases the communicator (and its NATS connection, if it
	// opened it). It does not tell the other ranks.
	Close() error
}

// Op is a reduction.
type Op uint8

// The reductions.
const (
	Sum Op = iota + 1
	Min
	Max
)

func (o Op) String() string {
	switch o {
	case Sum:
		return "sum"
	case Min:
		return "min"
	case Max:
		return "max"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

var (
	// ErrTimeout: a rank did not answer within the timeout.
	ErrTimeout = errors.New("collective: timeout")
	// ErrProtocol: a message that does not belong where it arrived (another
	// job or communicator, an old or duplicate message, another collective,
	// an unexpected sender, undecodable bytes), or ranks that disagree.
	ErrProtocol = errors.New("collective: protocol violation")
	// ErrConnLost: the connection to the NATS server broke; messages may
	// have been lost, so the communicator cannot go on.
	ErrConnLost = errors.New("collective: lost connection to the NATS server")
	// ErrClosed: the communicator was closed.
	ErrClosed = errors.New("collective: communicator closed")
)

// AbortError is the failure of every collective after a rank called Abort
// (or failed a collective and told the others).
type AbortError struct {
	Rank   int
	Reason string
}

func (e *AbortError) Error() string {
	return fmt.Sprintf("collective: rank %d aborted: %s", e.Rank, e.Reason)
}
