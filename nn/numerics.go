package nn

import (
	"fmt"
	"sync"

	"github.com/vqgen/vqgen/kernels"
)

// Numerics is the arithmetic of the inference paths: Linear.Infer,
// LayerNorm.Infer, GELUInfer and the attention of a key/value-cache step
// (CausalSelfAttention.ForwardStep) call these functions and nothing else
// for their floating-point work, so that installing another Numerics
// (SetNumerics) changes how every inference pass of every model rounds, in
// one place. The training passes (Forward, Backward) do not use it.
//
// The default, FastNumerics, runs on package kernels' fastest path: its
// bits depend on the CPU's kernels (AVX-512, AVX2, the portable loops),
// not on GOMAXPROCS or on how many rows a call holds, since every output
// element reduces over its inputs in a fixed order. A Numerics whose
// functions are bit-reproducible across machines makes the inference path
// so (what an entropy coder needs from a prior).
type Numerics struct {
	Name string
	// Linear sets y[r*out+o] = b[o] + sum_i x[r*in+i]*w[o*in+i] for
	// r < rows, o < out (b nil: no bias).
	Linear func(y, x, w, b []float32, rows, in, out int)
	// LayerNorm sets each row of d values y = (x - mean) * rstd * w + b,
	// rstd = 1/sqrt(var + eps) with the biased variance.
	LayerNorm func(y, x, w, b []float32, rows, d int, eps float32)
	// GELU sets y[i] = x[i] Phi(x[i]), the exact-erf GELU.
	GELU func(y, x []float32)
	// Attend is one query q of one head against n cached positions:
	// s_j = scale * sum_d q[d] kt[d*ldk+j] (keys stored transposed, one
	// row per head dimension), p = softmax(s), o[d] = sum_j p_j v[j*ldv+d].
	// scores is scratch of at least n floats.
	Attend func(o, q, kt []float32, ldk int, v []float32, ldv, n int, scale float32, scores []float32)
}

// FastNumerics is the default Numerics: kernels' GEMM (the training
// forward pass's bits, as one k block rounds the same for any number of
// rows), the training LayerNorm and the vector GELU; attention by
// kernels.VecMat, the one-row GEMM.
var FastNumerics = &Numerics{
	Name:      "fast",
	Linear:    fastLinear,
	LayerNorm: layerNormRows,
	GELU:      kernels.GELU,
	Attend:    fastAttend,
}

var numerics = FastNumerics

// SetNumerics installs n for every inference path and returns a function
// that restores the previous one. It is not safe to call while models run.
func SetNumerics(n *Numerics) (restore func()) {
	if n == nil || n.Linear == nil || n.LayerNorm == nil || n.GELU == nil || n.Attend == nil {
		panic(fmt.Sprintf("nn: SetNumerics: incomplete Numerics %+v", n))
	}
	prev := numerics
	numerics = n
	return func() { numerics = prev }
}

// ActiveNumerics returns the Numerics the inference paths use.
func ActiveNumerics() *Numerics { return numerics }

// GELUInfer is GELU(x) into y for inference, in the active Numerics.
func GELUInfer(y, x []float32) { numerics.GELU(y, x) }

// fastLinear: the bias is the GEMM's initial C, as in Linear.Forward.
// Products big enough to share (a batch of many positions) are cut into
// bands of rows for the worker pool; each element's sum is the same
// either way.
func fastLinear(y, x, w, b []float32, rows, in, out int) {
	var beta float32
	if b != nil {
		beta = 1
		for r := range rows {
			copy(y[r*out:(r+1)*out], b)
		}
	}
	if rows*in*out < 1<<20 || Workers() == 1 || !blasDefault {
		Sgemm(false, true, rows, out, in, 1, x, in, w, in, beta, y, out)
		return
	}
	p := gemmPars.Get().(*gemmPar)
	p.g.Set(false, true, rows, out, in, 1, x, in, w, in, beta, y, out)
	p.g.SplitRows(linearBand)
	p.do(nil, nil)
	gemmPars.Put(p)
}

var gemmPars = sync.Pool{New: func() any { return new(gemmPar) }}

func fastAttend(o, q, kt []float32, ldk int, v []float32, ldv, n int, scale float32, scores []float32) {
	s := scores[:n]
	kernels.VecMat(s, q, kt, ldk)
	for j := range s {
		s[j] *= scale
	}
	softmaxRow(s)
	kernels.VecMat(o, s, v, ldv)
}
