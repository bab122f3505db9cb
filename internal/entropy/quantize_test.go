package entropy

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vqgen/vqgen/kernels"
)

// The table and the quantizer's outputs are part of the file format: a
// change to either makes old files undecodable. These digests pin them.
const (
	wantTableDigest    = "9447b5c315bebd01b8f7f771238f77af36bd36c5867cc007eab8485513367d22"
	wantQuantizeDigest = "22fb910eedb08f4ecb41dc32b1352114092bed63cf2d031c1af2329ec01b004b"
)

func TestTableAgainstExp2(t *testing.T) {
	tab := expTable()
	if tab[0] != tableOne {
		t.Fatalf("T[0] = %d, want 2^30", tab[0])
	}
	for j, v := range tab {
		want := math.Exp2(30 - float64(j)/tableSize)
		if math.Abs(float64(v)-want) > 0.5+1e-6 {
			t.Fatalf("T[%d] = %d, want round(%.3f)", j, v, want)
		}
		if j > 0 && v >= tab[j-1] {
			t.Fatalf("T not decreasing at %d", j)
		}
	}
}

func TestTablePinned(t *testing.T) {
	d := tableDigest()
	if got := hex.EncodeToString(d[:]); got != wantTableDigest {
		t.Fatalf("exp table digest %s, pinned %s: the table changed, which breaks every coded file", got, wantTableDigest)
	}
}

// quantizeCases are logits vectors covering ordinary, peaked, flat, tied
// and non-finite inputs.
func quantizeCases() [][]float32 {
	rng := rand.New(rand.NewPCG(21, 22))
	var cases [][]float32
	for _, k := range []int{1, 2, 3, 10, 512, 4096} {
		for _, scale := range []float64{0, 0.01, 1, 5, 40, 1e6} {
			l := make([]float32, k)
			for i := range l {
				l[i] = float32(rng.NormFloat64()*scale + 3)
			}
			cases = append(cases, l)
		}
	}
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	cases = append(cases,
		[]float32{nan, 1, 2}, []float32{-inf, 0, -inf}, []float32{nan, nan},
		[]float32{inf, 0, 1}, []float32{-inf, -inf}, []float32{5, 5, 5, 5},
		[]float32{math.MaxFloat32, -math.MaxFloat32, 0})
	return cases
}

func TestQuantizeProperties(t *testing.T) {
	for ci, l := range quantizeCases() {
		k := len(l)
		for _, bits := range []uint{Bits(k), Bits(k) - 4, MaxBits} {
			if uint64(k) > 1<<bits {
				continue
			}
			f := make([]uint32, k)
			Quantize(f, l, bits)
			var s uint64
			for i, v := range f {
				if v < 1 {
					t.Fatalf("case %d bits %d: freq[%d] = 0", ci, bits, i)
				}
				s += uint64(v)
			}
			if s != 1<<bits {
				t.Fatalf("case %d bits %d: frequencies sum to %d, want 2^%d", ci, bits, s, bits)
			}
			// Order follows the logits (ties and NaN aside).
			for i := range k {
				for j := range k {
					if l[i] > l[j] && f[i] < f[j] && !math.IsNaN(float64(l[i])) && !math.IsNaN(float64(l[j])) {
						t.Fatalf("case %d: logit %d > logit %d but freq %d < %d", ci, i, j, f[i], f[j])
					}
				}
			}
		}
	}
}

func TestBits(t *testing.T) {
	for _, c := range []struct {
		k    int
		want uint
	}{{1, 12}, {2, 13}, {512, 21}, {513, 22}, {65536, 28}, {1 << 20, 28}} {
		if got := Bits(c.k); got != c.want {
			t.Errorf("Bits(%d) = %d, want %d", c.k, got, c.want)
		}
		if lg := uint(math.Ceil(math.Log2(float64(c.k)))); Bits(c.k) < lg+8 {
			t.Errorf("Bits(%d) = %d below ceil(log2 K)+8 = %d", c.k, Bits(c.k), lg+8)
		}
	}
}

// TestQuantizeLoss: the quantized model costs little over the softmax it
// approximates: the expected excess code length (KL divergence) stays under
// 0.005 bits a symbol for random logits at the default precision.
func TestQuantizeLoss(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	for _, scale := range []float64{0.1, 1, 3, 10} {
		var worst float64
		for range 20 {
			k := 512
			l := make([]float32, k)
			for i := range l {
				l[i] = float32(rng.NormFloat64() * scale)
			}
			f := make([]uint32, k)
			bits := Bits(k)
			Quantize(f, l, bits)
			// softmax in float64
			m := math.Inf(-1)
			for _, v := range l {
				m = math.Max(m, float64(v))
			}
			var z float64
			p := make([]float64, k)
			for i, v := range l {
				p[i] = math.Exp(float64(v) - m)
				z += p[i]
			}
			var kl float64
			for i := range p {
				p[i] /= z
				if p[i] > 0 {
					kl += p[i] * math.Log2(p[i]*float64(uint64(1)<<bits)/float64(f[i]))
				}
			}
			worst = math.Max(worst, kl)
		}
		t.Logf("logit scale %g: worst KL %.6f bits", scale, worst)
		if worst > 0.005 {
			t.Errorf("logit scale %g: KL %.6f bits, want < 0.005", scale, worst)
		}
	}
}

// TestQuantizePinned pins Quantize's outputs on every kernel path (the
// loops run in package kernels, vectorised where the CPU allows).
func TestQuantizePinned(t *testing.T) {
	for _, path := range kernels.DetPaths() {
		restore := kernels.SetDetPath(path)
		h := sha256.New()
		for _, l := range quantizeCases() {
			f := make([]uint32, len(l))
			Quantize(f, l, Bits(len(l)))
			for _, v := range f {
				h.Write(binary.LittleEndian.AppendUint32(nil, v))
			}
		}
		restore()
		if got := hex.EncodeToString(h.Sum(nil)); got != wantQuantizeDigest {
			t.Fatalf("path %s: Quantize outputs digest %s, pinned %s: the rule changed, which breaks every coded file", path, got, wantQuantizeDigest)
		}
	}
}

func TestQuantizeCounts(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	for range 500 {
		k := 1 + rng.IntN(300)
		bits := Bits(k)
		counts := make([]uint32, k)
		var sum float64
		for i := range counts {
			counts[i] = 1 + uint32(rng.IntN(1+rng.IntN(100000)))
			sum += float64(counts[i])
		}
		f := make([]uint32, k)
		QuantizeCounts(f, counts, bits)
		var s uint64
		for i, v := range f {
			if v < 1 {
				t.Fatalf("freq[%d] = 0", i)
			}
			s += uint64(v)
			// Within one count plus the remainder of the proportional share.
			want := float64(counts[i]) / sum * float64(uint64(1)<<bits)
			if float64(v) < want-float64(k)-1 {
				t.Fatalf("freq[%d] = %d, far below its share %.1f", i, v, want)
			}
		}
		if s != 1<<bits {
			t.Fatalf("sum %d, want 2^%d", s, bits)
		}
	}
}
