package kernels

import "fmt"

// # Softmax rows
//
// Attention turns each row of scores into probabilities and, when
// training, back into the scores' gradient. SoftmaxRow does the forward
// step in place and returns what SoftmaxAgain needs to recompute the same
// probabilities, bit for bit, from the same scores later (the backward pass
// keeps no T x T matrix); SoftmaxGrad is the backward step. On AVX-512 each
// is one call over the row (16 lanes, a masked tail, sums per lane reduced
// in a fixed order); elsewhere they are loops over this path's Exp. A
// row's result depends on its values only, never on where it sits.

// SoftmaxRow turns s (len >= 1) into softmax(s): m = max s, e_j =
// e^(s_j-m), sum = sum_j e_j in float64, inv = float32(1/sum), s_j = e_j *
// inv. It returns m and inv.
func SoftmaxRow(s []float32) (m, inv float32) {
	if len(s) == 0 {
		panic("kernels: SoftmaxRow of an empty row")
	}
	if f := actActive.softmax; f != nil {
		return f(s)
	}
	m = s[0]
	for _, v := range s[1:] {
		m = max(m, v)
	}
	for j := range s {
		s[j] -= m
	}
	actActive.exp(s, s)
	var sum float64
	for _, v := range s {
		sum += float64(v)
	}
	inv = float32(1 / sum)
	for j := range s {
		s[j] *= inv
	}
	return m, inv
}

// SoftmaxAgain sets s_j = e^(s_j-m) * inv: with the m and inv SoftmaxRow
// returned for the same scores, its output bit for bit.
func SoftmaxAgain(s []float32, m, inv float32) {
	if len(s) == 0 {
		return
	}
	if f := actActive.expShiftScale; f != nil {
		f(s, s, m, inv)
		return
	}
	for j := range s {
		s[j] -= m
	}
	actActive.exp(s, s)
	for j := range s {
		s[j] *= inv
	}
}

// SoftmaxGrad sets dp_j = p_j (dp_j - sum_l p_l dp_l), the gradient of the
// scores of a softmax row p given the gradient dp of its output.
func SoftmaxGrad(p, dp []float32) {
	if len(p) != len(dp) {
		panic(fmt.Sprintf("kernels: SoftmaxGrad: %d probabilities, %d gradients", len(p), len(dp)))
	}
	if len(p) == 0 {
		return
	}
	if f := actActive.softmaxGrad; f != nil {
		f(p, dp)
		return
	}
	var d float32
	for j, v := range p {
		d += v * dp[j]
	}
	for j, v := range p {
		dp[j] = v * (dp[j] - d)
	}
}

// RowMax returns the largest value of x (len >= 1).
func RowMax(x []float32) float32 {
	if len(x) == 0 {
		panic("kernels: RowMax of an empty row")
	}
	if f := actActive.rowMax; f != nil {
		return f(x)
	}
	m := x[0]
	for _, v := range x[1:] {
		m = max(m, v)
	}
	return m
}

// ExpSum returns sum_i e^((x_i-m)*scale), the exponentials in float32
// (Exp32's formula), the sum in float64: the normaliser of a tempered
// softmax, log-sum-exp = m*scale + log(ExpSum(x, m, scale)) when m is the
// maximum. On AVX-512 it sums per lane and reduces in a fixed order.
func ExpSum(x []float32, m, scale float32) float64 {
	if len(x) == 0 {
		return 0
	}
	if f := actActive.expSum; f != nil {
		return f(x, m, scale)
	}
	var s float64
	for _, v := range x {
		s += float64(Exp32((v - m) * scale))
	}
	return s
}
