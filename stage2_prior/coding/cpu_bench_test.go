//go:build unix

package coding

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user and system CPU time: on a shared machine
// it measures the work done, which wall time (other jobs' share of the
// cores included) does not.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCodingCPU codes 1024 random grids of the default MNIST
// Transformer (chunks of 512, one goroutine) and reports CPU time per
// image for encoding and decoding, alternating:
//
//	go test -run XXX -bench CodingCPU -benchtime 3x ./stage2_prior/coding
func BenchmarkCodingCPU(b *testing.B) {
	s, err := NewBenchSetup(1024, 512)
	if err != nil {
		b.Fatal(err)
	}
	chunks, err := s.Encode(1)
	if err != nil {
		b.Fatal(err)
	}
	var enc, dec time.Duration
	for b.Loop() {
		c0 := cpuTime()
		if _, err := s.Encode(1); err != nil {
			b.Fatal(err)
		}
		c1 := cpuTime()
		if err := s.Decode(chunks, 1); err != nil {
			b.Fatal(err)
		}
		enc += c1 - c0
		dec += cpuTime() - c1
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(1024*b.N) }
	b.ReportMetric(per(enc), "enc-cpu-us/img")
	b.ReportMetric(per(dec), "dec-cpu-us/img")
	b.ReportMetric(83.5e6/per(enc)/1e3, "enc-GFLOP/s/core")
	b.ReportMetric(83.5e6/per(dec)/1e3, "dec-GFLOP/s/core")
}
