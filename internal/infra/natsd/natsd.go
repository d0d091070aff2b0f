// Package natsd runs an embedded nats-server: for tests, for the local
// launcher (`--np N`) and for `pwriter nats`, the standalone server of
// multi-node jobs. It listens on loopback only unless a listen address is
// given, with optional token or user/password authentication and TLS.
package natsd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/zap"
)

// Options configure the embedded server. The zero value is a loopback server
// on a free port, without authentication or TLS.
type Options struct {
	// Listen is "host", "host:port" or ":port". Empty means 127.0.0.1 on a
	// free port; a missing or zero port means a free port too.
	Listen string
	// Token, if set, is the only accepted credential (clients use nats.Token).
	Token string
	// User and Password, if set, are the only accepted credentials (clients
	// use nats.UserInfo). Token and User exclude each other.
	User, Password string
	// TLSCert and TLSKey (PEM files) switch on TLS; TLSCA, if set, makes the
	// server require client certificates signed by that CA.
	TLSCert, TLSKey, TLSCA string
	// MaxPayload is the largest message the server accepts, in bytes; zero
	// means the server's default (1 MiB).
	MaxPayload int32
	// MaxPending is how many bytes the server buffers for one slow client
	// before it drops it; zero means the server's default (64 MiB), or 4 x
	// MaxPayload if that is more. A collective's data in flight to one
	// rank (a gather's root receives from all) must stay below it.
	MaxPending int64
	// Cluster, if set, is the address ("host:port", port 0 for a free one)
	// on which this server accepts routes from the other servers of a
	// cluster; Routes are their cluster URLs ("nats://host:port"). A
	// message published on any server reaches subscribers on all, crossing
	// each route once: one server per node, the ranks of a node on it.
	Cluster string
	Routes  []string
	// ClusterName names the cluster (default "pw"); every server of one
	// cluster must use the same.
	ClusterName string
	// StartTimeout bounds the wait for the server to accept connections;
	// zero means 10 s.
	StartTimeout time.Duration
	// Logger receives the server's log lines; nil means no logging.
	Logger *zap.Logger
}

// Server is a running embedded nats-server.
type Server struct {
	srv *server.Server
	url string
}

// Start starts a server and waits until it accepts connections.
func Start(opts Options) (*Server, error) {
	so, err := serverOptions(opts)
	if err != nil {
		return nil, err
	}
	srv, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("natsd: %w", err)
	}
	if opts.Logger != nil {
		srv.SetLoggerV2(zapLogger{opts.Logger.Sugar()}, false, false, false)
	}
	srv.Start()
	wait := opts.StartTimeout
	if wait <= 0 {
		wait = 10 * time.Second
	}
	if !srv.ReadyForConnections(wait) {
		srv.Shutdown()
		return nil, fmt.Errorf("natsd: server on %s not ready within %v", addrOf(so), wait)
	}
	return &Server{srv: srv, url: srv.ClientURL()}, nil
}

// Run starts a server and serves until ctx is done, then shuts it down.
// ready, if not nil, is called with the client URL once the server accepts
// connections.
func Run(ctx context.Context, opts Options, ready func(url string)) error {
	s, err := Start(opts)
	if err != nil {
		return err
	}
	defer s.Shutdown()
	if ready != nil {
		ready(s.URL())
	}
	<-ctx.Done()
	return nil
}

// URL is the client URL ("nats://127.0.0.1:PORT", or "tls://..." with TLS).
func (s *Server) URL() string { return s.url }

// Shutdown stops the server and waits until it has stopped. It is safe to
// call more than once.
func (s *Server) Shutdown() {
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
}

func serverOptions(opts Options) (*server.Options, error) {
	host, port, err := splitListen(opts.Listen)
	if err != nil {
		return nil, err
	}
	if opts.Token != "" && (opts.User != "" || opts.Password != "") {
		return nil, errors.New("natsd: token and user/password exclude each other")
	}
	if (opts.User == "") != (opts.Password == "") {
		return nil, errors.New("natsd: user and password go together")
	}
	if opts.MaxPayload < 0 {
		return nil, fmt.Errorf("natsd: negative max payload %d", opts.MaxPayload)
	}
	so := &server.Options{
		Host:            host,
		Port:            port,
		NoLog:           opts.Logger == nil,
		NoSigs:          true,
		Authorization:   opts.Token,
		Username:        opts.User,
		Password:        opts.Password,
		MaxPayload:      opts.MaxPayload,
		NoSystemAccount: true,
	}
	if opts.MaxPending < 0 {
		return nil, fmt.Errorf("natsd: negative max pending %d", opts.MaxPending)
	}
	so.MaxPending = opts.MaxPending
	if so.MaxPending == 0 && opts.MaxPayload > 0 {
		// The server refuses a max payload above max pending; keep room for
		// a few messages in flight per client.
		so.MaxPending = max(int64(opts.MaxPayload)*4, server.MAX_PENDING_SIZE)
	}
	if err := clusterOptions(so, opts); err != nil {
		return nil, err
	}
	if opts.TLSCert != "" || opts.TLSKey != "" || opts.TLSCA != "" {
		if opts.TLSCert == "" || opts.TLSKey == "" {
			return nil, errors.New("natsd: TLS needs both a certificate and a key file")
		}
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{
			CertFile: opts.TLSCert,
			KeyFile:  opts.TLSKey,
			CaFile:   opts.TLSCA,
			Verify:   opts.TLSCA != "",
		})
		if err != nil {
			return nil, fmt.Errorf("natsd: TLS: %w", err)
		}
		so.TLS = true
		so.TLSVerify = opts.TLSCA != ""
		so.TLSConfig = tc
	}
	return so, nil
}

func clusterOptions(so *server.Options, opts Options) error {
	if opts.Cluster == "" {
		if len(opts.Routes) > 0 {
			return errors.New("natsd: routes need a cluster address")
		}
		return nil
	}
	host, port, err := splitListen(opts.Cluster)
	if err != nil {
		return fmt.Errorf("natsd: cluster address: %w", err)
	}
	so.Cluster = server.ClusterOpts{Host: host, Port: port, Name: opts.ClusterName}
	if so.Cluster.Name == "" {
		so.Cluster.Name = "pw"
	}
	for _, r := range opts.Routes {
		u, err := url.Parse(strings.TrimSpace(r))
		if err != nil || u.Host == "" {
			return fmt.Errorf("natsd: route %q: want nats://host:port", r)
		}
		so.Routes = append(so.Routes, u)
	}
	return nil
}

// ClusterURL is the URL other servers give as a route to this one ("" if
// it is not clustered).
func (s *Server) ClusterURL() string {
	addr := s.srv.ClusterAddr()
	if addr == nil {
		return ""
	}
	return "nats://" + addr.String()
}

// NumRoutes is the number of routes to other servers this one has.
func (s *Server) NumRoutes() int { return s.srv.NumRoutes() }

// OutMsgs is the number of messages the server has delivered (to clients
// and routes): what a collective costs, independent of machine speed.
func (s *Server) OutMsgs() int64 {
	v, err := s.srv.Varz(nil)
	if err != nil {
		return 0
	}
	return v.OutMsgs
}

// splitListen turns a listen address into a host and a port for the server
// (-1 asks it for a free port).
func splitListen(listen string) (string, int, error) {
	if listen == "" {
		return "127.0.0.1", server.RANDOM_PORT, nil
	}
	host, portText, err := net.SplitHostPort(listen)
	if err != nil {
		// A bare host.
		host, portText = listen, ""
	}
	if host == "" {
		host = "127.0.0.1"
	}
	port := server.RANDOM_PORT
	if portText != "" {
		p, err := strconv.Atoi(portText)
		if err != nil || p < 0 || p > 65535 {
			return "", 0, fmt.Errorf("natsd: bad port in listen address %q", listen)
		}
		if p > 0 {
			port = p
		}
	}
	return host, port, nil
}

func addrOf(so *server.Options) string {
	return net.JoinHostPort(so.Host, strconv.Itoa(so.Port))
}

// StartCluster starts n servers of opts (their Listen, Cluster and Routes
// set here: loopback, free ports, every server routed to the first) and
// waits until every one has routes to all the others: what one server per
// node is, on one machine.
func StartCluster(n int, opts Options) ([]*Server, error) {
	if n < 1 {
		return nil, fmt.Errorf("natsd: a cluster of %d servers", n)
	}
	var servers []*Server
	stop := func() {
		for _, s := range servers {
			s.Shutdown()
		}
	}
	for i := range n {
		o := opts
		o.Listen, o.Cluster, o.Routes = "", "127.0.0.1:0", nil
		if i > 0 {
			o.Routes = []string{servers[0].ClusterURL()}
		}
		s, err := Start(o)
		if err != nil {
			stop()
			return nil, err
		}
		servers = append(servers, s)
	}
	wait := opts.StartTimeout
	if wait <= 0 {
		wait = 10 * time.Second
	}
	for end := time.Now().Add(wait); ; time.Sleep(10 * time.Millisecond) {
		ready := true
		for _, s := range servers {
			ready = ready && s.NumRoutes() >= n-1
		}
		if ready {
			return servers, nil
		}
		if time.Now().After(end) {
			stop()
			return nil, fmt.Errorf("natsd: cluster of %d servers not routed within %v", n, wait)
		}
	}
}
