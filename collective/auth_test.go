package collective

import (
	"context"
	"testing"
	"time"

	"pwstore/internal/infra/natsd"
)

// TestAuthPassThrough: the credentials and TLS files in Config.Auth reach
// the NATS client; wrong ones fail Open with an error.
func TestAuthPassThrough(t *testing.T) {
	cert, key, err := natsd.WriteSelfSignedCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		server    natsd.Options
		good, bad Auth
	}{
		{"token", natsd.Options{Token: "tok"}, Auth{Token: "tok"}, Auth{Token: "nope"}},
		{"user", natsd.Options{User: "u", Password: "p"}, Auth{User: "u", Password: "p"}, Auth{User: "u", Password: "x"}},
		{"tls", natsd.Options{TLSCert: cert, TLSKey: key}, Auth{CAFile: cert}, Auth{}},
		{"mutual tls", natsd.Options{TLSCert: cert, TLSKey: key, TLSCA: cert},
			Auth{CAFile: cert, CertFile: cert, KeyFile: key}, Auth{CAFile: cert}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, tc.server)
			cfg := Config{Job: "auth", URL: s.URL(), Timeout: 5 * time.Second, JoinTimeout: 2 * time.Second}
			cfg.Auth = tc.good
			comms, err := openAll(context.Background(), 2, cfg)
			if err != nil {
				t.Fatal(err)
			}
			mustAll(t, onAll(comms, func(c Comm) error { return c.Barrier(context.Background()) }))
			closeAll(comms)
			cfg.Auth = tc.bad
			if comms, err := openAll(context.Background(), 2, cfg); err == nil {
				closeAll(comms)
				t.Fatal("Open succeeded with bad credentials")
			}
		})
	}
}
