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
