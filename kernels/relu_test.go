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
