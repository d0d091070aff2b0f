package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"pwstore/collective"
	"pwstore/internal/infra/natsd"
	"pwstore/internal/tool/cli"
)

// EnvNATSPassword carries the password of `pwriter nats --user`, as
// PW_NATS_TOKEN (collective.EnvToken) carries its token: secrets in the
// environment or a file, not on a command line that ps shows.
const EnvNATSPassword = "PW_NATS_PASSWORD"

// natsCmd serves NATS until interrupted: the server of a multi-node job.
func natsCmd(args []string) error {
	fs := flag.NewFlagSet("pwriter nats", flag.ContinueOnError)
	var o natsd.Options
	fs.StringVar(&o.Listen, "listen", "127.0.0.1:4222", "address to listen on (host, host:port or :port); loopback unless asked")
	fs.StringVar(&o.Token, "token", "", "require this token (visible to ps: prefer --token-file or $"+collective.EnvToken+")")
	tokenFile := fs.String("token-file", "", "require the token in this file")
	fs.StringVar(&o.User, "user", "", "require this user (with a password)")
	fs.StringVar(&o.Password, "password", "", "password of --user (visible to ps: prefer --pass-file or $"+EnvNATSPassword+")")
	passFile := fs.String("pass-file", "", "password of --user, from this file")
	fs.StringVar(&o.TLSCert, "tls-cert", "", "server certificate (PEM): switches TLS on")
	fs.StringVar(&o.TLSKey, "tls-key", "", "server key (PEM)")
	fs.StringVar(&o.TLSCA, "tls-ca", "", "require client certificates signed by this CA")
	fs.StringVar(&o.Cluster, "cluster", "", "accept routes from the other servers of a cluster on this address (host:port)")
	routes := fs.String("routes", "", "comma-separated cluster URLs (nats://host:port) of the other servers")
	fs.StringVar(&o.ClusterName, "cluster-name", "", "name of the cluster (default pw)")
	maxPayload := fs.Int("max-payload", 0, "largest message in bytes (default the server's, 1 MiB)")
	if _, err := cli.Parse(fs, args, 0, 0); err != nil {
		return err
	}
	var err error
	if o.Token, err = cli.Secret("token", o.Token, *tokenFile, collective.EnvToken); err != nil {
		return err
	}
	switch {
	case o.User != "":
		if o.Password, err = cli.Secret("password", o.Password, *passFile, EnvNATSPassword); err != nil {
			return err
		}
	case o.Password != "" || *passFile != "":
		return cli.Usagef("a password needs --user")
	}
	if *maxPayload < 0 {
		return cli.Usagef("--max-payload must not be negative")
	}
	o.MaxPayload = int32(min(*maxPayload, 1<<30))
	if *routes != "" {
		o.Routes = strings.Split(*routes, ",")
	}
	warnExposed(os.Stderr, o)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return natsd.Run(ctx, o, func(url string) {
		fmt.Println(collective.Redact(url))
	})
}

// warnExposed warns when the server (or its cluster port) listens beyond
// loopback without authentication: anyone who reaches it can join a job's
// subjects, read its traffic and break its collectives.
func warnExposed(w io.Writer, o natsd.Options) {
	if auth := o.Token != "" || o.User != "" || o.TLSCA != ""; !auth && !loopback(o.Listen) {
		fmt.Fprintf(w, "pwriter nats: warning: listening on %s without authentication: anyone who can reach it can join or disturb jobs (give --token-file or $%s)\n",
			o.Listen, collective.EnvToken)
	}
	if o.Cluster != "" && !loopback(o.Cluster) {
		// Routes carry no credentials here: only a private network keeps
		// other servers from joining the cluster.
		fmt.Fprintf(w, "pwriter nats: warning: accepting routes on %s without authentication: keep that port on a private network\n", o.Cluster)
	}
}

// loopback reports whether a listen address ("host", "host:port", ":port")
// stays on this machine; an empty host means 127.0.0.1 (natsd's default).
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	host = strings.Trim(host, "[]")
	if host == "" || host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
