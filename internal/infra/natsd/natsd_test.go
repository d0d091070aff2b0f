package natsd

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func start(t *testing.T, o Options) *Server {
	t.Helper()
	s, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// roundTrip checks that a client with opts can publish and receive.
func roundTrip(t *testing.T, url string, opts ...nats.Option) error {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return err
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("t")
	if err != nil {
		return err
	}
	if err := nc.Publish("t", []byte("ping")); err != nil {
		return err
	}
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		return err
	}
	if string(m.Data) != "ping" {
		t.Fatalf("got %q", m.Data)
	}
	return nil
}

func TestDefaultIsLoopback(t *testing.T) {
	s := start(t, Options{})
	if !strings.HasPrefix(s.URL(), "nats://127.0.0.1:") {
		t.Fatalf("URL %s is not loopback", s.URL())
	}
	if err := roundTrip(t, s.URL()); err != nil {
		t.Fatal(err)
	}
	// Two servers get two free ports.
	if s2 := start(t, Options{}); s2.URL() == s.URL() {
		t.Fatalf("two servers on %s", s.URL())
	}
}

func TestListenAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := start(t, Options{Listen: "127.0.0.1:" + strconv.Itoa(port)})
	if want := "nats://127.0.0.1:" + strconv.Itoa(port); s.URL() != want {
		t.Fatalf("URL %s, want %s", s.URL(), want)
	}
	if err := roundTrip(t, s.URL()); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(Options{Listen: "127.0.0.1:notaport"}); err == nil {
		t.Fatal("bad port accepted")
	}
}

func TestToken(t *testing.T) {
	s := start(t, Options{Token: "s3cret"})
	if err := roundTrip(t, s.URL()); err == nil {
		t.Fatal("connected without the token")
	}
	if err := roundTrip(t, s.URL(), nats.Token("wrong")); err == nil {
		t.Fatal("connected with a wrong token")
	}
	if err := roundTrip(t, s.URL(), nats.Token("s3cret")); err != nil {
		t.Fatal(err)
	}
}

func TestUserPassword(t *testing.T) {
	s := start(t, Options{User: "pw", Password: "pass"})
	if err := roundTrip(t, s.URL(), nats.UserInfo("pw", "nope")); err == nil {
		t.Fatal("connected with a wrong password")
	}
	if err := roundTrip(t, s.URL(), nats.UserInfo("pw", "pass")); err != nil {
		t.Fatal(err)
	}
}

func TestTLS(t *testing.T) {
	cert, key, err := WriteSelfSignedCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, Options{TLSCert: cert, TLSKey: key})
	if !strings.HasPrefix(s.URL(), "tls://") {
		t.Fatalf("URL %s", s.URL())
	}
	if err := roundTrip(t, s.URL()); err == nil {
		t.Fatal("connected without trusting the server's certificate")
	}
	if err := roundTrip(t, s.URL(), nats.RootCAs(cert)); err != nil {
		t.Fatal(err)
	}
}

func TestMaxPayload(t *testing.T) {
	s := start(t, Options{MaxPayload: 8 << 20})
	nc, err := nats.Connect(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if got := nc.MaxPayload(); got != 8<<20 {
		t.Fatalf("max payload %d", got)
	}
}

func TestBadOptions(t *testing.T) {
	for name, o := range map[string]Options{
		"token and user":    {Token: "t", User: "u", Password: "p"},
		"user, no pass":     {User: "u"},
		"cert, no key":      {TLSCert: "cert.pem"},
		"missing cert":      {TLSCert: "/nonexistent/c.pem", TLSKey: "/nonexistent/k.pem"},
		"negative payload":  {MaxPayload: -1},
		"negative pending":  {MaxPending: -1},
		"payload > pending": {MaxPayload: 4 << 20, MaxPending: 1 << 20},
	} {
		if s, err := Start(o); err == nil {
			s.Shutdown()
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, Options{}, func(url string) { urls <- url }) }()
	url := <-urls
	if err := roundTrip(t, url); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := nats.Connect(url, nats.Timeout(time.Second)); err == nil {
		t.Fatal("server still serving after Run returned")
	}
}

// TestCluster: a message published on one server of a 3-server cluster
// reaches subscribers on the others.
func TestCluster(t *testing.T) {
	servers, err := StartCluster(3, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, s := range servers {
			s.Shutdown()
		}
	}()
	var subs []*nats.Subscription
	for _, s := range servers[1:] {
		nc, err := nats.Connect(s.URL())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		sub, err := nc.SubscribeSync("x")
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		subs = append(subs, sub)
	}
	pub, err := nats.Connect(servers[0].URL())
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	// Interest crosses the routes asynchronously, from each server on
	// its own: publish until a message reaches each subscriber.
	for k, sub := range subs {
		for i := 0; ; i++ {
			if err := pub.Publish("x", []byte("hi")); err != nil {
				t.Fatal(err)
			}
			if _, err := sub.NextMsg(100 * time.Millisecond); err == nil {
				break
			}
			if i == 50 {
				t.Fatalf("no message crossed the route to server %d", k+1)
			}
		}
	}
	if _, err := StartCluster(0, Options{}); err == nil {
		t.Error("a cluster of 0 servers started")
	}
	if _, err := Start(Options{Routes: []string{"nats://127.0.0.1:1"}}); err == nil {
		t.Error("routes without a cluster address accepted")
	}
}
