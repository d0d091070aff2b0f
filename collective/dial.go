package collective

import (
	"fmt"

	"github.com/nats-io/nats.go"
)

// Dial connects to a NATS server with the same authentication and TLS
// options a communicator would use, for traffic outside the collectives
// (coord's tick announcements). The connection reconnects by itself; the
// caller closes it.
func Dial(url string, a Auth, name string) (*nats.Conn, error) {
	opts, err := a.options()
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(url, append(opts, nats.Name(name), nats.MaxReconnects(-1))...)
	if err != nil {
		return nil, fmt.Errorf("collective: connect to the NATS server: %w", err)
	}
	return nc, nil
}
