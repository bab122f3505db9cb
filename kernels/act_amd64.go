//go:build !noasm

package kernels

import "golang.org/x/sys/cpu"

//go:generate sh -c "cd _genact && go run . -out ../act_amd64.s -stubs ../act_stubs_amd64.go -pkg kernels"

// actAsmPaths returns the vector paths this CPU supports, best first. The
// kernels take raw pointers; the exported wrappers have checked lengths,
// and an empty slice has no element pointer to take.
func actAsmPaths() []*actImpl {
	var p []*actImpl
	if cpu.X86.HasAVX512F {
		p = append(p, &actImpl{
			name:     "avx512",
			exp:      func(y, x []float32) { un(expAVX512, y, x) },
			tanh:     func(y, x []float32) { un(tanhAVX512, y, x) },
			sigmoid:  func(y, x []float32) { un(sigmoidAVX512, y, x) },
			gelu:     func(y, x []float32) { un(geluAVX512, y, x) },
			geluGrad: func(dx, dy, x []float32) { bin(geluGradAVX512, dx, dy, x) },
			gate: func(out, t, s, a, b []float32, ca, cb float32) {
				if len(out) > 0 {
					gateAVX512(&out[0], &t[0], &s[0], &a[0], &b[0], len(out), ca, cb)
				}
			},
			gateSeg: func(out, t, s, a, b, ca, cb []float32, seg int) {
				if len(out) > 0 {
					gateSegAVX512(&out[0], &t[0], &s[0], &a[0], &b[0], len(out), &ca[0], &cb[0], seg)
				}
			},
			adam: func(p, g, m, v []float32, c *AdamCoefs) {
				if len(p) > 0 {
					adamAVX512(&p[0], &m[0], &v[0], &p[0], &g[0], &m[0], &v[0], len(p), c.Decay, c.W1, c.B2, c.C2, c.Bc2s, c.Eps, c.NegStep)
				}
			},
			gateGrad: func(da, db, dout, t, s []float32) {
				if len(da) > 0 {
					gateGradAVX512(&da[0], &db[0], &dout[0], &t[0], &s[0], len(da))
				}
			},
			softmax: func(s []float32) (m, inv float32) { return softmaxAVX512(&s[0], len(s)) },
			expShiftScale: func(y, x []float32, m, inv float32) {
				expShiftScaleAVX512(&y[0], &x[0], len(x), m, inv)
			},
			softmaxGrad: func(p, dp []float32) { softmaxGradAVX512(&p[0], &dp[0], len(p)) },
			rowMax:      func(x []float32) float32 { return rowMaxAVX512(&x[0], len(x)) },
			expSum: func(x []float32, m, scale float32) float64 {
				return expSumAVX512(&x[0], len(x), m, scale)
			},
			layerNorm: func(y, x, w, b []float32, eps float32) (mean, rstd float32) {
				return layerNormAVX512(&y[0], &x[0], &w[0], &b[0], len(x), eps)
			},
			layerNormGrad: func(dx, dy, x, w []float32, mean, rstd float32) {
				layerNormGradAVX512(&dx[0], &dy[0], &x[0], &w[0], len(x), mean, rstd)
			},
			layerNormParamGrad: func(dw, db, dy, x []float32, ld, rows int, mean, rstd []float32) {
				layerNormParamGradAVX512(&dw[0], &db[0], &dy[0], &x[0], ld, rows, len(dw), &mean[0], &rstd[0])
			},
		})
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		p = append(p, &actImpl{
			name:     "avx2",
			exp:      func(y, x []float32) { un(expAVX2, y, x) },
			tanh:     func(y, x []float32) { un(tanhAVX2, y, x) },
			sigmoid:  func(y, x []float32) { un(sigmoidAVX2, y, x) },
			gelu:     func(y, x []float32) { un(geluAVX2, y, x) },
			geluGrad: func(dx, dy, x []float32) { bin(geluGradAVX2, dx, dy, x) },
			gate: func(out, t, s, a, b []float32, ca, cb float32) {
				if len(out) > 0 {
					gateAVX2(&out[0], &t[0], &s[0], &a[0], &b[0], len(out), ca, cb)
				}
			},
			gateSeg: func(out, t, s, a, b, ca, cb []float32, seg int) {
				if len(out) > 0 {
					gateSegAVX2(&out[0], &t[0], &s[0], &a[0], &b[0], len(out), &ca[0], &cb[0], seg)
				}
			},
			adam: func(p, g, m, v []float32, c *AdamCoefs) {
				if len(p) > 0 {
					adamAVX2(&p[0], &m[0], &v[0], &p[0], &g[0], &m[0], &v[0], len(p), c.Decay, c.W1, c.B2, c.C2, c.Bc2s, c.Eps, c.NegStep)
				}
			},
			gateGrad: func(da, db, dout, t, s []float32) {
				if len(da) > 0 {
					gateGradAVX2(&da[0], &db[0], &dout[0], &t[0], &s[0], len(da))
				}
			},
			expShiftScale: func(y, x []float32, m, inv float32) {
				expShiftScaleAVX2(&y[0], &x[0], len(x), m, inv)
			},
		})
	}
	return p
}

func un(f func(y, x *float32, n int), y, x []float32) {
	if len(x) > 0 {
		f(&y[0], &x[0], len(x))
	}
}

func bin(f func(z, y, x *float32, n int), z, y, x []float32) {
	if len(x) > 0 {
		f(&z[0], &y[0], &x[0], len(x))
	}
}
