package nn

import (
	"runtime"
	"testing"
)

// Sizes of the Transformer prior over 7x7 code grids: B=8 sequences of
// T=50 positions (start token + 49 codes), C=128 channels, 4 heads.

func BenchmarkLinearFwdBwd(b *testing.B) {
	rng := NewRNG(1)
	l := NewLinear("fc", 128, 384, true, rng)
	x := randTensor(rng, 8, 50, 128)
	dy := randTensor(rng, 8, 50, 384)
	l.Forward(x)
	l.Backward(dy) // warm-up: buffers allocated here
	b.ReportAllocs()
	for b.Loop() {
		l.Forward(x)
		l.Backward(dy)
	}
}

func BenchmarkAttentionFwdBwd(b *testing.B) {
	rng := NewRNG(1)
	a := NewCausalSelfAttention("attn", 128, 4, rng)
	x := randTensor(rng, 8, 50, 128)
	dy := randTensor(rng, 8, 50, 128)
	a.Forward(x)
	a.Backward(dy)
	b.ReportAllocs()
	for b.Loop() {
		a.Forward(x)
		a.Backward(dy)
	}
}

func BenchmarkAttentionStep(b *testing.B) {
	rng := NewRNG(1)
	a := NewCausalSelfAttention("attn", 128, 4, rng)
	x := randTensor(rng, 8, 1, 128)
	cache := a.NewKVCache(8, 50)
	b.ReportAllocs()
	for b.Loop() {
		if cache.T == cache.MaxT {
			cache.Reset()
		}
		a.ForwardStep(x, cache)
	}
}

// TestNoAllocsAfterWarmup runs a warmed-up forward and backward of every
// layer on one goroutine and with sizes for which the placeholder GEMM stays
// serial, and requires zero allocations: everything else those calls touch
// is this package's own buffer handling.
func TestNoAllocsAfterWarmup(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	rng := NewRNG(1)
	l := NewLinear("fc", 24, 36, true, rng)
	ln := NewLayerNorm("ln", 36)
	att := NewCausalSelfAttention("attn", 24, 3, rng)
	emb := NewEmbedding("tok", 11, 24, rng)
	acts := []unaryLayer{&ReLU{}, &GELU{}, &Tanh{}, &Sigmoid{}}
	add, mul, cat, sp := &Add{}, &Mul{}, &Concat{}, &Split{Sizes: []int{2, 3}}
	ce, mse := &CrossEntropy{}, &MSE{}
	cache := att.NewKVCache(2, 9)
	x := randTensor(rng, 2, 9, 24)
	img := randTensor(rng, 2, 5, 3, 3)
	idx := []int32{1, 2, 3, 10, 0, 1}
	tg := []int32{0, 3, 4, 1, 2, 4, 0, 1, 2, 3, 4, 1, 0, 1, 2, 3, 4, 2}
	step := NewTensor(2, 1, 24)
	fn := func() {
		h := ln.Forward(l.Forward(x))
		l.Backward(ln.Backward(h))
		att.Backward(att.Forward(x))
		emb.Backward(emb.Forward(idx))
		for _, a := range acts {
			a.Backward(a.Forward(x))
		}
		add.Backward(add.Forward(x, x))
		mul.Backward(mul.Forward(x, x))
		sp.Backward(cat.Backward(cat.Forward(sp.Forward(img)...))...)
		ce.ForwardNCHW(img, tg[:18])
		ce.Backward()
		mse.Forward(x, x)
		mse.Backward()
		if cache.T == cache.MaxT {
			cache.Reset()
		}
		att.ForwardStep(step, cache)
	}
	fn()
	if n := testing.AllocsPerRun(5, fn); n != 0 {
		t.Errorf("%v allocations per warmed-up pass, want 0", n)
	}
}
