//go:build race

package server_test

// raceEnabled: the race detector shadows the heap, so memory figures
// are about three times what a normal build holds.
const raceEnabled = true
