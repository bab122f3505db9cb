//go:build !noasm

package kernels

import (
	"sync"

	"golang.org/x/sys/cpu"
)

//go:generate sh -c "cd _gendet && go run . -out ../det_amd64.s -stubs ../det_stubs_amd64.go -pkg kernels"

// detAsmPaths returns the deterministic vector paths this CPU supports,
// best first.
func detAsmPaths() []*detImpl {
	var p []*detImpl
	// The half-precision conversions are F16C on AVX2 machines (AVX-512F
	// has them).
	if cpu.X86.HasAVX512F {
		p = append(p, &detImpl{name: "avx512", mr: 14, nr: 32,
			linear: detLinearTiles(14, 32, detGemmAVX512),
			norm: func(y, x []float32, rows, d int, g, b []float32, eps float32) {
				if rows > 0 {
					detNormAVX512(&y[0], &x[0], rows, d, &g[0], &b[0], eps, float32(d))
				}
			},
			gelu: func(y, x []float32) {
				if len(x) > 0 {
					detGeluAVX512(&y[0], &x[0], len(x))
				}
			},
			attn:         detAttentionVec(16, detScoresAVX512, detSoftmaxAVX512, detAttnOutAVX512),
			half:         detHalfVec(16, detHalfAVX512),
			quantMax:     quantMaxAVX512,
			quantWeights: quantWeightsAVX512,
			quantScale:   quantScaleAVX512,
		})
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C {
		p = append(p, &detImpl{name: "avx2", mr: 6, nr: 16,
			linear: detLinearTiles(6, 16, detGemmAVX2),
			norm: func(y, x []float32, rows, d int, g, b []float32, eps float32) {
				if rows > 0 {
					detNormAVX2(&y[0], &x[0], rows, d, &g[0], &b[0], eps, float32(d))
				}
			},
			gelu: func(y, x []float32) {
				if len(x) > 0 {
					detGeluAVX2(&y[0], &x[0], len(x))
				}
			},
			attn: detAttentionVec(8, detScoresAVX2, detSoftmaxAVX2, detAttnOutAVX2),
			half: detHalfVec(8, detHalfAVX2),
		})
	}
	return p
}

type detTile = func(k int, a *float32, lda int, b, c *float32, ldc int, bias, res *float32, ldr int, rows, cols int)

// detEdgePool holds the zero-padded copies of the last, short panel of
// rows, which the tile reads whole.
var detEdgePool sync.Pool

// detLinearTiles returns DetLinear over mr x nr tiles: the tile reads A in
// place (mr rows at stride ldx), so only a short last panel is copied into
// an mr-row buffer; each panel of A sweeps every packed weight panel.
func detLinearTiles(mr, nr int, tile detTile) func(y []float32, ldy int, x []float32, ldx int, rows int, w *DetWeights, res []float32, ldr int) {
	return func(y []float32, ldy int, x []float32, ldx int, rows int, w *DetWeights, res []float32, ldr int) {
		pk := w.packed(nr)
		n, k := w.N, w.K
		for i0 := 0; i0 < rows; i0 += mr {
			mi := min(mr, rows-i0)
			a, lda := x[i0*ldx:], ldx
			var edge *[]float32
			if mi < mr {
				edge, _ = detEdgePool.Get().(*[]float32)
				if edge == nil {
					edge = new([]float32)
				}
				if cap(*edge) < mr*k {
					*edge = make([]float32, mr*k)
				}
				buf := (*edge)[:mr*k]
				clear(buf)
				for r := range mi {
					copy(buf[r*k:(r+1)*k], x[(i0+r)*ldx:(i0+r)*ldx+k])
				}
				a, lda = buf, k
			}
			for j0 := 0; j0 < n; j0 += nr {
				var rp *float32
				if res != nil {
					rp = &res[i0*ldr+j0]
				}
				tile(k, &a[0], lda, &pk.w[j0*k], &y[i0*ldy+j0], ldy, &pk.bias[j0], rp, ldr, mi, min(nr, n-j0))
			}
			if edge != nil {
				detEdgePool.Put(edge)
			}
		}
	}
}

// detAttentionVec returns DetAttention on vector kernels of width w;
// head sizes the kernels do not cover (not a multiple of 16, or over 128)
// take the Go twin, which gives the same bits.
func detAttentionVec(w int,
	scores func(q *float32, k *uint16, s *float32, n, hs, ldk int, scale float32),
	softmax func(p *float32, n, heads, ps int),
	outv func(out *float32, v *uint16, n, ldv int, p *float32, offs *int32, vecs int)) func(out, q []float32, k, v []uint16, n, heads, hs, ldk, ldv int, scale float32, p []float32) {
	return func(out, q []float32, k, v []uint16, n, heads, hs, ldk, ldv int, scale float32, p []float32) {
		if hs%16 != 0 || hs > 128 {
			detAttentionGo(out, q, k, v, n, heads, hs, ldk, ldv, scale, p)
			return
		}
		ps := detPStride(n)
		for h := range heads {
			scores(&q[h*hs], &k[h*hs], &p[h*ps], n, hs, ldk, scale)
		}
		softmax(&p[0], n, heads, ps)
		vecs := heads * hs / w
		var offs [8]int32
		for u0 := 0; u0 < vecs; u0 += 8 {
			g := min(8, vecs-u0)
			for u := range g {
				offs[u] = int32((u0 + u) * w / hs * ps * 4)
			}
			outv(&out[u0*w], &v[u0*w], n, ldv, &p[0], &offs[0], g)
		}
	}
}

// detHalfVec converts whole vectors of w with the kernel and the rest with
// the Go twin (the same rounding).
func detHalfVec(w int, kern func(dst *uint16, src *float32, n int)) func(dst []uint16, src []float32) {
	return func(dst []uint16, src []float32) {
		n := len(src) / w * w
		if n > 0 {
			kern(&dst[0], &src[0], n)
		}
		detHalfGo(dst[n:], src[n:])
	}
}
