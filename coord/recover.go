package coord

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"go.uber.org/zap"

	"pwstore/mdfile"
	"pwstore/pfile"
	"pwstore/vfs"
)

// Recovered says what recovery did.
type Recovered struct {
	Tick   uint64 // the last completed tick, now wholly in the data file
	Pages  int    // metadata page images copied into the data file
	Needed bool   // false: there was nothing to recover
}

// Recover brings a data file whose writer died to its last completed tick
// (DESIGN section 9): it copies the page images of the metadata file's
// last valid index into the data file, syncs it, marks the metadata file
// consumed and removes it. A file without a metadata file, or whose writer
// closed cleanly, needs nothing (Tick is then the closing tick).
//
// It never deletes or writes what it cannot prove belongs to the file: a
// metadata file without a valid pwstore header, or of another data file,
// and a data file that is not pwstore's, of another identity, or shorter
// than its end of allocation, are refused before a byte is written, and
// both files are left as they are.
//
// It first takes the data file's lock exclusively (unless
// cfg.NoFileLock): a file that a writer process, running or stopped,
// still holds is refused with ErrWriterAlive. Unless cfg.ForceRecover, it
// then makes sure the writer is gone: a heartbeat younger than
// cfg.WriterGone is watched until it would be that old, and a tick that
// moves meanwhile means ErrWriterAlive; a metadata file its writer has not
// published in yet must be that old itself.
func Recover(path string, cfg Config) (Recovered, error) {
	out, err := recoverFile(path, cfg)
	return out, public(err)
}

func recoverFile(path string, cfg Config) (Recovered, error) {
	cfg, err := cfg.withDefaults(path)
	if err != nil {
		return Recovered{}, err
	}
	log := cfg.Logger.With(zap.String("file", path))
	if _, err := cfg.FS.Stat(cfg.MDPath); errors.Is(err, fs.ErrNotExist) {
		return Recovered{}, nil
	}
	data, openErr := cfg.FS.OpenRW(path)
	if openErr == nil {
		defer data.Close()
		if err := lockForRecovery(path, cfg, data); err != nil {
			return Recovered{}, err
		}
	}
	h, err := mdfile.Newest(cfg.FS, cfg.MDPath)
	if errors.Is(err, mdfile.ErrNotReady) {
		return unpublished(path, cfg, data, openErr)
	}
	if err != nil {
		return Recovered{}, fmt.Errorf("%s: %w", path, err)
	}
	if !cfg.ForceRecover && h.Status.Live() {
		if err := writerDead(path, cfg, h); err != nil {
			return Recovered{}, err
		}
	}
	rc, err := mdfile.OpenForRecovery(cfg.FS, cfg.MDPath, mdfile.ReaderOptions{Logger: log})
	if err != nil {
		return Recovered{}, fmt.Errorf("%s: %w", path, err)
	}
	defer rc.Close()
	h = rc.Snapshot.Header
	if openErr != nil {
		return Recovered{}, fmt.Errorf("recover %s: %w", path, openErr)
	}
	if err := ours(path, cfg.MDPath, data, rc); err != nil {
		return Recovered{}, err
	}
	if !h.Status.Live() {
		return Recovered{Tick: h.Tick}, removeMD(cfg)
	}
	// Readers still on an older tick must not trust the pages written
	// next without moving to the recovered tick first.
	if err := rc.MarkFinalising(); err != nil {
		return Recovered{}, fmt.Errorf("recover %s: %w", path, err)
	}
	out := Recovered{Tick: h.Tick, Needed: true}
	for _, e := range rc.Snapshot.Entries() {
		img := make([]byte, e.Length)
		if err := rc.ReadImage(e, img); err != nil {
			return Recovered{}, fmt.Errorf("%s: %w", path, err)
		}
		if _, err := data.WriteAt(img, int64(e.Page)*int64(h.PageSize)); err != nil {
			return Recovered{}, fmt.Errorf("recover %s: write page %d: %w", path, e.Page, err)
		}
		out.Pages++
	}
	if err := data.Sync(); err != nil {
		return Recovered{}, fmt.Errorf("recover %s: sync: %w", path, err)
	}
	if err := rc.MarkConsumed(); err != nil {
		return Recovered{}, fmt.Errorf("recover %s: %w", path, err)
	}
	log.Info("recovered", zap.Uint64("tick", out.Tick), zap.Int("pages", out.Pages))
	return out, removeMD(cfg)
}

// lockForRecovery takes the data file's lock exclusively, unless
// cfg.NoFileLock: a writer process holds it shared for its life, so a
// conflict means one still lives - running, or stopped (SIGSTOP, a frozen
// node) with a write perhaps already past its fencing check, which would
// land after the recovery. A conflict is retried for WriterGone, as a
// heartbeat is watched (a launcher killed a moment ago may still be
// taking its ranks down); ForceRecover retries nothing but does not
// override it either: it skips the wait on the heartbeat, which cannot
// tell a stopped writer from a dead one, and the lock can, where the file
// system shares it.
func lockForRecovery(path string, cfg Config, data vfs.File) error {
	if cfg.NoFileLock {
		return nil
	}
	end := time.Now()
	if !cfg.ForceRecover {
		end = end.Add(cfg.WriterGone)
	}
	for {
		_, err := vfs.Lock(data, true)
		switch {
		case errors.Is(err, vfs.ErrLocked) && time.Now().Before(end):
			time.Sleep(lockRetry)
			continue
		case errors.Is(err, vfs.ErrLocked):
			return fmt.Errorf("refusing to recover %s: a process still has it open as its writer (running, or stopped): end that process first; both files are left as they are: %w",
				path, ErrWriterAlive)
		case err != nil:
			return fmt.Errorf("recover %s: lock: %w", path, err)
		}
		return nil
	}
}

// lockRetry is the pause between attempts on a locked data file.
const lockRetry = 20 * time.Millisecond

// ours checks, before recovery writes a byte, that the data file is the
// one the metadata file was written for, and whole: its superblock
// carries the metadata file's identity (or, if its writer died before it
// wrote page 0, the data file starts with zeros and the index holds page
// 0 with that identity), and it reaches the end of allocation of the tick
// recovered (a writer grows the file there before it publishes a tick).
func ours(path, mdPath string, data vfs.File, rc *mdfile.Recovery) error {
	snap := rc.Snapshot
	h := snap.Header
	ps := int64(h.PageSize)
	sb, err := pfile.ReadSuperblock(data)
	if err != nil {
		head := make([]byte, ps)
		n, rerr := data.ReadAt(head, 0)
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return fmt.Errorf("recover %s: %w", path, rerr)
		}
		if n == 0 || !bytes.Equal(head[:n], make([]byte, n)) {
			return fmt.Errorf("refusing to recover %s: it is not a pwstore data file (%v); %s and %s are left as they are: %w",
				path, err, path, mdPath, ErrWrongFile)
		}
		// Never written: page 0 must come from the index.
		e, ok := snap.Find(0)
		if !ok || e.Page != 0 {
			return fmt.Errorf("refusing to recover %s: it has no superblock and %s holds none for it; %s and %s are left as they are: %w",
				path, mdPath, path, mdPath, ErrWrongFile)
		}
		if sb, err = indexSuperblock(rc, e); err != nil {
			return fmt.Errorf("refusing to recover %s: %s: %w", path, mdPath, err)
		}
	}
	if sb.ID != h.FileID {
		return fmt.Errorf("refusing to recover %s: %s was written for data file %x, %s is %x; both are left as they are: %w",
			path, mdPath, h.FileID, path, sb.ID, ErrWrongFile)
	}
	if e, ok := snap.Find(0); ok && e.Page == 0 {
		// The superblock of the tick recovered: its end of allocation.
		if sb, err = indexSuperblock(rc, e); err != nil {
			return fmt.Errorf("refusing to recover %s: %s: %w", path, mdPath, err)
		}
	}
	if err := pfile.CheckSize(data, sb); err != nil {
		return fmt.Errorf("refusing to recover %s: at tick %d, %w; both files are left as they are (restore %s from a copy)",
			path, h.Tick, err, path)
	}
	return nil
}

// indexSuperblock decodes the superblock from the index entry e of page 0.
func indexSuperblock(rc *mdfile.Recovery, e mdfile.Entry) (pfile.Superblock, error) {
	img := make([]byte, e.Length)
	if err := rc.ReadImage(e, img); err != nil {
		return pfile.Superblock{}, err
	}
	return pfile.DecodeSuperblock(img[:rc.Snapshot.Header.PageSize])
}

// removeMD removes the metadata file and makes the removal durable.
func removeMD(cfg Config) error {
	if err := cfg.FS.Remove(cfg.MDPath); err != nil {
		return fmt.Errorf("recover: remove %s: %w", cfg.MDPath, err)
	}
	if err := vfs.SyncDirOf(cfg.FS, cfg.MDPath); err != nil {
		return fmt.Errorf("recover: remove %s: %w", cfg.MDPath, err)
	}
	return nil
}

// unpublished handles a metadata file without a valid header. Only the
// file a writer leaves when it dies before its first tick is recognised
// (mdfile.Unpublished), and (unless cfg.ForceRecover) only once it is
// untouched for WriterGone, so that no writer is starting on it. A writer
// writes nothing to the data file before it publishes, so a data file with
// a valid superblock is as its previous writer closed it (the crash came
// while reopening it), and only the metadata file must go. Anything else
// is refused, and both files are left as they are.
func unpublished(path string, cfg Config, data vfs.File, openErr error) (Recovered, error) {
	ok, err := mdfile.Unpublished(cfg.FS, cfg.MDPath)
	if err != nil {
		return Recovered{}, fmt.Errorf("recover %s: %w", path, err)
	}
	if !ok {
		what := "has no valid header"
		if fi, err := cfg.FS.Stat(cfg.MDPath); err == nil && fi.Size() == 0 {
			what = "is empty"
		}
		return Recovered{}, fmt.Errorf("refusing to recover %s: %s %s: it is not a pwstore metadata file, or a damaged one; both files are left as they are (if it is not %s's, move it away: %s then reads alone): %w",
			path, cfg.MDPath, what, path, path, ErrCorrupt)
	}
	if !cfg.ForceRecover {
		if err := creatorDead(path, cfg); err != nil {
			return Recovered{}, err
		}
	}
	err = openErr
	if err == nil {
		_, err = pfile.ReadSuperblock(data)
	}
	if err != nil {
		return Recovered{}, fmt.Errorf("%s: its writer died while creating it, before publishing anything (%v): nothing to recover; it can be created again once %s and %s are removed",
			path, err, path, cfg.MDPath)
	}
	return Recovered{}, removeMD(cfg)
}

// creatorDead returns nil once the writer of an unpublished metadata file
// is known to be gone: the file has not changed for WriterGone (its
// modification time stands in for the heartbeat it never wrote). A file
// younger than that is watched until it is that old; a change or a header
// appearing meanwhile means ErrWriterAlive.
func creatorDead(path string, cfg Config) error {
	fi, err := cfg.FS.Stat(cfg.MDPath)
	if err != nil {
		return fmt.Errorf("recover %s: %w", path, err)
	}
	watch := cfg.WriterGone - max(cfg.Now().Sub(fi.ModTime()), 0)
	for end := time.Now().Add(watch); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		now, err := cfg.FS.Stat(cfg.MDPath)
		if err != nil {
			return fmt.Errorf("recover %s: %w", path, err)
		}
		_, herr := mdfile.Newest(cfg.FS, cfg.MDPath)
		if herr == nil || !now.ModTime().Equal(fi.ModTime()) || now.Size() != fi.Size() {
			return fmt.Errorf("%s: the writer of %s is starting (it wrote the file while recovery watched it): recovery is for a file whose writer died; stop the writer, or force it: %w",
				path, cfg.MDPath, ErrWriterAlive)
		}
	}
	return nil
}

// writerDead returns nil once the metadata file's writer is known to be
// gone: it has not heartbeat for WriterGone. h is its newest header.
func writerDead(path string, cfg Config, h mdfile.Header) error {
	watch := cfg.WriterGone - max(cfg.Now().Sub(h.Heartbeat), 0)
	for end := time.Now().Add(watch); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		now, err := mdfile.Newest(cfg.FS, cfg.MDPath)
		if err != nil {
			return fmt.Errorf("%s: watching the writer's heartbeat: %w", path, err)
		}
		if now.Tick > h.Tick {
			return fmt.Errorf("%s: its writer is still publishing (tick %d, then %d): recovery is for a file whose writer died; stop the writer, or force it: %w",
				path, h.Tick, now.Tick, ErrWriterAlive)
		}
	}
	return nil
}
