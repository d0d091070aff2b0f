package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"pwstore/internal/infra/natsd"
	"pwstore/internal/tool/cli"
)

// natsCmd serves NATS until interrupted: the server of a multi-node job.
func natsCmd(args []string) error {
	fs := flag.NewFlagSet("pwriter nats", flag.ContinueOnError)
	var o natsd.Options
	fs.StringVar(&o.Listen, "listen", "127.0.0.1:4222", "address to listen on (host, host:port or :port); loopback unless asked")
	fs.StringVar(&o.Token, "token", "", "require this token")
	fs.StringVar(&o.User, "user", "", "require this user (with --password)")
	fs.StringVar(&o.Password, "password", "", "password of --user")
	fs.StringVar(&o.TLSCert, "tls-cert", "", "server certificate (PEM): switches TLS on")
	fs.StringVar(&o.TLSKey, "tls-key", "", "server key (PEM)")
	fs.StringVar(&o.TLSCA, "tls-ca", "", "require client certificates signed by this CA")
	maxPayload := fs.Int("max-payload", 0, "largest message in bytes (default the server's, 1 MiB)")
	if _, err := cli.Parse(fs, args, 0, 0); err != nil {
		return err
	}
	o.MaxPayload = int32(*maxPayload)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return natsd.Run(ctx, o, func(url string) {
		fmt.Println(url)
	})
}
