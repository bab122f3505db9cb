package kernels

import (
	"math"
	"testing"
)

// TestReluMatchesGo checks Relu and ReluBackward bit for bit against Go's
// max(x, 0) and the x > 0 gate, on special values (NaN, ±0, ±Inf,
// denormals) and on every length up to 40, which exercises the masked
// tail; the float after the end must stay untouched.
func TestReluMatchesGo(t *testing.T) {
	special := []float32{float32(math.NaN()), float32(math.Copysign(0, -1)), 0, float32(math.Inf(1)),
		float32(math.Inf(-1)), 1e-45, -1e-45, 2.5, -2.5, 1, -1}
	for n := 0; n <= 40; n++ {
		x, dy := make([]float32, n+1), make([]float32, n+1)
		for i := range x {
			x[i] = special[(i*7+n)%len(special)]
			dy[i] = float32(i) + 0.25
		}
		y, dx := make([]float32, n+1), make([]float32, n+1)
		y[n], dx[n] = 42, 42
		Relu(y[:n], x[:n])
		ReluBackward(dx[:n], x[:n], dy[:n])
		for i := 0; i < n; i++ {
			want := max(x[i], 0)
			if math.Float32bits(y[i]) != math.Float32bits(want) {
				t.Fatalf("n=%d: Relu(%v) = %v, want %v", n, x[i], y[i], want)
			}
			wantD := float32(0)
			if x[i] > 0 {
				wantD = dy[i]
			}
			if math.Float32bits(dx[i]) != math.Float32bits(wantD) {
				t.Fatalf("n=%d: ReluBackward at x=%v gives %v, want %v", n, x[i], dx[i], wantD)
			}
		}
		if y[n] != 42 || dx[n] != 42 {
			t.Fatalf("n=%d: wrote past the end", n)
		}
	}
}

// TestBiasRowsMatchesLoops compares BiasRows, for every flag combination
// and row lengths around the vector width, with the plain loops, on
// values that include NaN, -0 and values that the bias moves across 0.
func TestBiasRowsMatchesLoops(t *testing.T) {
	special := []float32{float32(math.NaN()), float32(math.Copysign(0, -1)), 0, -0.25, 0.25, 1e-30, -1e30}
	for _, n := range []int{1, 7, 15, 16, 17, 49, 64, 196} {
		for flags := 0; flags < 8; flags++ {
			addBias, relu := flags&1 != 0, flags&2 != 0
			rows, ss, ds := 3, n+5, 2*n+1
			src := make([]float32, (rows-1)*ss+n)
			for i := range src {
				src[i] = special[i%len(special)] + float32(i%3)*0.125*float32(i%2)
				if i%len(special) < 3 {
					src[i] = special[i%len(special)]
				}
			}
			dst := make([]float32, (rows-1)*ds+n+3)
			for i := range dst {
				dst[i] = 42
			}
			var res []float32
			if flags&4 != 0 {
				res = make([]float32, len(dst))
				for i := range res {
					res[i] = special[(i+3)%len(special)] - float32(i%5)*0.5
				}
			}
			const bias = 0.25
			BiasRows(dst, ds, src, ss, rows, n, bias, addBias, relu, res)
			for i := range dst {
				r, j := i/ds, i%ds
				want := float32(42)
				if r < rows && j < n {
					v := src[r*ss+j]
					if addBias {
						v += bias
					}
					if relu {
						v = max(v, 0)
					}
					if res != nil {
						v += res[r*ds+j]
					}
					want = v
				}
				if math.Float32bits(dst[i]) != math.Float32bits(want) {
					t.Fatalf("n=%d bias=%v relu=%v res=%v: dst[%d] = %v, want %v", n, addBias, relu, res != nil, i, dst[i], want)
				}
			}
		}
	}
}
