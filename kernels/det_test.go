package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// detData draws n floats of the given scale with a sprinkling of zeros,
// signed zeros and tiny values, which exercise rounding corners.
func detData(rng *rand.Rand, n int, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		switch rng.IntN(50) {
		case 0:
			x[i] = 0
		case 1:
			x[i] = float32(math.Copysign(0, -1))
		case 2:
			x[i] = float32(rng.NormFloat64() * 1e-30)
		default:
			x[i] = float32(rng.NormFloat64() * scale)
		}
	}
	return x
}

func bitsEqual(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) && !(a[i] != a[i] && b[i] != b[i]) {
			return i
		}
	}
	return -1
}

// onPaths runs f on every deterministic path, returning their outputs by
// name; generic first.
func onPaths(t *testing.T, f func() []float32) map[string][]float32 {
	t.Helper()
	out := map[string][]float32{}
	for _, p := range DetPaths() {
		restore := SetDetPath(p)
		out[p] = f()
		restore()
	}
	return out
}

func sameOnPaths(t *testing.T, what string, outs map[string][]float32) {
	t.Helper()
	ref := outs["generic"]
	for p, o := range outs {
		if i := bitsEqual(ref, o); i >= 0 {
			t.Fatalf("%s: path %s differs from generic at %d: %g (%#x) vs %g (%#x)", what, p, i, o[i], math.Float32bits(o[i]), ref[i], math.Float32bits(ref[i]))
		}
	}
}

func TestDetPaths(t *testing.T) {
	t.Logf("deterministic paths here: %v", DetPaths())
	if len(DetPaths()) < 2 {
		t.Log("only the Go twin in this build: the cross-path checks compare it with itself")
	}
}

func TestDetLinearPaths(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range []struct{ rows, n, k int }{
		{1, 1, 1}, {14, 32, 128}, {15, 33, 7}, {5, 17, 3}, {29, 384, 128}, {6, 16, 512}, {41, 100, 130}, {3, 512, 128},
	} {
		for _, withRes := range []bool{false, true} {
			ldx, ldy := s.k+3, s.n+5
			x := detData(rng, s.rows*ldx, 1)
			w := NewDetWeights(detData(rng, s.n*s.k, 0.1), detData(rng, s.n, 0.1), s.n, s.k)
			var res []float32
			if withRes {
				res = detData(rng, s.rows*ldy, 1)
			}
			outs := onPaths(t, func() []float32 {
				y := detData(rng, s.rows*ldy, 1) // garbage that must be overwritten (or kept past N)
				copy(y, res)
				r := res
				if withRes {
					r = y // in place: y = y + f(x)
				}
				DetLinear(y, ldy, x, ldx, s.rows, w, r, ldy)
				// Columns past N keep what they held; compare only the product.
				o := make([]float32, 0, s.rows*s.n)
				for i := range s.rows {
					o = append(o, y[i*ldy:i*ldy+s.n]...)
				}
				return o
			})
			sameOnPaths(t, fmt.Sprintf("DetLinear %+v res=%v", s, withRes), outs)
		}
	}
}

func TestDetLayerNormPaths(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, d := range []int{1, 7, 8, 9, 16, 20, 31, 128, 130} {
		rows := 1 + rng.IntN(9)
		x := detData(rng, rows*d, 3)
		for i := range x {
			x[i] += 5 // a mean away from 0
		}
		g, b := detData(rng, d, 1), detData(rng, d, 1)
		outs := onPaths(t, func() []float32 {
			y := make([]float32, rows*d)
			DetLayerNorm(y, x, rows, d, g, b, 1e-5)
			return y
		})
		sameOnPaths(t, fmt.Sprintf("DetLayerNorm d=%d", d), outs)
	}
}

func TestDetGELUPaths(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	x := detData(rng, 10007, 3)
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	x = append(x, 0, inf, -inf, nan, 4*math.Sqrt2, -4*math.Sqrt2, 1e30, -1e30, math.SmallestNonzeroFloat32)
	outs := onPaths(t, func() []float32 {
		y := make([]float32, len(x))
		DetGELU(y, x)
		// and each tail length on its own
		for n := range 17 {
			DetGELU(y[len(y)-n:], x[len(x)-n:])
		}
		return y
	})
	sameOnPaths(t, "DetGELU", outs)
	// Accuracy against float64.
	y := outs["generic"]
	for i, v := range x[:10007] {
		want := 0.5 * float64(v) * (1 + math.Erf(float64(v)/math.Sqrt2))
		if d := math.Abs(float64(y[i]) - want); d > 1e-6*math.Max(1, math.Abs(want)) {
			t.Fatalf("GELU(%g) = %g, want %g", v, y[i], want)
		}
	}
}

func TestDetExp(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for range 100000 {
		x := float32(rng.Float64()*175 - 87)
		got, want := float64(DetExp(x)), math.Exp(float64(x))
		if math.Abs(got-want) > 4e-7*want {
			t.Fatalf("DetExp(%g) = %g, want %g", x, got, want)
		}
	}
	if DetExp(-100) != 0 || !math.IsInf(float64(DetExp(100)), 1) || DetExp(0) != 1 {
		t.Fatalf("DetExp edges: %g %g %g", DetExp(-100), DetExp(100), DetExp(0))
	}
}

func TestDetAttentionPaths(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, s := range []struct{ heads, hs int }{
		{4, 32}, {2, 16}, {1, 64}, {1, 128}, {2, 144}, {8, 8}, {3, 12}, {2, 5}, {10, 16},
	} {
		for _, n := range []int{1, 2, 15, 16, 17, 33, 49, 64, 70} {
			c := s.heads * s.hs
			ldk, ldv := c+3, c+7
			q := detData(rng, c, 1)
			k, v := make([]uint16, n*ldk), make([]uint16, n*ldv)
			DetHalf(k, detData(rng, n*ldk, 1))
			DetHalf(v, detData(rng, n*ldv, 1))
			outs := onPaths(t, func() []float32 {
				out := make([]float32, c)
				ps := detPStride(n)
				p := make([]float32, s.heads*ps)
				DetAttention(out, q, k, v, n, s.heads, s.hs, ldk, ldv, 1/float32(math.Sqrt(float64(s.hs))), p)
				for h := range s.heads {
					out = append(out, p[h*ps:h*ps+n]...)
				}
				return out
			})
			sameOnPaths(t, fmt.Sprintf("DetAttention %+v n=%d", s, n), outs)
		}
	}
}

// TestDetAttentionMatchesSoftmax checks the kernel against a float64
// reference, so that a path agreeing with a wrong twin would still fail.
func TestDetAttentionMatchesSoftmax(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	heads, hs, n := 4, 32, 49
	c := heads * hs
	q := detData(rng, c, 1)
	k, v := make([]uint16, n*c), make([]uint16, n*c)
	DetHalf(k, detData(rng, n*c, 1))
	DetHalf(v, detData(rng, n*c, 1))
	out, p := make([]float32, c), make([]float32, heads*64)
	scale := 1 / float32(math.Sqrt(float64(hs)))
	DetAttention(out, q, k, v, n, heads, hs, c, c, scale, p)
	for h := range heads {
		s := make([]float64, n)
		m := math.Inf(-1)
		for j := range n {
			for d := range hs {
				s[j] += float64(q[h*hs+d]) * float64(F16ToF32(k[j*c+h*hs+d]))
			}
			s[j] *= float64(scale)
			m = math.Max(m, s[j])
		}
		var z float64
		for j := range s {
			s[j] = math.Exp(s[j] - m)
			z += s[j]
		}
		for d := range hs {
			var o float64
			for j := range n {
				o += s[j] / z * float64(F16ToF32(v[j*c+h*hs+d]))
			}
			if math.Abs(o-float64(out[h*hs+d])) > 1e-5 {
				t.Fatalf("head %d dim %d: %g, want %g", h, d, out[h*hs+d], o)
			}
		}
	}
}

// TestDetSelfCheck runs the pinned self-check on every path.
func TestDetSelfCheck(t *testing.T) {
	for _, p := range DetPaths() {
		restore := SetDetPath(p)
		err := DetSelfCheck()
		restore()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkDetAttention runs the 49 queries of one 7x7 grid's layer (n =
// 1..49 keys, 4 heads of 32), as the encoder's full pass does.
func BenchmarkDetAttention(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	q := detData(rng, 49*128, 1)
	k, v := make([]uint16, 49*128), make([]uint16, 49*128)
	DetHalf(k, detData(rng, 49*128, 1))
	DetHalf(v, detData(rng, 49*128, 1))
	out, p := make([]float32, 128), make([]float32, 4*64)
	for b.Loop() {
		for n := 1; n <= 49; n++ {
			DetAttention(out, q[(n-1)*128:], k, v, n, 4, 32, 128, 128, 0.17677669, p)
		}
	}
}

func BenchmarkDetLinear(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	const m, n, k = 1568, 512, 128
	x := detData(rng, m*k, 1)
	w := NewDetWeights(detData(rng, n*k, 0.1), detData(rng, n, 0.1), n, k)
	y := make([]float32, m*n)
	for b.Loop() {
		DetLinear(y, n, x, k, m, w, nil, 0)
	}
	b.ReportMetric(2*m*n*k*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// TestDetHalf checks F32ToF16 against the definition (the nearest binary16,
// ties to the even one) and every path's DetHalf against it, on random
// bit patterns and the edges of binary16's range.
func TestDetHalf(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	var xs []float32
	for range 1 << 18 {
		xs = append(xs, math.Float32frombits(rng.Uint32()))
	}
	for e := 127 - 26; e <= 127+17; e++ { // around binary16's subnormals, normals and overflow
		for range 2000 {
			xs = append(xs, math.Float32frombits(uint32(rng.IntN(2))<<31|uint32(e)<<23|rng.Uint32()&0x7fffff))
		}
		for _, m := range []uint32{0, 0x1000, 0x2000, 0x3000, 0x7fffff, 0x7fe000, 0x7ff000} {
			xs = append(xs, math.Float32frombits(uint32(e)<<23|m))
		}
	}
	xs = append(xs, 65504, 65519.996, 65520, -65520, 5.9604645e-08, 2.9802322e-08, 2.9802326e-08, 8.940697e-08)
	for _, x := range xs {
		h := F32ToF16(x)
		if x != x {
			if F16ToF32(h) == F16ToF32(h) || h&0x8000 != uint16(math.Float32bits(x)>>16)&0x8000 {
				t.Fatalf("F32ToF16(NaN %#x) = %#x", math.Float32bits(x), h)
			}
			continue
		}
		r := float64(F16ToF32(h))
		// The two binary16 neighbours of the result must be no nearer.
		for _, nb := range []uint16{h + 1, h - 1} {
			if nb&0x7fff > 0x7c00 {
				continue
			}
			o := float64(F16ToF32(nb))
			dr, do := math.Abs(float64(x)-r), math.Abs(float64(x)-o)
			if math.IsInf(r, 0) && math.Abs(float64(x)) < 65520 {
				t.Fatalf("F32ToF16(%g) overflowed", x)
			}
			if !math.IsInf(r, 0) && !math.IsInf(o, 0) && (do < dr || do == dr && h&1 == 1) {
				t.Fatalf("F32ToF16(%g) = %#x (%g), but %#x (%g) is nearer or the even tie", x, h, r, nb, o)
			}
		}
	}
	outs := onPaths(t, func() []float32 {
		hs := make([]uint16, len(xs))
		DetHalf(hs, xs)
		out := make([]float32, len(hs))
		for i, h := range hs {
			out[i] = math.Float32frombits(uint32(h))
		}
		return out
	})
	sameOnPaths(t, "DetHalf", outs)
	for i := range 1 << 16 { // every binary16 round-trips
		h := uint16(i)
		if F16ToF32(h) == F16ToF32(h) && F32ToF16(F16ToF32(h)) != h {
			t.Fatalf("binary16 %#x widens to %g and rounds back to %#x", h, F16ToF32(h), F32ToF16(F16ToF32(h)))
		}
	}
}
