//go:build race

package collective

// raceEnabled: the race detector allows 8,128 live goroutines, fewer than
// thousands of NATS connections need.
const raceEnabled = true
