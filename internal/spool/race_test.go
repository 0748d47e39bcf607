//go:build race

package spool

// raceEnabled: under the race detector sync.Pool drops a share of what
// is put into it, on purpose, so a count of allocations means nothing.
const raceEnabled = true
