package kernels

import (
	"fmt"
	"math"
)

// # LayerNorm rows
//
// LayerNormRow, LayerNormGradRow and LayerNormParamGrad are a LayerNorm's
// forward pass over one row, its input gradient for one row, and its
// parameter gradients over many rows. The element-wise steps are the same
// float32 operations, in the same order, on every path; the statistics
// (the mean and variance in float64, the gradient's two sums in float32)
// are summed per 16-lane vector on AVX-512 and in one running sum in the
// portable loops, so the paths differ by their rounding. The parameter
// gradient adds rows in order on every path, so it is the same on all.

// LayerNormRow normalises x into y: with mean and var (biased) summed in
// float64, rstd = 1/sqrt(var + eps), y = (x - mean) * rstd * w + b in
// float32. It returns mean and rstd as float32.
func LayerNormRow(y, x, w, b []float32, eps float32) (mean, rstd float32) {
	d := len(x)
	if d == 0 || len(y) < d || len(w) < d || len(b) < d {
		panic(fmt.Sprintf("kernels: LayerNormRow: row of %d, y %d, w %d, b %d", d, len(y), len(w), len(b)))
	}
	if f := actActive.layerNorm; f != nil {
		return f(y, x, w, b, eps)
	}
	var s float64
	for _, v := range x {
		s += float64(v)
	}
	m := s / float64(d)
	var v2 float64
	for _, v := range x {
		c := float64(v) - m
		v2 += c * c
	}
	rs := 1 / math.Sqrt(v2/float64(d)+float64(eps))
	mean, rstd = float32(m), float32(rs)
	y, w, b = y[:d], w[:d], b[:d]
	for i, v := range x {
		y[i] = (v-mean)*rstd*w[i] + b[i]
	}
	return mean, rstd
}

// LayerNormGradRow sets dx to the input gradient of one row given the
// output gradient dy: with g = dy*w and xhat = (x-mean)*rstd,
// dx = rstd * (g - mean(g) - xhat*mean(g*xhat)).
func LayerNormGradRow(dx, dy, x, w []float32, mean, rstd float32) {
	d := len(x)
	if d == 0 || len(dx) < d || len(dy) < d || len(w) < d {
		panic(fmt.Sprintf("kernels: LayerNormGradRow: row of %d, dx %d, dy %d, w %d", d, len(dx), len(dy), len(w)))
	}
	if f := actActive.layerNormGrad; f != nil {
		f(dx, dy, x, w, mean, rstd)
		return
	}
	var sg, sgx float32
	for i, v := range x {
		g := dy[i] * w[i]
		sg += g
		sgx += g * ((v - mean) * rstd)
	}
	sg /= float32(d)
	sgx /= float32(d)
	for i, v := range x {
		xh := (v - mean) * rstd
		dx[i] = rstd * (dy[i]*w[i] - sg - xh*sgx)
	}
}

// LayerNormParamGrad adds, for each of rows rows r of dy and x (row stride
// ld) in order, dy[r][j] * (x[r][j]-mean[r])*rstd[r] into dw[j] and dy[r][j]
// into db[j], for j < len(dw).
func LayerNormParamGrad(dw, db, dy, x []float32, ld, rows int, mean, rstd []float32) {
	n := len(dw)
	if n == 0 || rows == 0 {
		return
	}
	if len(db) < n || ld < n || len(dy) < (rows-1)*ld+n || len(x) < (rows-1)*ld+n || len(mean) < rows || len(rstd) < rows {
		panic(fmt.Sprintf("kernels: LayerNormParamGrad: %d rows of %d (stride %d) outside dy %d / x %d floats", rows, n, ld, len(dy), len(x)))
	}
	if f := actActive.layerNormParamGrad; f != nil {
		f(dw, db[:n], dy, x, ld, rows, mean, rstd)
		return
	}
	for r := range rows {
		g, xr := dy[r*ld:][:n], x[r*ld:][:n]
		m, rs := mean[r], rstd[r]
		for j, v := range xr {
			dw[j] += g[j] * ((v - m) * rs)
			db[j] += g[j]
		}
	}
}
