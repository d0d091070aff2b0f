package collective

import (
	"fmt"
	"strconv"
	"strings"
)

// The variables the local launcher sets for each rank process. PW_JOB and
// PW_NATS_URL also apply under srun and mpirun (to override the job id and
// to name the server).
const (
	EnvRank = "PW_RANK"
	EnvSize = "PW_SIZE"
	EnvJob  = "PW_JOB"
	EnvURL  = "PW_NATS_URL"
	// EnvToken carries the token of the launcher's embedded server, so that
	// other users of a shared node cannot join or disturb the job.
	EnvToken = "PW_NATS_TOKEN"
)

// Env is where this process sits in its job, as its environment says.
type Env struct {
	Rank, Size int
	Job        string // a subject token: letters, digits, '-' and '_'
	URL        string // NATS URL; empty unless PW_NATS_URL is set
	Token      string // NATS token from PW_NATS_TOKEN, if set
	Source     string // "launcher", "slurm", "openmpi" or "single"
}

// FromEnv reads the environment through getenv (os.Getenv in a command):
// PW_RANK/PW_SIZE/PW_JOB if PW_RANK is set (the local launcher), else
// SLURM_PROCID/SLURM_NTASKS/SLURM_JOB_ID/SLURM_STEP_ID (srun), else
// OMPI_COMM_WORLD_RANK/OMPI_COMM_WORLD_SIZE (mpirun; the job id from PW_JOB
// or Open MPI's PMIX_NAMESPACE), else a single rank. PW_JOB, if set,
// overrides the job id everywhere. A job of more than one rank needs a job
// id; the caller may still fill Job and URL in from flags.
func FromEnv(getenv func(string) string) (Env, error) {
	e := Env{URL: getenv(EnvURL), Token: getenv(EnvToken)}
	var rank, size string
	switch {
	case getenv(EnvRank) != "":
		e.Source, rank, size = "launcher", getenv(EnvRank), getenv(EnvSize)
	case getenv("SLURM_PROCID") != "":
		e.Source, rank, size = "slurm", getenv("SLURM_PROCID"), getenv("SLURM_NTASKS")
		if size == "" {
			size = getenv("SLURM_NPROCS") // older Slurm
		}
		if id := getenv("SLURM_JOB_ID"); id != "" {
			e.Job = "slurm-" + id
			if step := getenv("SLURM_STEP_ID"); step != "" {
				e.Job += "-" + step
			}
		}
	case getenv("OMPI_COMM_WORLD_RANK") != "":
		e.Source, rank, size = "openmpi", getenv("OMPI_COMM_WORLD_RANK"), getenv("OMPI_COMM_WORLD_SIZE")
		if ns := getenv("PMIX_NAMESPACE"); ns != "" {
			e.Job = "ompi-" + ns
		}
	default:
		e.Source, e.Rank, e.Size, e.Job = "single", 0, 1, "single"
	}
	if e.Source != "single" {
		var err error
		if e.Rank, err = strconv.Atoi(rank); err != nil {
			return Env{}, fmt.Errorf("collective: %s rank %q is not a number", e.Source, rank)
		}
		if e.Size, err = strconv.Atoi(size); err != nil {
			return Env{}, fmt.Errorf("collective: %s size %q is not a number", e.Source, size)
		}
		if e.Size < 1 || e.Rank < 0 || e.Rank >= e.Size {
			return Env{}, fmt.Errorf("collective: %s gives rank %d of %d", e.Source, e.Rank, e.Size)
		}
	}
	if job := getenv(EnvJob); job != "" {
		e.Job = job
	}
	e.Job = subjectToken(e.Job)
	return e, nil
}

// Config returns a communicator configuration for this process.
func (e Env) Config() Config {
	return Config{Rank: e.Rank, Size: e.Size, Job: e.Job, URL: e.URL, Auth: Auth{Token: e.Token}}
}

// subjectToken replaces what may not appear in a NATS subject token ('.',
// '*', '>', spaces, ...) with '_'.
func subjectToken(s string) string {
	return strings.Map(func(r rune) rune {
		if validNameRune(r) {
			return r
		}
		return '_'
	}, s)
}

func validNameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
}
