package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func benchGemm(b *testing.B, tA, tB bool, m, n, k int) {
	r := rand.New(rand.NewPCG(1, 1))
	x, y, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
	lda, ldb := k, n
	if tA {
		lda = m
	}
	if tB {
		ldb = k
	}
	Sgemm(tA, tB, m, n, k, 1, x, lda, y, ldb, 0, c, n)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		Sgemm(tA, tB, m, n, k, 1, x, lda, y, ldb, 0, c, n)
	}
	flops := 2 * float64(m) * float64(n) * float64(k) * float64(b.N)
	b.ReportMetric(flops/float64(b.Elapsed().Nanoseconds()), "GFLOP/s")
}

// Single-threaded, on the default path.
func BenchmarkSgemm1024(b *testing.B)        { benchGemm(b, false, false, 1024, 1024, 1024) }
func BenchmarkSgemm64x576x4096(b *testing.B) { benchGemm(b, false, false, 64, 4096, 576) }
func BenchmarkSgemm4096x576x64(b *testing.B) { benchGemm(b, false, false, 4096, 64, 576) }

// The three products of a 64->64 3x3 convolution on one 16x16 image
// (im2col): forward W(64x576) * cols(576x256); data gradient
// W^T(576x64) * dY(64x256); weight gradient dY(64x256) * cols^T(256x576).
func BenchmarkSgemmConvFwd(b *testing.B)     { benchGemm(b, false, false, 64, 256, 576) }
func BenchmarkSgemmConvBwdData(b *testing.B) { benchGemm(b, true, false, 576, 256, 64) }
func BenchmarkSgemmConvBwdW(b *testing.B)    { benchGemm(b, false, true, 64, 576, 256) }

// BenchmarkSgemmPaths runs the 1024^3 and the conv forward product on
// every path, for comparison with gonum ("generic").
func BenchmarkSgemmPaths(b *testing.B) {
	for _, path := range Paths() {
		for _, s := range [][3]int{{1024, 1024, 1024}, {64, 256, 576}} {
			b.Run(fmt.Sprintf("%s/%dx%dx%d", path, s[0], s[2], s[1]), func(b *testing.B) {
				defer SetPath(path)()
				benchGemm(b, false, false, s[0], s[1], s[2])
			})
		}
	}
}

// BenchmarkFMAPeak measures one core's FMA throughput (independent
// register-only FMAs) on each asm path: the ceiling for "x% of peak".
func BenchmarkFMAPeak(b *testing.B) {
	for _, path := range Paths() {
		if path == "generic" {
			continue
		}
		b.Run(path, func(b *testing.B) {
			defer SetPath(path)()
			const trips = 1 << 14
			var flops float64
			for b.Loop() {
				flops += fmaPeak(trips)
			}
			b.ReportMetric(flops/float64(b.Elapsed().Nanoseconds()), "GFLOP/s")
		})
	}
}
