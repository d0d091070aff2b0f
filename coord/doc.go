// Package coord is pwstore's SWMR writer and reader, and the public Go API
// for applications: create or open a checkpoint file, create datasets,
// extend them, write and read slabs, set attributes, end ticks, close;
// follow a file being written from other processes, and recover one whose
// writer died.
//
// # Ticks
//
// A writer publishes its changes once per tick (Config.TickLen, default
// 100 ms): at the end of a tick it hands the metadata pages changed in the
// tick to the metadata file (FILE.md), then the index of them, then the
// header naming the tick. A tick ends when an API call finds it expired
// (on entry or exit), from a background timer while the application is
// between calls, at EndTick, and early when the tick's changes pass
// Config.TickBytes. Readers read metadata pages through the index they
// adopted and everything else from the data file, so they always see the
// state of one completed tick, and a change becomes visible within a few
// ticks. Nothing a reader may still use is overwritten or reused for
// max_lag ticks and for Config.LagWindow (default max_lag tick lengths):
// superseded metadata-file space, metadata pages waiting to be written
// into the data file, and freed data-file space are all kept until both
// have passed, and every metadata-file header names the oldest tick a
// reader may still be on. A reader on an older tick gets ErrLagging rather
// than wrong data. The window in time is what lets steps end ticks every
// few milliseconds without giving readers only a few tens of them; an
// automatic reader ticks early once it is in the older half of what the
// newest header lets it be on.
//
// Sync marks an application step complete: the tick ends there at once,
// unless the last end of tick a step caused started less than
// Config.MinTickInterval ago (default a fiftieth of a tick) or less than
// three times as long ago as it took, and then as soon as it did - so a step is
// published when it is done, not when the timer next fires.
//
// # Tick announcements
//
// With Config.Announce (a NATS connection), writer rank 0 announces every
// tick it publishes on AnnounceSubject of the file's identity, which any
// process finds in the metadata file's header. Readers given a connection
// to the same server wake on them: WaitTick returns, and an automatic
// reader ticks at its next call. The metadata file stays the only source of
// truth: a lost announcement, or a lost server, costs a reader latency -
// it ticks when its wait runs out - never correctness.
//
// # Parallel writers and readers
//
// With Config.Comm, a Writer is one rank of N: every rank makes the same
// metadata-changing calls (CreateDataset, Extend, Append, SetAttr, EndTick, Flush,
// Close) with the same arguments, and writes the raw data it owns. Ranks
// meet at sync points, where they prove their streams of dirty metadata
// identical and rank 0 decides where ticks end; rank 0 alone writes the
// metadata file. A Reader with a communicator is one rank of a collective
// reader: every rank calls Tick together, rank 0 loads the new index and
// broadcasts it (or its delta), and all ranks adopt the same tick.
//
// # Closing
//
// Close publishes the last tick, marks the metadata file finalising (one
// header), writes every metadata page still delayed into the data file at
// once, then marks it closed and removes it: one end of tick plus the
// write back, where waiting out the delays took up to max_lag ticks. A
// reader on an older tick checks the header after every page it loads;
// once it sees the mark it does not trust the page (it may be newer than
// its tick), moves to the final tick and reruns the call, whole: the
// application sees no error, only its snapshot move as at an automatic
// tick. So a reader with ManualTicks may move to the final tick without
// calling Tick; each rank of a collective reader moves alone (the final
// tick is the same for all), and until their next Tick ranks may differ
// between their old tick and the final one; TickInfo stays the same on
// every rank. The mdfile package doc gives the protocol and why it is
// safe. Flush still waits the delays out, since the file stays open.
//
// # Crashes
//
// The data file plus the last valid index of the metadata file always
// describe the last completed tick. Recover applies that index to the data
// file after a crash. With Config.Durable, completed ticks survive power
// loss too.
package coord
