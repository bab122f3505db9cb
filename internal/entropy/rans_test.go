package entropy

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// model is a frequency table at one precision.
type model struct {
	bits uint
	freq []uint32
	cum  []uint32
}

func newModel(freq []uint32, bits uint) *model {
	m := &model{bits: bits, freq: freq, cum: make([]uint32, len(freq)+1)}
	Cumulate(m.cum, freq)
	if m.cum[len(freq)] != 1<<bits {
		panic("model does not sum to 2^bits")
	}
	return m
}

// randomModel draws k >= 1 frequencies >= 1 summing to 2^bits, from a
// random mix of flat and peaked shapes.
func randomModel(rng *rand.Rand, k int, bits uint) *model {
	logits := make([]float32, k)
	temp := float32(math.Exp(rng.Float64()*6 - 3))
	for i := range logits {
		logits[i] = float32(rng.NormFloat64()) * temp
	}
	freq := make([]uint32, k)
	Quantize(freq, logits, bits)
	return newModel(freq, bits)
}

// draw samples a symbol from m's own distribution.
func (m *model) draw(rng *rand.Rand) int {
	return Find(m.cum, rng.Uint32N(1<<m.bits))
}

// info is -log2 of s's quantized probability.
func (m *model) info(s int) float64 {
	return float64(m.bits) - math.Log2(float64(m.freq[s]))
}

// roundTrip codes syms under models (one per symbol), decodes them back
// and returns the stream.
func roundTrip(t *testing.T, models []*model, syms []int) []byte {
	t.Helper()
	var e Encoder
	for i, s := range syms {
		m := models[i]
		e.Put(m.cum[s], m.freq[s], m.bits)
	}
	if e.Len() != len(syms) {
		t.Fatalf("Len = %d, want %d", e.Len(), len(syms))
	}
	stream := e.Finish(nil)
	var d Decoder
	if err := d.Init(stream); err != nil {
		t.Fatalf("Init: %v", err)
	}
	for i, want := range syms {
		m := models[i]
		s := Find(m.cum, d.Peek(m.bits))
		if s != want {
			t.Fatalf("symbol %d: decoded %d, want %d", i, s, want)
		}
		d.Advance(m.cum[s], m.freq[s], m.bits)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return stream
}

func TestRoundTripRandomModels(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		n := rng.IntN(2000)
		if trial < 5 {
			n = trial // 0..4 symbols
		}
		models := make([]*model, n)
		syms := make([]int, n)
		for i := range n {
			k := 1 + rng.IntN(600)
			bits := Bits(k) - uint(rng.IntN(5)) // other precisions too
			models[i] = randomModel(rng, k, bits)
			syms[i] = models[i].draw(rng)
		}
		roundTrip(t, models, syms)
	}
}

func TestEdgeCases(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	same := func(m *model, n int) []*model {
		ms := make([]*model, n)
		for i := range ms {
			ms[i] = m
		}
		return ms
	}
	t.Run("empty", func(t *testing.T) {
		s := roundTrip(t, nil, nil)
		if len(s) != StateBytes {
			t.Fatalf("empty stream is %d bytes, want %d", len(s), StateBytes)
		}
	})
	t.Run("K=2", func(t *testing.T) {
		m := randomModel(rng, 2, Bits(2))
		syms := make([]int, 5000)
		for i := range syms {
			syms[i] = m.draw(rng)
		}
		roundTrip(t, same(m, len(syms)), syms)
	})
	t.Run("K=65536", func(t *testing.T) {
		m := randomModel(rng, 65536, Bits(65536))
		syms := make([]int, 3000)
		for i := range syms {
			syms[i] = rng.IntN(65536) // mostly rare symbols
		}
		roundTrip(t, same(m, len(syms)), syms)
	})
	t.Run("one symbol", func(t *testing.T) {
		freq := make([]uint32, 1)
		Quantize(freq, []float32{3}, Bits(1))
		m := newModel(freq, Bits(1))
		s := roundTrip(t, same(m, 100), make([]int, 100))
		if len(s) != StateBytes {
			t.Fatalf("100 certain symbols took %d bytes, want %d", len(s), StateBytes)
		}
	})
	t.Run("extreme logits", func(t *testing.T) {
		logits := make([]float32, 512)
		for i := range logits {
			logits[i] = -1e30
		}
		logits[7] = 1e30
		freq := make([]uint32, 512)
		Quantize(freq, logits, Bits(512))
		m := newModel(freq, Bits(512))
		if m.freq[7] != 1<<Bits(512)-511 {
			t.Fatalf("likely symbol got %d, want all but 511 counts", m.freq[7])
		}
		// The likely symbol, then the unlikely ones, which each cost bits.
		syms := make([]int, 2000)
		for i := range syms {
			syms[i] = 7
			if i%10 == 0 {
				syms[i] = rng.IntN(512)
			}
		}
		roundTrip(t, same(m, len(syms)), syms)
	})
	t.Run("every symbol at minimum", func(t *testing.T) {
		// K = 2^bits: every frequency is 1, the model is uniform.
		const bits = 10
		logits := make([]float32, 1<<bits)
		for i := range logits {
			logits[i] = float32(rng.NormFloat64()) * 50
		}
		freq := make([]uint32, len(logits))
		Quantize(freq, logits, bits)
		for i, f := range freq {
			if f != 1 {
				t.Fatalf("freq[%d] = %d, want 1", i, f)
			}
		}
		m := newModel(freq, bits)
		syms := make([]int, 4000)
		for i := range syms {
			syms[i] = rng.IntN(len(freq))
		}
		s := roundTrip(t, same(m, len(syms)), syms)
		if want := StateBytes + bits*len(syms)/8; len(s) > want+4 {
			t.Fatalf("uniform stream %d bytes, want about %d", len(s), want)
		}
	})
	t.Run("maximum precision", func(t *testing.T) {
		m := randomModel(rng, 300, MaxBits)
		syms := make([]int, 3000)
		for i := range syms {
			syms[i] = m.draw(rng)
		}
		roundTrip(t, same(m, len(syms)), syms)
	})
}

// TestCodedSizeBound: a stream is at most 1% over the information content
// of its symbols under the quantized models, plus a fixed 96 bits (the
// 64-bit state and one partly used word).
func TestCodedSizeBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := range 100 {
		k := 2 + rng.IntN(2000)
		bits := Bits(k)
		n := 1 + rng.IntN(20000)
		models := make([]*model, n)
		syms := make([]int, n)
		var info float64
		m := randomModel(rng, k, bits)
		for i := range n {
			if i%97 == 0 {
				m = randomModel(rng, k, bits)
			}
			models[i] = m
			syms[i] = m.draw(rng)
			info += m.info(syms[i])
		}
		s := roundTrip(t, models, syms)
		if got, limit := float64(8*len(s)), 1.01*info+96; got > limit {
			t.Errorf("trial %d (K=%d, %d symbols): %d bits, over the bound %.0f (information %.0f)", trial, k, n, 8*len(s), limit, info)
		}
	}
}

// TestOverheadMeasured reports the coder's loss over the information
// content on a long stream at the default prior's precision (K = 512), and
// holds it under 0.001 bits a symbol.
func TestOverheadMeasured(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const n = 100000
	models := make([]*model, n)
	syms := make([]int, n)
	var info float64
	for i := range n {
		if i%50 == 0 {
			models[i] = randomModel(rng, 512, Bits(512))
		} else {
			models[i] = models[i-1]
		}
		syms[i] = models[i].draw(rng)
		info += models[i].info(syms[i])
	}
	s := roundTrip(t, models, syms)
	loss := (float64(8*len(s)) - info) / n
	t.Logf("%d symbols, P=%d: %.1f bits of information, %d bytes coded: %.6f bits/symbol over", n, Bits(512), info, len(s), loss)
	if loss > 0.001 {
		t.Fatalf("loss %.6f bits/symbol, want < 0.001", loss)
	}
}

func TestDecoderErrors(t *testing.T) {
	var d Decoder
	for _, src := range [][]byte{nil, make([]byte, 7), make([]byte, 9), make([]byte, 8)} {
		if err := d.Init(src); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Init(%d bytes) = %v, want ErrCorrupt", len(src), err)
		}
	}
	// A valid stream with a word cut off, and one with a word added.
	rng := rand.New(rand.NewPCG(9, 10))
	m := randomModel(rng, 100, Bits(100))
	var e Encoder
	for range 200 {
		s := m.draw(rng)
		e.Put(m.cum[s], m.freq[s], m.bits)
	}
	stream := e.Finish(nil)
	decodeAll := func(src []byte) error {
		if err := d.Init(src); err != nil {
			return err
		}
		for range 200 {
			s := Find(m.cum, d.Peek(m.bits))
			d.Advance(m.cum[s], m.freq[s], m.bits)
		}
		return d.Close()
	}
	if err := decodeAll(stream); err != nil {
		t.Fatalf("intact stream: %v", err)
	}
	if err := decodeAll(stream[:len(stream)-4]); !errors.Is(err, ErrCorrupt) {
		t.Errorf("truncated stream: %v, want ErrCorrupt", err)
	}
	if err := decodeAll(append(append([]byte{}, stream...), 1, 2, 3, 4)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("stream with an extra word: %v, want ErrCorrupt", err)
	}
	// Damage anywhere is caught by Close (the state does not return to L)
	// in all but a vanishing fraction of cases; here every byte.
	for i := range stream {
		bad := append([]byte{}, stream...)
		bad[i] ^= 0x10
		if err := decodeAll(bad); err == nil {
			t.Errorf("flipping a bit of byte %d went unnoticed", i)
		}
	}
}

func TestPutPanics(t *testing.T) {
	for _, c := range []struct {
		start, freq uint32
		bits        uint
	}{
		{0, 0, 8}, {0, 1, 0}, {0, 1, MaxBits + 1}, {250, 7, 8},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Put(%d, %d, %d) did not panic", c.start, c.freq, c.bits)
				}
			}()
			var e Encoder
			e.Put(c.start, c.freq, c.bits)
		}()
	}
}

// FuzzDecoder decodes arbitrary bytes under a model picked by the fuzzer:
// no panic, every symbol in range, and a stream Close accepts re-encodes
// to exactly the same bytes.
func FuzzDecoder(f *testing.F) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, k := range []int{1, 2, 10, 512} {
		m := randomModel(rng, k, Bits(k))
		var e Encoder
		for range 50 {
			s := m.draw(rng)
			e.Put(m.cum[s], m.freq[s], m.bits)
		}
		f.Add(e.Finish(nil), uint16(k), uint64(1), uint8(50))
	}
	f.Add([]byte{}, uint16(3), uint64(2), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, k uint16, seed uint64, n uint8) {
		kk := int(k)%2048 + 1
		m := randomModel(rand.New(rand.NewPCG(seed, 0)), kk, Bits(kk))
		var d Decoder
		if d.Init(data) != nil {
			return
		}
		syms := make([]int, n)
		for i := range syms {
			s := Find(m.cum, d.Peek(m.bits))
			if s < 0 || s >= kk {
				t.Fatalf("decoded symbol %d outside [0, %d)", s, kk)
			}
			d.Advance(m.cum[s], m.freq[s], m.bits)
			syms[i] = s
		}
		if d.Close() != nil {
			return
		}
		var e Encoder
		for _, s := range syms {
			e.Put(m.cum[s], m.freq[s], m.bits)
		}
		if got := e.Finish(nil); string(got) != string(data) {
			t.Fatalf("accepted stream re-encodes to %x, not %x", got, data)
		}
	})
}
