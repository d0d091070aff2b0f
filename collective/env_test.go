package collective

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"pwstore/internal/infra/natsd"
)

func TestFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want Env
		err  string
	}{
		{"single", nil, Env{Rank: 0, Size: 1, Job: "single", Source: "single"}, ""},
		{"launcher", map[string]string{"PW_RANK": "2", "PW_SIZE": "4", "PW_JOB": "j1", "PW_NATS_URL": "nats://h:1"},
			Env{Rank: 2, Size: 4, Job: "j1", URL: "nats://h:1", Source: "launcher"}, ""},
		{"launcher wins over slurm", map[string]string{"PW_RANK": "1", "PW_SIZE": "2", "PW_JOB": "j", "SLURM_PROCID": "5", "SLURM_NTASKS": "9"},
			Env{Rank: 1, Size: 2, Job: "j", Source: "launcher"}, ""},
		{"slurm", map[string]string{"SLURM_PROCID": "3", "SLURM_NTASKS": "8", "SLURM_JOB_ID": "1234", "SLURM_STEP_ID": "0"},
			Env{Rank: 3, Size: 8, Job: "slurm-1234-0", Source: "slurm"}, ""},
		{"openmpi", map[string]string{"OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_SIZE": "2", "PMIX_NAMESPACE": "prterun-h-77@1"},
			Env{Rank: 0, Size: 2, Job: "ompi-prterun-h-77_1", Source: "openmpi"}, ""},
		{"openmpi with PW_JOB", map[string]string{"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2", "PW_JOB": "a.b"},
			Env{Rank: 1, Size: 2, Job: "a_b", Source: "openmpi"}, ""},
		{"bad rank", map[string]string{"PW_RANK": "x", "PW_SIZE": "2"}, Env{}, "not a number"},
		{"rank out of range", map[string]string{"SLURM_PROCID": "4", "SLURM_NTASKS": "4"}, Env{}, "rank 4 of 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FromEnv(func(k string) string { return tc.env[k] })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestOpenChecks(t *testing.T) {
	ctx := context.Background()
	for name, cfg := range map[string]Config{
		"no url":      {Rank: 0, Size: 2, Job: "j"},
		"bad job":     {Rank: 0, Size: 2, Job: "a.b", URL: "nats://127.0.0.1:1"},
		"no job":      {Rank: 0, Size: 2, URL: "nats://127.0.0.1:1"},
		"bad rank":    {Rank: 2, Size: 2, Job: "j", URL: "nats://127.0.0.1:1"},
		"two creds":   {Rank: 0, Size: 2, Job: "j", URL: "nats://127.0.0.1:1", Auth: Auth{Token: "t", User: "u", Password: "p"}},
		"cert no key": {Rank: 0, Size: 2, Job: "j", URL: "nats://127.0.0.1:1", Auth: Auth{CertFile: "c.pem"}},
	} {
		if c, err := Open(ctx, cfg); err == nil {
			c.Close()
			t.Errorf("%s: Open succeeded", name)
		}
	}
	// One rank needs no server.
	c, err := Open(ctx, Config{Rank: 0, Size: 1, Job: "solo"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := c.Allgather(ctx, []byte("me"))
	if err != nil || len(got) != 1 || string(got[0]) != "me" {
		t.Fatalf("single-rank allgather: %q, %v", got, err)
	}
}

// TestConnectWaitsForServer: ranks may start before the server is up.
func TestConnectWaitsForServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	res := make(chan error, 1)
	go func() {
		comms, err := openAll(context.Background(), 2, Config{Job: "late", URL: "nats://" + addr, JoinTimeout: 20 * time.Second})
		if err == nil {
			err = errors.Join(onAll(comms, func(c Comm) error { return c.Barrier(context.Background()) })...)
			closeAll(comms)
		}
		res <- err
	}()
	time.Sleep(500 * time.Millisecond)
	startServer(t, natsd.Options{Listen: addr})
	if err := <-res; err != nil {
		t.Fatal(err)
	}
}
