package sampler

import (
	"errors"
	"math"
	"slices"

	"github.com/vqgen/vqgen/kernels"
	"github.com/vqgen/vqgen/nn"
)

// entry is one candidate code during top-k/top-p filtering.
type entry struct {
	v float32 // logit
	i int32   // code
}

// before is the total order used by top-k and top-p: larger logit first,
// lower code first among equal logits, so ties are broken the same way
// whatever the selection or sort algorithm does.
func before(a, b entry) bool { return a.v > b.v || (a.v == b.v && a.i < b.i) }

func cmpEntry(a, b entry) int {
	switch {
	case before(a, b):
		return -1
	case before(b, a):
		return 1
	}
	return 0
}

var errLogits = errors.New("logits contain NaN or are all -Inf/+Inf")

// filter turns one row of logits into a draw: temperature, top-k, top-p,
// then a categorical draw. It owns its scratch, so a warmed-up filter
// allocates nothing; one filter serves one goroutine.
type filter struct {
	invT float32
	topK int     // 0 or >= K: off
	topP float64 // >= 1: off

	pairs []entry
	w     []float32
}

func newFilter(k int, temperature float32, topK int, topP float32) *filter {
	return &filter{
		invT:  1 / temperature,
		topK:  topK,
		topP:  float64(topP),
		pairs: make([]entry, k),
		w:     make([]float32, k),
	}
}

// dist computes the filtered distribution of a row. When all is true every
// code is kept and w[c] is the weight of code c; otherwise the kept codes
// are f.pairs[:cnt].i with weights w[:cnt] (in filter order). sum is the
// total weight.
func (f *filter) dist(logits []float32) (all bool, cnt int, sum float64, err error) {
	k := len(logits)
	m := float32(math.Inf(-1))
	for _, v := range logits {
		if v != v {
			return false, 0, 0, errLogits
		}
		m = max(m, v)
	}
	if math.IsInf(float64(m), 0) {
		return false, 0, 0, errLogits
	}
	if (f.topK == 0 || f.topK >= k) && f.topP >= 1 {
		w := f.w[:k]
		for c, v := range logits {
			e := float32(math.Exp(float64((v - m) * f.invT)))
			w[c] = e
			sum += float64(e)
		}
		return true, k, sum, nil
	}
	pairs := f.pairs[:k]
	for c, v := range logits {
		pairs[c] = entry{v, int32(c)}
	}
	cnt = k
	if f.topK > 0 && f.topK < k {
		selectTop(pairs, f.topK)
		cnt = f.topK
	}
	if f.topP < 1 {
		slices.SortFunc(pairs[:cnt], cmpEntry)
	}
	w := f.w[:cnt]
	for j := range w {
		e := float32(math.Exp(float64((pairs[j].v - m) * f.invT)))
		w[j] = e
		sum += float64(e)
	}
	if f.topP < 1 {
		// Shortest prefix with mass >= p*sum; the loop always stops at
		// the latest at cnt, where acc == sum.
		target := f.topP * sum
		acc := 0.0
		for j := range w {
			acc += float64(w[j])
			if acc >= target {
				cnt = j + 1
				sum = acc
				break
			}
		}
	}
	return false, cnt, sum, nil
}

// draw samples a code from the filtered distribution of logits.
func (f *filter) draw(logits []float32, rng *nn.RNG) (int32, error) {
	all, cnt, sum, err := f.dist(logits)
	if err != nil {
		return 0, err
	}
	u := rng.Float64() * sum
	acc := 0.0
	last := -1
	for j := 0; j < cnt; j++ {
		if f.w[j] == 0 {
			continue
		}
		last = j
		acc += float64(f.w[j])
		if u < acc {
			break
		}
	}
	// last is the drawn slot, or the last positive weight when rounding
	// left u >= acc; the maximum has weight 1, so last >= 0.
	if all {
		return int32(last), nil
	}
	return f.pairs[last].i, nil
}

// selectTop reorders a so that a[:k] holds the k first entries in the order
// `before` (in no particular order among themselves), in expected O(len(a)):
// quickselect with a median-of-three pivot.
func selectTop(a []entry, k int) {
	lo, hi := 0, len(a)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		// Median of three into a[hi] as the pivot.
		if before(a[mid], a[lo]) {
			a[mid], a[lo] = a[lo], a[mid]
		}
		if before(a[hi], a[lo]) {
			a[hi], a[lo] = a[lo], a[hi]
		}
		if before(a[mid], a[hi]) {
			a[mid], a[hi] = a[hi], a[mid]
		}
		p := a[hi]
		s := lo
		for j := lo; j < hi; j++ {
			if before(a[j], p) {
				a[s], a[j] = a[j], a[s]
				s++
			}
		}
		a[s], a[hi] = a[hi], a[s]
		// a[lo:s] come before p, a[s] = p, a[s+1:hi+1] after it.
		switch {
		case s == k-1 || s == k:
			return
		case s < k:
			lo = s + 1
		default:
			hi = s - 1
		}
	}
}

// logProb returns log softmax(row / T)[c], the per-cell term of the gibbs
// target and of a grid's likelihood: kernels.ExpSum takes the
// exponentials 16 at a time and sums them in float64, so that sums over
// cells of differences of these terms stay accurate.
func logProb(row []float32, c int32, invT float32) float64 {
	m := kernels.RowMax(row)
	return float64((row[c]-m)*invT) - math.Log(kernels.ExpSum(row, m, invT))
}
