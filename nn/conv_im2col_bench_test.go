package nn

import (
	"fmt"
	"testing"
)

// The patch-matrix shapes of the default MNIST VQ-VAE: 3x3 convs on 7x7
// grids, the 4x4 stride-2 convs, and 16x16 for the reference conv.
var im2colBenchGeoms = []convGeom{
	newConvGeom(128, 7, 7, 3, 3, 1, 1, 1),
	newConvGeom(64, 14, 14, 4, 4, 2, 1, 1),
	newConvGeom(64, 28, 28, 4, 4, 2, 1, 1),
	newConvGeom(64, 16, 16, 3, 3, 1, 1, 1),
}

func BenchmarkIm2col(b *testing.B) {
	for _, g := range im2colBenchGeoms {
		b.Run(fmt.Sprintf("%dx%dx%d_k%d_s%d", g.C, g.H, g.W, g.KH, g.S), func(b *testing.B) {
			img := make([]float32, g.C*g.H*g.W)
			col := make([]float32, g.rows()*g.cols())
			b.SetBytes(int64(4 * len(col)))
			for b.Loop() {
				im2col(&g, img, col, g.cols())
			}
		})
	}
}

func BenchmarkCol2im(b *testing.B) {
	for _, g := range im2colBenchGeoms {
		b.Run(fmt.Sprintf("%dx%dx%d_k%d_s%d", g.C, g.H, g.W, g.KH, g.S), func(b *testing.B) {
			img := make([]float32, g.C*g.H*g.W)
			col := make([]float32, g.rows()*g.cols())
			b.SetBytes(int64(4 * len(col)))
			for b.Loop() {
				col2im(&g, col, g.cols(), img)
			}
		})
	}
}
