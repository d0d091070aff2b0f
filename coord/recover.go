package coord

import (
	"errors"
	"fmt"
	"io/fs"
	"time"

	"go.uber.org/zap"

	"pwstore/mdfile"
	"pwstore/pfile"
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
// closed cleanly, needs nothing (Tick is then the closing tick). Unless
// cfg.ForceRecover, it first makes sure the writer is gone: a heartbeat
// younger than cfg.WriterGone is watched until it would be that old, and
// a tick that moves meanwhile means ErrWriterAlive.
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
	if !cfg.ForceRecover {
		if err := writerDead(path, cfg); err != nil {
			return Recovered{}, err
		}
	}
	rc, err := mdfile.OpenForRecovery(cfg.FS, cfg.MDPath, mdfile.ReaderOptions{Logger: log})
	if errors.Is(err, mdfile.ErrNotReady) {
		return unpublished(path, cfg)
	}
	if err != nil {
		return Recovered{}, fmt.Errorf("%s: %w", path, err)
	}
	defer rc.Close()
	h := rc.Snapshot.Header
	if h.Status != mdfile.StatusOpen {
		return Recovered{Tick: h.Tick}, cfg.FS.Remove(cfg.MDPath)
	}
	data, err := cfg.FS.OpenRW(path)
	if err != nil {
		return Recovered{}, fmt.Errorf("recover %s: %w", path, err)
	}
	defer data.Close()
	if sb, err := pfile.ReadSuperblock(data); err == nil && sb.ID != h.FileID {
		return Recovered{}, fmt.Errorf("%s: %s was written for file %x, the data file is %x: %w",
			path, cfg.MDPath, h.FileID, sb.ID, ErrWrongFile)
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
	// Like a clean close, make the file reach its end of allocation: space
	// allocated for chunks never written reads as zeros.
	sb, err := pfile.ReadSuperblock(data)
	if err != nil {
		return Recovered{}, fmt.Errorf("recover %s: superblock after applying the index: %w", path, err)
	}
	if size, err := data.Size(); err != nil {
		return Recovered{}, fmt.Errorf("recover %s: %w", path, err)
	} else if end := int64(sb.EOA) * int64(sb.PageSize); size < end {
		if err := data.Truncate(end); err != nil {
			return Recovered{}, fmt.Errorf("recover %s: extend to the end of allocation: %w", path, err)
		}
	}
	if err := data.Sync(); err != nil {
		return Recovered{}, fmt.Errorf("recover %s: sync: %w", path, err)
	}
	if err := rc.MarkConsumed(); err != nil {
		return Recovered{}, fmt.Errorf("recover %s: %w", path, err)
	}
	log.Info("recovered", zap.Uint64("tick", out.Tick), zap.Int("pages", out.Pages))
	if err := cfg.FS.Remove(cfg.MDPath); err != nil {
		return out, fmt.Errorf("recover %s: remove %s: %w", path, cfg.MDPath, err)
	}
	return out, nil
}

// unpublished handles a writer that died before its first tick. A writer
// writes nothing to the data file before it publishes, so a data file with
// a valid superblock is as its previous writer closed it (the crash came
// while reopening it), and only the empty metadata file must go. Without
// one, the file was being created: nothing of it was ever published.
func unpublished(path string, cfg Config) (Recovered, error) {
	data, err := cfg.FS.Open(path)
	if err == nil {
		_, err = pfile.ReadSuperblock(data)
		data.Close()
	}
	if err != nil {
		return Recovered{}, fmt.Errorf("%s: its writer died while creating it, before publishing anything (%v): nothing to recover; remove %s and %s",
			path, err, path, cfg.MDPath)
	}
	if err := cfg.FS.Remove(cfg.MDPath); err != nil {
		return Recovered{}, fmt.Errorf("recover %s: remove the unpublished %s: %w", path, cfg.MDPath, err)
	}
	return Recovered{}, nil
}

// writerDead returns nil once the metadata file's writer is known to be
// gone: it has not published, closed, or not heartbeat for WriterGone.
func writerDead(path string, cfg Config) error {
	r, err := mdfile.Open(cfg.FS, cfg.MDPath, mdfile.ReaderOptions{Wait: time.Millisecond})
	if err != nil {
		return nil // nothing readable to watch: recovery proper will say what it finds
	}
	defer r.Close()
	h := r.Current().Header
	if h.Status != mdfile.StatusOpen {
		return nil
	}
	watch := cfg.WriterGone - max(cfg.Now().Sub(h.Heartbeat), 0)
	for end := time.Now().Add(watch); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if t, err := r.WriterTick(); err == nil && t > h.Tick {
			return fmt.Errorf("%s: its writer is still publishing (tick %d, then %d): recovery is for a file whose writer died; stop the writer, or force it: %w",
				path, h.Tick, t, ErrWriterAlive)
		}
	}
	return nil
}
