package prior

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/kernels"
	"github.com/vqgen/vqgen/nn"
)

// TestFrozen checks both numerics of a frozen model: its steppers follow
// Forward (to the half-precision keys and values of the deterministic
// cache), spans of any length and rewinds give the bits of one position
// at a time (under deterministic numerics on every kernel path), and
// training the original afterwards changes nothing.
func TestFrozen(t *testing.T) {
	for _, tc := range []struct {
		num     nn.Numerics
		cfg     configs.Transformer
		info    Info
		classes []int32
		tol     float64 // |frozen - Forward| relative to the logit scale
	}{
		{nn.NumericsFast, tinyCfg, Info{K: 5, H: 3, W: 3}, nil, 1e-5},
		{nn.NumericsDeterministic, tinyCfg, Info{K: 5, H: 3, W: 3}, nil, 5e-3},
		{nn.NumericsDeterministic, configs.Transformer{Layers: 3, Dim: 24, Heads: 3, MLPMult: 4}, Info{K: 11, H: 4, W: 5, Classes: 4}, []int32{3, 4, 0}, 5e-3},
		// 81 positions: past one attention block.
		{nn.NumericsDeterministic, tinyCfg, Info{K: 6, H: 9, W: 9, Classes: 2}, []int32{0, 1, 2}, 5e-3},
	} {
		t.Run(fmt.Sprintf("%v_%dx%d_classes%d", tc.num, tc.info.H, tc.info.W, tc.info.Classes), func(t *testing.T) {
			m := newTestTransformer(t, tc.cfg, tc.info, 8)
			scrambleParams(m, 9, 0.2)
			f, err := m.Freeze(tc.num)
			if err != nil {
				t.Fatal(err)
			}
			n, T, K := 3, tc.info.Positions(), tc.info.K
			codes := randCodes(nn.NewRNG(10), n*T, K)
			full := m.Forward(codes, tc.classes, n).Clone()
			// stepped returns the logits [n*T, K] of spans of the given
			// lengths, with a detour of other codes rewound before each
			// span after the first when rewind is set.
			stepped := func(spans []int, rewind bool) []float32 {
				s := f.NewStepper(n + 1)
				s.Reset(n, tc.classes)
				out := make([]float32, n*T*K)
				junk := randCodes(nn.NewRNG(11), n*T, K)
				from := 0
				for _, l := range spans {
					if rewind && from > 0 && from < T {
						s.Span(junk, from, min(T, from+2))
						s.Rewind(from)
					}
					y := s.Span(codes, from, from+l).Data
					for b := range n {
						copy(out[(b*T+from)*K:(b*T+from+l)*K], y[b*l*K:(b+1)*l*K])
					}
					from += l
				}
				return out
			}
			ones := make([]int, T)
			for i := range ones {
				ones[i] = 1
			}
			ref := stepped(ones, false)
			var worst, scale float64
			for i, v := range full.Data {
				worst = max(worst, math.Abs(float64(ref[i]-v)))
				scale = max(scale, math.Abs(float64(v)))
			}
			if worst > tc.tol*max(1, scale) {
				t.Fatalf("frozen stepper differs from Forward by %.3g (logit scale %.3g)", worst, scale)
			}
			// Training the original does not reach the copy.
			scrambleParams(m, 12, 0.5)
			if tc.num != nn.NumericsDeterministic {
				if got := stepped(ones, false); !equalBits(got, ref) {
					t.Fatal("the frozen model changed with the original")
				}
				return
			}
			for _, path := range kernels.DetPaths() {
				restore := kernels.SetDetPath(path)
				for _, sp := range []struct {
					spans  []int
					rewind bool
				}{{[]int{T}, false}, {ones, true}, {[]int{2, T - 5, 3}, true}, {[]int{T - 1, 1}, false}} {
					if got := stepped(sp.spans, sp.rewind); !equalBits(got, ref) {
						t.Errorf("path %s, spans %v (rewind %v): logits differ from one position at a time", path, sp.spans, sp.rewind)
					}
				}
				restore()
			}
		})
	}
}

func equalBits(a, b []float32) bool {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return len(a) == len(b)
}

// TestStepperRevisitsAreExact: the fast stepper's spans after detours
// through other codes (as gibbs edits make them, where the first block
// reprojects only the rows whose token changed) give the bits of the same
// span without the detours.
func TestStepperRevisitsAreExact(t *testing.T) {
	info := Info{K: 7, H: 5, W: 5, Classes: 3}
	m := newTestTransformer(t, configs.Transformer{Layers: 2, Dim: 16, Heads: 2, MLPMult: 2}, info, 21)
	scrambleParams(m, 22, 0.3)
	n, T, K := 3, info.Positions(), info.K
	rng := nn.NewRNG(23)
	codes := randCodes(rng, n*T, K)
	classes := []int32{2, 0, 1}
	s, fresh := m.NewStepper(n).(SpanStepper), m.NewStepper(n).(SpanStepper)
	for trial := range 30 {
		i := rng.Intn(T)
		fresh.Reset(n, classes)
		fresh.Span(codes, 0, T)
		fresh.Rewind(i)
		want := slices.Clone(fresh.Span(codes, i, T).Data)
		s.Reset(n, classes)
		s.Span(codes, 0, T)
		for range 1 + trial%3 {
			s.Rewind(i)
			detour := slices.Clone(codes)
			for b := range n {
				detour[b*T+i] = int32(rng.Intn(K)) // a proposal at i
				if trial%4 == 0 && i+3 < T {
					detour[b*T+i+3] = int32(rng.Intn(K))
				}
			}
			s.Span(detour, i, T)
		}
		s.Rewind(i)
		if got := s.Span(codes, i, T).Data; !equalBits(got, want) {
			t.Fatalf("trial %d: logits from position %d after detours differ from those without", trial, i)
		}
	}
}
