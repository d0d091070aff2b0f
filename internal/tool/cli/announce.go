package cli

import (
	"fmt"
	"os"

	"github.com/nats-io/nats.go"

	"pwstore/collective"
)

// Announcements connects this rank to the NATS server for tick
// announcements (coord.Config.Announce): the server of --nats, else
// $PW_NATS_URL, which the local launcher sets for a writer and its --watch
// readers alike. It returns nil - the readers poll - with --no-announce,
// when no server is known, or when it cannot be reached (said on stderr:
// announcements only shorten latency). The caller closes the connection.
func (n *NATS) Announcements(env collective.Env, role string) *nats.Conn {
	url := n.URL
	if url == "" {
		url = env.URL
	}
	if n.NoAnnounce || url == "" {
		return nil
	}
	auth := n.Auth
	if auth == (collective.Auth{}) {
		auth.Token = env.Token
	}
	nc, err := collective.Dial(url, auth, fmt.Sprintf("pwstore %s rank %d announcements", role, env.Rank))
	if err != nil {
		fmt.Fprintf(os.Stderr, "rank %d: no tick announcements, polling: %v\n", env.Rank, err)
		return nil
	}
	return nc
}
