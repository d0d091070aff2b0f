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
// A communicator of job J named C uses two subjects per rank r:
//
//	pw.J.C.all   every rank subscribes; one publish reaches all (bcast data,
//	             barrier release, gather done, allgather contributions, abort)
//	pw.J.C.r     rank r's own inbox (barrier arrivals, bcast acks, gather
//	             contributions, startup hellos)
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
// duplicate, fails the communicator with ErrProtocol. Core NATS delivers at
// most once, so every collective completes only on explicit answers
// (barrier: arrivals at rank 0, then a release; bcast: data, then an ack
// from every rank to the root; gather: contributions, then a done from the
// root; allgather and allreduce: a contribution from every rank) and fails
// with ErrTimeout naming the ranks that did not answer. A rank whose
// collective fails tells the others (an abort), so they fail promptly too.
// Payloads above the server's max payload travel in chunks.
//
// At start every rank subscribes, then sends hellos to rank 0 until rank 0,
// having heard from all, publishes a welcome: no rank sends a collective
// message before every rank listens.
//
// # Message layout
//
// One NATS message is one msgpack array of 9 elements (wire version 1):
//
//	[0] version  uint      1
//	[1] job      str
//	[2] comm     str
//	[3] kind     uint      see the kind constants
//	[4] seq      uint      collective number; 0 is the startup handshake
//	[5] from     uint      sender rank
//	[6] chunk    uint      index of this chunk, < chunks
//	[7] chunks   uint      number of chunks of the sender's payload, >= 1
//	[8] payload  bin       this chunk's bytes
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
	// AllreduceFloat64 reduces v element-wise over all ranks, in rank order
	// on every rank, so every rank gets bit-identical results.
	AllreduceFloat64(ctx context.Context, op Op, v []float64) ([]float64, error)
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
