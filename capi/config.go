package main

/*
#define PWSTORE_NO_PROTOTYPES
#include "pwstore.h"
*/
import "C"

import (
	"context"
	"fmt"
	"math"
	"os"
	"sync/atomic"
	"time"

	"pwstore/collective"
	"pwstore/coord"
	"pwstore/internal/tool/cli"
)

// commSeq numbers the communicators this process opens. Every rank of a
// job opens its writers and readers in the same order, so the n-th of each
// rank meet on the communicator named "capiN".
var commSeq atomic.Int64

// role says what a configuration is for.
type role int

const (
	writerRole role = iota
	readerRole
	recoverRole
)

// configure turns a pw_config (nil: the defaults) into a coord.Config,
// opening the communicator of a job of several ranks and the log file.
// The caller releases the resources when it is done (or at once on error).
func configure(c *C.pw_config, r role) (coord.Config, resources, error) {
	var res resources
	var pc C.pw_config
	if c != nil {
		pc = *c
		if pc.version != C.PW_CONFIG_VERSION {
			return coord.Config{}, res, fmt.Errorf("pw_config version %d, want %d (call pw_config_init): %w", pc.version, C.PW_CONFIG_VERSION, coord.ErrConfig)
		}
	}
	cfg := coord.Config{
		Durable:     pc.durable != 0,
		ManualTicks: pc.manual_ticks != 0,
		KeepMD:      pc.keep_md != 0,
	}
	var err error
	// pw_config has no field for the lock (a field would change its
	// layout): the environment turns it off, as for HDF5.
	if cfg.NoFileLock, err = cli.NoFileLock(os.Getenv); err != nil {
		return cfg, res, fmt.Errorf("%w: %w", coord.ErrConfig, err)
	}
	if cfg.WriterGone, err = seconds("writer_gone_seconds", pc.writer_gone_seconds); err != nil {
		return cfg, res, err
	}
	if cfg.OpenWait, err = seconds("open_wait_seconds", pc.open_wait_seconds); err != nil {
		return cfg, res, err
	}
	tick, err := seconds("tick_seconds", pc.tick_seconds)
	if err != nil {
		return cfg, res, err
	}
	// A reader adopts snapshots only at pw_reader_tick: what a C caller
	// reads changes only when it asks.
	if r == writerRole && !cfg.ManualTicks {
		cfg.TickLen = tick
		if tick == 0 {
			cfg.TickLen = coord.DefaultTickLen
		}
	}
	if pc.max_lag < 0 || pc.page_size < 0 {
		return cfg, res, fmt.Errorf("max_lag %d, page_size %d: negative: %w", pc.max_lag, pc.page_size, coord.ErrConfig)
	}
	cfg.MaxLag, cfg.PageSize = uint64(pc.max_lag), int(pc.page_size)

	env, err := rankEnv(&pc)
	if err != nil {
		return cfg, res, err
	}
	log, closeLog, err := cli.Logger(goString(pc.log_file), env.Rank, env.Size)
	if err != nil {
		return cfg, res, fmt.Errorf("%w: %w", coord.ErrConfig, err)
	}
	res.closeLog = closeLog
	cfg.Logger = log
	if r == recoverRole || env.Size <= 1 {
		return cfg, res, nil
	}
	collTimeout, err := seconds("coll_timeout_seconds", pc.coll_timeout_seconds)
	if err != nil {
		res.release()
		return cfg, res, err
	}
	cc := env.Config()
	cc.Name = fmt.Sprintf("capi%d", commSeq.Add(1))
	cc.Timeout, cc.Logger = collTimeout, log
	if cc.URL == "" {
		res.release()
		return cfg, res, fmt.Errorf("rank %d of %d: no NATS server: set pw_config.nats_url or %s: %w", env.Rank, env.Size, collective.EnvURL, coord.ErrConfig)
	}
	if res.comm, err = collective.Open(context.Background(), cc); err != nil {
		res.release()
		return cfg, res, fmt.Errorf("rank %d of %d: %w", env.Rank, env.Size, err)
	}
	cfg.Comm = res.comm
	return cfg, res, nil
}

// rankEnv is this process's place in its job: the configuration's rank,
// size and job, or the environment's where they are left out.
func rankEnv(pc *C.pw_config) (collective.Env, error) {
	env, err := collective.FromEnv(os.Getenv)
	if pc.size == 0 {
		if err != nil {
			return env, fmt.Errorf("rank environment: %w: %w", coord.ErrConfig, err)
		}
	} else {
		if pc.size < 0 || pc.rank < 0 || pc.rank >= pc.size {
			return env, fmt.Errorf("rank %d of size %d: %w", pc.rank, pc.size, coord.ErrConfig)
		}
		env.Rank, env.Size = int(pc.rank), int(pc.size)
	}
	if pc.job != nil {
		env.Job = C.GoString(pc.job)
	}
	if pc.nats_url != nil {
		env.URL = C.GoString(pc.nats_url)
	}
	if env.Size > 1 && env.Job == "" {
		return env, fmt.Errorf("rank %d of %d: no job id: set pw_config.job or %s: %w", env.Rank, env.Size, collective.EnvJob, coord.ErrConfig)
	}
	return env, nil
}

// seconds converts a non-negative number of seconds.
func seconds(name string, s C.double) (time.Duration, error) {
	f := float64(s)
	if f < 0 || math.IsNaN(f) || f > 1e9 {
		return 0, fmt.Errorf("%s = %g: %w", name, f, coord.ErrConfig)
	}
	return time.Duration(f * float64(time.Second)), nil
}

func goString(s *C.char) string {
	if s == nil {
		return ""
	}
	return C.GoString(s)
}
