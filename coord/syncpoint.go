package coord

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"pwstore/collective"
)

// Sync points of a parallel writer (DESIGN section 7). Every rank makes the
// same collective calls, so every rank's page buffer sees the same stream of
// dirty metadata. Ranks enter a sync point together - after every K
// collective calls, every SyncBytes of dirty metadata, when the tick's
// changes pass their limit, at Sync (the application's step boundary), and
// at EndTick, Flush and Close - because those counts are the same on every
// rank. There they compare their streams, and rank 0 decides whether the
// tick ends: when it is due, and at a step boundary also when the last end
// of tick a step caused is MinTickInterval ago or more (nothing can be
// published between sync points).

const (
	firstK = 16   // calls between the first sync points
	maxK   = 4096 // never fewer sync points than one per maxK calls
	// syncsPerTick is how many sync points rank 0 aims for in a tick.
	syncsPerTick = 4
)

// syncState is a parallel writer's record since the last sync point.
type syncState struct {
	k     int       // collective calls between sync points, decided by rank 0
	calls []callRec // the calls since the last sync point
	total uint64    // collective calls since the start
	n     uint64    // sync points so far

	// Rank 0's measure for choosing k.
	tickCalls uint64 // total at the last end of tick
	perTick   uint64 // collective calls in the last tick
}

// callRec is one collective call and the stream digest right after it.
type callRec struct {
	Name   string
	Digest uint64
	Bytes  int64
}

// syncReport is what each rank brings to a sync point.
type syncReport struct {
	Total uint64 // collective calls since the start
	Calls []callRec
}

// decision is what rank 0 tells the others at a sync point.
type decision struct {
	Diverged bool     // the ranks' digests differ: the rest is unset
	Err      string   // rank 0 found its files damaged: the rest is unset
	End      bool     // the tick ends here
	Written  []uint64 // pages rank 0 wrote to the data file since the last sync point
	K        int      // collective calls until the next sync point
	// Oldest is the page-buffer tick of the oldest tick a reader may be
	// on, as rank 0's last header said: every rank frees data-file space
	// by it at the end of tick, alike.
	Oldest uint64
}

// digest is a fixed-size summary of a rank's calls since the last sync
// point: what every rank sends at a sync point, in place of its report.
func (s *syncState) digest() [3]int64 {
	h := fnv.New64a()
	var b [8]byte
	for _, c := range s.calls {
		h.Write([]byte(c.Name))
		binary.LittleEndian.PutUint64(b[:], c.Digest)
		h.Write(b[:])
		binary.LittleEndian.PutUint64(b[:], uint64(c.Bytes))
		h.Write(b[:])
	}
	return [3]int64{int64(s.total), int64(len(s.calls)), int64(h.Sum64())}
}

// noteCall records a finished collective call and enters a sync point
// when one is due.
func (w *Writer) noteCall(ctx context.Context, name string) error {
	if w.sync.k == 0 {
		w.sync.k = firstK
	}
	// Every call's objects are sealed before its digest, so that each
	// record covers the page images the call changed.
	if err := w.seal(); err != nil {
		return err
	}
	digest, bytes := w.pb.Stream()
	w.sync.calls = append(w.sync.calls, callRec{Name: name, Digest: digest, Bytes: bytes})
	w.sync.total++
	if len(w.sync.calls) >= w.sync.k || bytes >= w.cfg.SyncBytes || w.pb.OverLimit() {
		return w.syncPoint(ctx, "sync", none)
	}
	return nil
}

// A sync point is entered for one of these reasons.
type syncKind int

const (
	none     syncKind = iota // a count was reached: end the tick if due
	step                     // Sync: the application's step boundary
	forceEnd                 // EndTick, Flush, Close: the tick ends
)

// syncPoint runs one sync point on every rank: a Decide whose values are
// every rank's digest and its bitwise complement under Min (the minimum and
// maximum of each word), so rank 0 sees whether all digests are equal and
// puts its verdict in the decision it publishes: 2(N-1) messages. Only
// when they differ are the full reports gathered, to name the ranks and
// the calls.
func (w *Writer) syncPoint(ctx context.Context, why string, kind syncKind) error {
	if w.sync.k == 0 {
		w.sync.k = firstK
	}
	// Objects changed outside collective calls (Create, Open) are sealed
	// here, before rank 0 may write back or publish the page buffer.
	if err := w.seal(); err != nil {
		return err
	}
	comm := w.cfg.Comm
	d := w.sync.digest()
	v := []int64{d[0], d[1], d[2], ^d[0], ^d[1], ^d[2]}
	var dec decision
	var checkErr error
	got, err := comm.Decide(ctx, collective.Min, v, func(red []int64) []byte {
		agree := true
		for i := range 3 {
			agree = agree && red[i] == ^red[i+3]
		}
		switch {
		case !agree:
			dec = decision{Diverged: true}
		default:
			// Before the others write more: rank 0's files must be intact.
			if checkErr = w.checkFiles(); checkErr != nil {
				dec = decision{Err: checkErr.Error()}
			} else {
				dec = w.decide(kind)
			}
		}
		b, _ := msgpack.Marshal(dec) // bools, ints, a string and a slice of ints always encode
		return b
	})
	if err == nil && w.rank != 0 {
		if err = unmarshal(got, &dec); err != nil {
			err = fmt.Errorf("decode rank 0's decision: %w", err)
		}
	}
	if err != nil {
		return w.fail(fmt.Errorf("%s: sync point %d (%s): %w", w.path, w.sync.n+1, why, err))
	}
	w.sync.n++
	switch {
	case checkErr != nil:
		return w.fail(checkErr)
	case dec.Err != "":
		return w.fail(fmt.Errorf("%s: sync point %d: writer rank 0: %s", w.path, w.sync.n, dec.Err))
	case dec.Diverged:
		return w.fail(fmt.Errorf("%s: %w", w.path, w.divergence(ctx)))
	}
	if w.rank != 0 {
		w.fence.checked() // rank 0 checked the files before its decision
		if err := w.pb.MarkClean(dec.Written); err != nil {
			return w.fail(fmt.Errorf("%s: sync point %d: %w", w.path, w.sync.n, err))
		}
	}
	w.statsMu.Lock()
	w.stats.Syncs++
	w.statsMu.Unlock()
	w.sync.k = dec.K
	w.sync.calls = w.sync.calls[:0]
	w.pb.ResetStream()
	if !dec.End {
		return nil
	}
	// Every rank's raw data of the tick is in the file before rank 0
	// publishes the metadata that makes it reachable.
	if err := w.flushRaw(); err != nil {
		return w.fail(err)
	}
	if w.rank == 0 {
		// Before the barrier: after it, other ranks may allocate and
		// write past this tick's end of allocation.
		if err := w.grow(); err != nil {
			return w.fail(err)
		}
	}
	if err := comm.Barrier(ctx); err != nil {
		return w.fail(fmt.Errorf("%s: end of tick %d: %w", w.path, w.pb.Tick(), err))
	}
	if w.rank != 0 {
		// Rank 0 grew the file to the end of allocation before the
		// barrier, and every rank allocated alike.
		w.fence.setGrown(w.pf.GrownSize())
	}
	// The flush and the barrier do not count in the step's cost (stepDue):
	// the barrier waits for the slowest rank, and what a rank flushes a
	// later end of tick would flush as well. Counted, they held checkpoint
	// steps back for several ticks (docs/DECISIONS.md).
	return w.publishTick(dec.Oldest, time.Now())
}

// divergence gathers every rank's full report, once the digests said the
// ranks differ, and names the ranks and the calls where they do.
func (w *Writer) divergence(ctx context.Context) error {
	reports, err := allgatherMsg(ctx, w.cfg.Comm, syncReport{Total: w.sync.total, Calls: w.sync.calls})
	if err != nil {
		return fmt.Errorf("sync point %d: %w (their digests differed): %w", w.sync.n, ErrDiverged, err)
	}
	if err := diverged(reports, w.sync.n); err != nil {
		return err
	}
	return fmt.Errorf("sync point %d: %w: the ranks' digests differ, their reports do not", w.sync.n, ErrDiverged)
}

// decide is rank 0's choice at a sync point.
func (w *Writer) decide(kind syncKind) decision {
	now := time.Now()
	due := !w.due.IsZero() && !now.Before(w.due)
	if kind == step {
		due = w.stepDue(now)
	}
	dec := decision{
		End:     kind == forceEnd || due || w.pb.OverLimit(),
		Written: w.pb.TakeWritten(),
		K:       w.sync.k,
	}
	if dec.End {
		dec.Oldest = w.oldestPB()
		// Aim for several sync points per tick at the last tick's pace.
		w.sync.perTick = w.sync.total - w.sync.tickCalls
		w.sync.tickCalls = w.sync.total
		if w.cfg.TickLen > 0 && !w.cfg.ManualTicks {
			dec.K = int(min(max(w.sync.perTick/syncsPerTick, 1), maxK))
		}
	}
	return dec
}

// diverged compares every rank's report with rank 0's and names the ranks
// whose metadata streams differ, and the first call where they do.
func diverged(reports []syncReport, n uint64) error {
	ref := reports[0]
	var bad []string
	for r, rep := range reports[1:] {
		rank := r + 1
		if rep.Total == ref.Total && slices.Equal(rep.Calls, ref.Calls) {
			continue
		}
		bad = append(bad, fmt.Sprintf("rank %d %s", rank, firstDifference(rep, ref)))
	}
	if bad == nil {
		return nil
	}
	return fmt.Errorf("sync point %d: %w: %s", n, ErrDiverged, strings.Join(bad, "; "))
}

// firstDifference describes where rep departs from rank 0's ref.
func firstDifference(rep, ref syncReport) string {
	base := rep.Total - uint64(len(rep.Calls)) // calls before this sync interval
	for i := 0; i < max(len(rep.Calls), len(ref.Calls)); i++ {
		var mine, theirs string
		if i < len(rep.Calls) {
			mine = rep.Calls[i].Name
		}
		if i < len(ref.Calls) {
			theirs = ref.Calls[i].Name
		}
		if i >= len(rep.Calls) || i >= len(ref.Calls) || rep.Calls[i] != ref.Calls[i] {
			switch {
			case mine == "":
				return fmt.Sprintf("made no call #%d where rank 0 made %s", base+uint64(i)+1, theirs)
			case theirs == "":
				return fmt.Sprintf("made call #%d %s that rank 0 did not make", base+uint64(i)+1, mine)
			case mine != theirs:
				return fmt.Sprintf("made call #%d %s where rank 0 made %s", base+uint64(i)+1, mine, theirs)
			default:
				return fmt.Sprintf("wrote other metadata than rank 0 in call #%d %s", base+uint64(i)+1, mine)
			}
		}
	}
	return fmt.Sprintf("has made %d collective calls, rank 0 %d", rep.Total, ref.Total)
}
