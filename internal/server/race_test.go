//go:build race

package server

// raceEnabled: the race detector slows the load test about tenfold.
const raceEnabled = true
