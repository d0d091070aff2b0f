package main

import (
	"bytes"
	"strings"
	"testing"

	"pwstore/internal/infra/natsd"
)

// TestWarnExposed: `pwriter nats` warns when it listens beyond loopback
// without authentication (the tests never listen there: the decision is
// checked on the options), and for a cluster port beyond loopback.
func TestWarnExposed(t *testing.T) {
	for _, tc := range []struct {
		o    natsd.Options
		want string // "" for no warning
	}{
		{natsd.Options{Listen: "127.0.0.1:4222"}, ""},
		{natsd.Options{Listen: ":4222"}, ""},
		{natsd.Options{Listen: "[::1]:4222"}, ""},
		{natsd.Options{Listen: "localhost"}, ""},
		{natsd.Options{Listen: "0.0.0.0:4222"}, "listening on 0.0.0.0:4222 without authentication"},
		{natsd.Options{Listen: "10.1.2.3"}, "listening on 10.1.2.3 without authentication"},
		{natsd.Options{Listen: "node7.cluster:4222"}, "listening on node7.cluster:4222 without authentication"},
		{natsd.Options{Listen: "0.0.0.0:4222", Token: "t"}, ""},
		{natsd.Options{Listen: "0.0.0.0:4222", User: "u", Password: "p"}, ""},
		{natsd.Options{Listen: "0.0.0.0:4222", TLSCA: "ca.pem"}, ""},
		{natsd.Options{Listen: "127.0.0.1", Cluster: "0.0.0.0:6222"}, "accepting routes on 0.0.0.0:6222"},
		{natsd.Options{Listen: "127.0.0.1", Cluster: "127.0.0.1:6222"}, ""},
	} {
		var buf bytes.Buffer
		warnExposed(&buf, tc.o)
		got := buf.String()
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("%+v: warning %q, want %q", tc.o, got, tc.want)
		}
	}
}
