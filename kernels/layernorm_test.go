package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestLayerNormKernels checks the LayerNorm row kernels of every path
// against float64 definitions, and the parameter gradient, which adds rows
// in order, bit for bit against the portable loop.
func TestLayerNormKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, d := range []int{1, 5, 16, 31, 128, 130} {
		x, w, b, dy := randSlice(r, d), randSlice(r, d), randSlice(r, d), randSlice(r, d)
		for i := range x {
			x[i] = 100 + 3*x[i] // an offset: the centred variance matters
		}
		var s, v2 float64
		for _, v := range x {
			s += float64(v)
		}
		mean := s / float64(d)
		for _, v := range x {
			v2 += (float64(v) - mean) * (float64(v) - mean)
		}
		rstd := 1 / math.Sqrt(v2/float64(d)+1e-5)
		var sg, sgx float64
		for i, v := range x {
			g := float64(dy[i]) * float64(w[i])
			sg += g
			sgx += g * (float64(v) - mean) * rstd
		}
		for _, path := range ActPaths() {
			restore := SetActPath(path)
			y := make([]float32, d)
			m, rs := LayerNormRow(y, x, w, b, 1e-5)
			if math.Abs(float64(m)-mean) > 1e-5*math.Abs(mean) || math.Abs(float64(rs)-rstd) > 1e-5*rstd {
				t.Fatalf("%s d=%d: mean %v rstd %v, want %v %v", path, d, m, rs, mean, rstd)
			}
			for i, v := range x {
				want := (float64(v)-mean)*rstd*float64(w[i]) + float64(b[i])
				if math.Abs(float64(y[i])-want) > 1e-4*(1+math.Abs(want)) {
					t.Fatalf("%s d=%d: y[%d] = %v, want %v", path, d, i, y[i], want)
				}
			}
			dx := make([]float32, d)
			LayerNormGradRow(dx, dy, x, w, m, rs)
			for i, v := range x {
				xh := (float64(v) - float64(m)) * float64(rs)
				want := float64(rs) * (float64(dy[i])*float64(w[i]) - sg/float64(d) - xh*sgx/float64(d))
				if math.Abs(float64(dx[i])-want) > 1e-4*(1+math.Abs(want)) {
					t.Fatalf("%s d=%d: dx[%d] = %v, want %v", path, d, i, dx[i], want)
				}
			}
			restore()
		}
	}
	// Parameter gradients: every path adds the rows in order.
	rows, ld, n := 37, 140, 133
	dy, x := randSlice(r, rows*ld), randSlice(r, rows*ld)
	mean, rstd := randSlice(r, rows), randSlice(r, rows)
	var want []float32
	for _, path := range ActPaths() {
		restore := SetActPath(path)
		dw, db := make([]float32, n), make([]float32, n)
		for i := range dw {
			dw[i], db[i] = float32(i), -float32(i)
		}
		LayerNormParamGrad(dw, db, dy, x, ld, rows, mean, rstd)
		got := append(dw, db...)
		restore()
		if want == nil {
			want = got
			continue
		}
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s: parameter gradient [%d] = %v, %s gives %v", path, i, got[i], ActPaths()[0], want[i])
			}
		}
	}
}
