package kernels

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// fmaExact is x*y+z rounded once to float32 by math/big.
func fmaExact(x, y, z float32) float32 {
	if math.IsNaN(float64(x)) || math.IsNaN(float64(y)) || math.IsNaN(float64(z)) ||
		math.IsInf(float64(x), 0) || math.IsInf(float64(y), 0) || math.IsInf(float64(z), 0) {
		return float32(float64(x)*float64(y) + float64(z))
	}
	p := new(big.Float).SetPrec(200).SetFloat64(float64(x))
	p.Mul(p, new(big.Float).SetPrec(200).SetFloat64(float64(y)))
	p.Add(p, new(big.Float).SetPrec(200).SetFloat64(float64(z)))
	if p.Sign() == 0 {
		// The sign of an exact zero follows IEEE: -0 only if both the
		// product and z are -0.
		return float32(float64(x)*float64(y) + float64(z))
	}
	f, _ := p.Float32()
	return f
}

func sameBits(a, b float32) bool {
	if a != a && b != b {
		return true
	}
	return math.Float32bits(a) == math.Float32bits(b)
}

// doubleRounded is the naive emulation the test must tell apart.
func doubleRounded(x, y, z float32) float32 {
	return float32(math.FMA(float64(x), float64(y), float64(z)))
}

// tieCases are products that put x*y+z just off a float32 tie, so that
// rounding to float64 first lands on the tie.
func tieCases(rng *rand.Rand, n int) [][3]float32 {
	var c [][3]float32
	for range n {
		a := float32(rng.NormFloat64() * math.Exp2(float64(rng.IntN(60)-30)))
		if a == 0 {
			continue
		}
		ulp := math.Float32frombits(math.Float32bits(a)+1) - a
		if ulp < 0 {
			ulp = -ulp
		}
		half := float64(ulp) / 2
		// x*y = half * (1 - 2^-46), positive or negative.
		x := float32(half * (1 + 1.0/(1<<23)))
		y := float32(1 - 1.0/(1<<23))
		if rng.IntN(2) == 0 {
			y = -y
		}
		c = append(c, [3]float32{x, y, a})
	}
	return c
}

func TestFMA32(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(x, y, z float32) {
		t.Helper()
		if got, want := FMA32(x, y, z), fmaExact(x, y, z); !sameBits(got, want) {
			t.Fatalf("FMA32(%g, %g, %g) = %g (%#x), want %g (%#x)", x, y, z, got, math.Float32bits(got), want, math.Float32bits(want))
		}
	}
	// The double-rounding cases, where the naive emulation is wrong.
	wrong := 0
	for _, c := range tieCases(rng, 20000) {
		check(c[0], c[1], c[2])
		if !sameBits(doubleRounded(c[0], c[1], c[2]), fmaExact(c[0], c[1], c[2])) {
			wrong++
		}
	}
	if wrong == 0 {
		t.Fatal("no tie case trips double rounding: the test has no teeth")
	}
	t.Logf("float32(math.FMA) was wrong on %d of the tie cases; FMA32 on none", wrong)
	// Random operands over a wide range, subnormal results, cancellation.
	for range 200000 {
		x := float32(rng.NormFloat64() * math.Exp2(float64(rng.IntN(80)-40)))
		y := float32(rng.NormFloat64() * math.Exp2(float64(rng.IntN(80)-40)))
		z := float32(rng.NormFloat64() * math.Exp2(float64(rng.IntN(160)-80)))
		check(x, y, z)
		check(x, y, -x*y)
		check(x*1e-20, y*1e-20, z*1e-38)
	}
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	specials := []float32{0, float32(math.Copysign(0, -1)), 1, -1, inf, -inf, nan, math.MaxFloat32, -math.MaxFloat32,
		math.SmallestNonzeroFloat32, 1.17549435e-38, 3e38}
	for _, x := range specials {
		for _, y := range specials {
			for _, z := range specials {
				check(x, y, z)
			}
		}
	}
}

func FuzzFMA32(f *testing.F) {
	f.Add(uint32(0x3f800001), uint32(0x3f7fffff), uint32(0x40000000))
	f.Fuzz(func(t *testing.T, a, b, c uint32) {
		x, y, z := math.Float32frombits(a), math.Float32frombits(b), math.Float32frombits(c)
		if got, want := FMA32(x, y, z), fmaExact(x, y, z); !sameBits(got, want) {
			t.Fatalf("FMA32(%g, %g, %g) = %#x, want %#x", x, y, z, math.Float32bits(got), math.Float32bits(want))
		}
	})
}
