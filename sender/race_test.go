//go:build race

package sender

// raceEnabled: the race detector drops a quarter of what sync.Pool is given back, so
// allocation counts through pools mean nothing under it.
const raceEnabled = true
