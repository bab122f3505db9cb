package vqvae

import (
	"math"
	"testing"

	"github.com/vqgen/vqgen/nn"
)

// The chosen code must be the nearest one by float64 brute force, up to
// float32 ties: when another code is strictly nearer in float64, the gap
// must be within float32 rounding of the distances.
func TestQuantizerNearestMatchesBruteForce(t *testing.T) {
	for _, tc := range []struct{ k, d, m int }{{3, 1, 5}, {17, 5, 33}, {512, 64, 300}, {64, 7, 1000}} {
		rng := nn.NewRNG(7)
		q := NewQuantizer(tc.k, tc.d, 0.25, true, 0.99, 1e-5, rng)
		rows := make([]float32, tc.m*tc.d)
		rng.Normal(rows, 0, 1)
		idx := make([]int32, tc.m)
		q.Nearest(rows, idx)
		e := q.Codebook.Data.Data
		for r := 0; r < tc.m; r++ {
			best, bi := math.Inf(1), -1
			dist := func(k int) float64 {
				var s float64
				for j := 0; j < tc.d; j++ {
					diff := float64(rows[r*tc.d+j]) - float64(e[k*tc.d+j])
					s += diff * diff
				}
				return s
			}
			for k := 0; k < tc.k; k++ {
				if dk := dist(k); dk < best {
					best, bi = dk, k
				}
			}
			got := dist(int(idx[r]))
			if int(idx[r]) != bi && got-best > 1e-4*(1+best) {
				t.Fatalf("K=%d D=%d row %d: chose %d at %.8g, nearest is %d at %.8g", tc.k, tc.d, r, idx[r], got, bi, best)
			}
		}
	}
}

// A hand computation of one EMA step on K=2, D=1 codes.
func TestQuantizerEMAHandComputed(t *testing.T) {
	q := NewQuantizer(2, 1, 0.25, true, 0.5, 0.1, nn.NewRNG(1))
	copy(q.Codebook.Data.Data, []float32{0, 10})
	copy(q.EmbedSum, []float32{0, 10})
	copy(q.ClusterSize, []float32{1, 1})
	z := nn.FromData([]float32{1, 2, 3}, 3, 1, 1, 1) // all nearest to code 0
	q.Forward(z)
	for _, c := range q.Indices() {
		if c != 0 {
			t.Fatalf("indices %v, want all 0", q.Indices())
		}
	}
	q.UpdateEMA(1)
	// N = 0.5*1 + 0.5*3 = 2, 0.5*1 + 0 = 0.5; total 2.5.
	// S = 0.5*0 + 0.5*6 = 3, 0.5*10 = 5.
	// N' = (N+0.1)/(2.5+0.2)*2.5: 2.1/2.7*2.5, 0.6/2.7*2.5.
	want := []float64{3 / (2.1 / 2.7 * 2.5), 5 / (0.6 / 2.7 * 2.5)}
	for i, w := range want {
		if got := float64(q.Codebook.Data.Data[i]); math.Abs(got-w) > 1e-5*math.Abs(w) {
			t.Errorf("code %d = %.7g, want %.7g", i, got, w)
		}
	}
	if q.ClusterSize[0] != 2 || q.ClusterSize[1] != 0.5 {
		t.Errorf("cluster sizes %v, want [2 0.5]", q.ClusterSize)
	}
}

// A code far from all data is never chosen; after RestartDead it sits on an
// encoder vector and the next batch chooses it.
func TestQuantizerRestartRevivesDeadCode(t *testing.T) {
	rng := nn.NewRNG(3)
	q := NewQuantizer(4, 2, 0.25, true, 0.99, 1e-5, rng)
	copy(q.Codebook.Data.Data, []float32{0, 0, 1, 1, 100, 100, -100, 100})
	copy(q.EmbedSum, q.Codebook.Data.Data)
	for i := range q.ClusterSize {
		q.ClusterSize[i] = 1
	}
	// Cells (NCHW, D=2, 1x3): (0.1,0.1), (0.9,1.1), (0.5,0.4).
	z := nn.FromData([]float32{0.1, 0.9, 0.5, 0.1, 1.1, 0.4}, 1, 2, 1, 3)
	var step int64
	for ; step < 5; step++ {
		q.Forward(z)
		q.UpdateEMA(step)
	}
	hist := make([]int64, 4)
	for _, c := range q.Indices() {
		hist[c]++
	}
	if hist[2] != 0 || hist[3] != 0 {
		t.Fatalf("far codes used before restart: %v", hist)
	}
	if moved := q.RestartDead(step, 3, rng); moved != 2 {
		t.Fatalf("RestartDead moved %d codes, want 2", moved)
	}
	q.Forward(z)
	clear(hist)
	for _, c := range q.Indices() {
		hist[c]++
	}
	if hist[2] == 0 || hist[3] == 0 {
		t.Fatalf("revived codes not chosen in the next batch: usage %v", hist)
	}
	for _, c := range []int{2, 3} {
		if q.ClusterSize[c] != 1 {
			t.Errorf("restarted code %d has EMA count %v, want 1", c, q.ClusterSize[c])
		}
	}
}

// Straight-through: dz = dq + 2*beta*(z-q)/(M*D), and in gradient mode the
// codebook gets d/de of |sg(z)-e|^2/(M*D). With dq = 0 these are the
// gradients of beta*mse (w.r.t. z, q held fixed) and of mse (w.r.t. e, z held
// fixed), which finite differences of mse measure directly as long as the
// perturbation does not change the argmin.
func TestQuantizerGradients(t *testing.T) {
	rng := nn.NewRNG(5)
	q := NewQuantizer(6, 3, 0.25, false, 0.99, 1e-5, rng)
	z := nn.NewTensor(2, 3, 2, 3)
	rng.Normal(z.Data, 0, 1)
	q.Forward(z)
	idx := append([]int32(nil), q.Indices()...)
	nn.ZeroGrad([]*nn.Param{q.Codebook})
	dz := q.Backward(nn.NewTensor(z.Shape...)).Clone()
	mse := func(scale float64) func() float64 {
		return func() float64 {
			out, _ := q.Forward(z)
			for i, c := range q.Indices() {
				if c != idx[i] {
					t.Fatalf("perturbation changed the argmin; use a smaller eps")
				}
			}
			var s float64
			for i, v := range z.Data {
				d := float64(v) - float64(out.Data[i])
				s += d * d
			}
			return scale * s / float64(len(z.Data))
		}
	}
	for _, c := range []struct {
		name  string
		loss  func() float64
		x, dx []float32
	}{
		{"z (commitment)", mse(0.25), z.Data, dz.Data},
		{"codebook", mse(1), q.Codebook.Data.Data, q.Codebook.Grad.Data},
	} {
		res := nn.GradCheck(c.loss, []nn.GradTarget{{Name: c.name, X: c.x, G: c.dx}}, rng, 40, 1e-3)
		t.Logf("quantizer %s: max rel err %.2e (%s)", c.name, res.MaxRelErr, res.Worst)
		if res.MaxRelErr > 1e-2 {
			t.Fatalf("gradient check %s failed: %s", c.name, res.Worst)
		}
	}
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		hist []int64
		perp float64
		used int
	}{
		{[]int64{5, 0, 0}, 1, 1},
		{[]int64{3, 3, 3, 3}, 4, 4},
		{[]int64{0, 0}, 0, 0},
	} {
		p, u := Usage(tc.hist)
		if math.Abs(p-tc.perp) > 1e-9 || u != tc.used {
			t.Errorf("Usage(%v) = %v, %d; want %v, %d", tc.hist, p, u, tc.perp, tc.used)
		}
	}
}
