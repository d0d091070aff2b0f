package collective

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/vmihailenco/msgpack/v5"

	"pwstore/internal/infra/natsd"
)

// TestCraftedMessages publishes messages that do not belong on a job's
// subjects; the rank receiving one must fail with ErrProtocol, and its
// peer must fail too, rather than either mixing it in.
func TestCraftedMessages(t *testing.T) {
	valid := message{Job: []byte("crafted"), Comm: []byte(DefaultName), Kind: kindBcast, From: 0, Chunks: 1, Payload: []byte("x")}
	for _, tc := range []struct {
		name    string
		subject string // "" means rank 1's inbox
		msg     func() []byte
		want    string
	}{
		{"foreign job", "", func() []byte { m := valid; m.Job = []byte("other"); m.Seq = 2; return encode(t, &m) }, "foreign message"},
		{"foreign comm", "all", func() []byte { m := valid; m.Comm = []byte("other"); m.Seq = 2; return encode(t, &m) }, "foreign message"},
		{"stale sequence", "", func() []byte { m := valid; m.Seq = 1; return encode(t, &m) }, "has finished collective #"},
		{"duplicate", "all", func() []byte { m := valid; m.Kind = kindRelease; m.Seq = 2; return encode(t, &m) }, ""},
		{"garbage", "", func() []byte { return []byte("PUB nonsense") }, "bad message"},
		{"sender out of range", "all", func() []byte { m := valid; m.From = 7; m.Seq = 2; return encode(t, &m) }, "from rank 7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, natsd.Options{})
			comms, err := openAll(context.Background(), 2, Config{Job: "crafted", URL: s.URL(), Timeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer closeAll(comms)
			mustAll(t, onAll(comms, func(c Comm) error { return c.Barrier(context.Background()) }))
			// Crafted as rank 0's: with its nonce (another one is caught
			// as a second process claiming rank 0, TestSameJobID).
			valid.Nonce = comms[0].(*comm).nonce

			nc, err := nats.Connect(s.URL())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			subj := "pw.crafted.world.1"
			if tc.subject != "" {
				subj = "pw.crafted.world." + tc.subject
			}
			if err := nc.Publish(subj, tc.msg()); err != nil {
				t.Fatal(err)
			}
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}
			// The crafted message comes over another connection, so NATS
			// does not order it with the ranks' own traffic: it fails
			// whichever barrier is running when rank 1 reads it.
			errs := onAll(comms, func(c Comm) error {
				for end := time.Now().Add(5 * time.Second); time.Now().Before(end); {
					if err := c.Barrier(context.Background()); err != nil {
						return err
					}
				}
				return nil
			})
			if !errors.Is(errs[1], ErrProtocol) || !strings.Contains(errs[1].Error(), tc.want) {
				t.Errorf("rank 1: %v, want a protocol violation containing %q", errs[1], tc.want)
			}
			if errs[0] == nil {
				t.Error("rank 0 did not fail with its peer")
			}
		})
	}
}

func encode(t *testing.T, m *message) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := encodeMessage(&buf, msgpack.NewEncoder(&buf), m); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}
