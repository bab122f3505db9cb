package evaluate

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/vqgen/vqgen/nn"
)

// row returns a probability row with p on class k and the rest spread
// evenly.
func row(k int, p float32) [Classes]float32 {
	var r [Classes]float32
	for j := range r {
		r[j] = (1 - p) / (Classes - 1)
	}
	r[k] = p
	return r
}

func TestTableMetrics(t *testing.T) {
	tests := []struct {
		name           string
		probs          [][Classes]float32
		labels         []int32
		share, entropy float64
		acc            float64
	}{
		{"one class", [][Classes]float32{row(3, 0.95), row(3, 0.5), row(3, 0.9)}, []int32{3, 3, 4}, 2.0 / 3, 0, 2.0 / 3},
		{"two classes evenly", [][Classes]float32{row(0, 0.99), row(1, 0.2), row(0, 0.3), row(1, 0.91)}, []int32{0, 1, 1, 0}, 0.5, 1, 0.5},
		{"ten classes", func() [][Classes]float32 {
			var ps [][Classes]float32
			for k := range Classes {
				ps = append(ps, row(k, 0.8))
			}
			return ps
		}(), []int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 0, math.Log2(10), 1},
		// counts 2,1,1 of 4: H = 0.5*1 + 2*0.25*2 = 1.5 bits
		{"uneven", [][Classes]float32{row(7, 1), row(7, 0.9), row(2, 0.6), row(5, 0.89)}, []int32{7, 2, 2, 9}, 0.5, 1.5, 0.5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ShareConfident(tc.probs, 0.9); math.Abs(got-tc.share) > 1e-12 {
				t.Errorf("share_conf_0_9 = %v, want %v", got, tc.share)
			}
			if got := ClassEntropyBits(tc.probs); math.Abs(got-tc.entropy) > 1e-12 {
				t.Errorf("class_entropy_bits = %v, want %v", got, tc.entropy)
			}
			if got := Accuracy(tc.probs, tc.labels); math.Abs(got-tc.acc) > 1e-12 {
				t.Errorf("accuracy = %v, want %v", got, tc.acc)
			}
		})
	}
	if !math.IsNaN(ClassEntropyBits(nil)) || !math.IsNaN(ShareConfident(nil, 0.9)) || !math.IsNaN(Accuracy(nil, nil)) {
		t.Error("empty tables should give NaN")
	}
}

func TestECE(t *testing.T) {
	tests := []struct {
		name   string
		probs  [][Classes]float32
		labels []int32
		want   float64
	}{
		// All at confidence 0.95 (bin 15), 2 of 4 right: |0.5 - 0.95| = 0.45.
		{"overconfident", [][Classes]float32{row(1, 0.95), row(1, 0.95), row(2, 0.95), row(2, 0.95)}, []int32{1, 1, 0, 0}, 0.45},
		// Bin (0.6, 0.667]: 0.65, 0.65 with 1 of 2 right -> |0.5-0.65|;
		// bin (0.933, 1]: 1.0, 1.0 both right -> 0. ECE = 2/4 * 0.15.
		{"two bins", [][Classes]float32{row(0, 0.65), row(0, 0.65), row(4, 1), row(5, 1)}, []int32{0, 1, 4, 5}, 0.075},
		// Perfectly calibrated: confidence 0.5 in one bin, half right.
		{"calibrated", [][Classes]float32{row(0, 0.5), row(0, 0.5), row(3, 0.5), row(3, 0.5)}, []int32{0, 2, 3, 1}, 0},
		// Bins must not pool: 1.0 right and 0.2 wrong would cancel to
		// |0.5-0.6| = 0.1 in one bin; apart they give (0 + 0.2)/2.
		{"separate bins", [][Classes]float32{row(0, 1), row(0, 0.2)}, []int32{0, 1}, 0.1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ECE(tc.probs, tc.labels, 15); math.Abs(got-tc.want) > 1e-6 {
				t.Errorf("ECE = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMeanCov(t *testing.T) {
	x := [][]float32{{1, 2}, {3, 6}, {5, 4}}
	mu, cov := MeanCov(x)
	// mean (3, 4); deviations (-2,-2), (0,2), (2,0); /(n-1)=2.
	want := []float64{4, 2, 2, 4}
	if mu[0] != 3 || mu[1] != 4 {
		t.Errorf("mean = %v, want [3 4]", mu)
	}
	for i := range want {
		if math.Abs(cov[i]-want[i]) > 1e-12 {
			t.Errorf("cov = %v, want %v", cov, want)
			break
		}
	}
}

// gaussianSample draws n points of N(mu, diag(sd^2)) rotated by q (d x d,
// orthogonal, row-major; nil for none).
func gaussianSample(n int, mu, sd []float64, q []float64, seed uint64) [][]float32 {
	rng := nn.NewRNG(seed)
	d := len(mu)
	out := make([][]float32, n)
	z := make([]float64, d)
	for i := range out {
		for j := range z {
			z[j] = sd[j] * float64(rng.Norm())
		}
		out[i] = make([]float32, d)
		for a := range d {
			v := z[a]
			if q != nil {
				v = 0
				for b := range d {
					v += q[a*d+b] * z[b]
				}
			}
			out[i][a] = float32(mu[a] + v)
		}
	}
	return out
}

func diagCov(sd []float64) []float64 {
	d := len(sd)
	c := make([]float64, d*d)
	for i, s := range sd {
		c[i*d+i] = s * s
	}
	return c
}

// rotate returns Q C Q^T.
func rotate(q, c []float64, d int) []float64 {
	tmp := make([]float64, d*d)
	out := make([]float64, d*d)
	for i := range d {
		for j := range d {
			for k := range d {
				tmp[i*d+j] += q[i*d+k] * c[k*d+j]
			}
		}
	}
	for i := range d {
		for j := range d {
			for k := range d {
				out[i*d+j] += tmp[i*d+k] * q[j*d+k]
			}
		}
	}
	return out
}

// householder returns the orthogonal I - 2 v v^T / |v|^2.
func householder(v []float64) []float64 {
	d := len(v)
	var n2 float64
	for _, x := range v {
		n2 += x * x
	}
	q := make([]float64, d*d)
	for i := range d {
		q[i*d+i] = 1
		for j := range d {
			q[i*d+j] -= 2 * v[i] * v[j] / n2
		}
	}
	return q
}

func TestFrechetClosedForm(t *testing.T) {
	d := 6
	mu1 := []float64{0, 1, -2, 0.5, 3, 0}
	mu2 := []float64{1, 1, 0, 0.5, -1, 2}
	sd1 := []float64{1, 2, 0.5, 3, 1, 0} // a zero variance: singular, like a dead ReLU feature
	sd2 := []float64{2, 1, 0.5, 1, 4, 1}
	// For commuting covariances (here: diagonal in one basis) the distance
	// is |mu1-mu2|^2 + sum_i (sd1_i - sd2_i)^2.
	var want float64
	for i := range d {
		want += (mu1[i]-mu2[i])*(mu1[i]-mu2[i]) + (sd1[i]-sd2[i])*(sd1[i]-sd2[i])
	}
	q := householder([]float64{1, -2, 0.5, 1, 3, -1})
	tests := []struct {
		name   string
		s1, s2 []float64
	}{
		{"diagonal", diagCov(sd1), diagCov(sd2)},
		{"rotated", rotate(q, diagCov(sd1), d), rotate(q, diagCov(sd2), d)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FrechetDistance(mu1, tc.s1, mu2, tc.s2)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-want) > 1e-9*want {
				t.Errorf("frechet = %.12g, want %.12g", got, want)
			}
			back, err := FrechetDistance(mu2, tc.s2, mu1, tc.s1)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(back-got) > 1e-9*want {
				t.Errorf("not symmetric: %.12g one way, %.12g the other", got, back)
			}
		})
	}
}

func TestFrechetSamples(t *testing.T) {
	d := 8
	mu := make([]float64, d)
	sd := []float64{1, 2, 0.5, 1, 1.5, 0.1, 3, 1}
	q := householder([]float64{1, 2, 3, -1, 0, 1, -2, 1})
	a := gaussianSample(2000, mu, sd, q, 1)
	b := gaussianSample(2000, mu, sd, q, 2)
	ma, ca := MeanCov(a)
	mb, cb := MeanCov(b)

	self, err := FrechetDistance(ma, ca, ma, ca)
	if err != nil {
		t.Fatal(err)
	}
	// tr(S) is about 17 here; the self-distance is only rounding.
	if self > 1e-9 {
		t.Errorf("distance of a set to itself = %g, want ~0", self)
	}
	ab, _ := FrechetDistance(ma, ca, mb, cb)
	ba, _ := FrechetDistance(mb, cb, ma, ca)
	if math.Abs(ab-ba) > 1e-9 {
		t.Errorf("asymmetric: %g vs %g", ab, ba)
	}
	if ab > 0.1 {
		t.Errorf("two samples of one Gaussian are %g apart, want small", ab)
	}
	prev := ab
	for _, shift := range []float32{0.5, 1, 2} {
		c := make([][]float32, len(b))
		for i, r := range b {
			c[i] = append([]float32(nil), r...)
			c[i][0] += shift
		}
		mc, cc := MeanCov(c)
		got, _ := FrechetDistance(ma, ca, mc, cc)
		if got <= prev {
			t.Errorf("shift %g: distance %g did not grow past %g", shift, got, prev)
		}
		// A pure shift changes only the mean term.
		self, _ := FrechetDistance(mb, cb, mc, cc)
		if math.Abs(self-float64(shift*shift)) > 1e-4 {
			t.Errorf("shift %g of one set: distance %g, want %g", shift, self, shift*shift)
		}
		prev = got
	}
	if _, err := FrechetDistance(ma, ca, mb[:3], cb); err == nil {
		t.Error("mismatched dimensions gave no error")
	}
}

func TestMetricsJSON(t *testing.T) {
	m := Metrics{N: 5, ShareConf09: 0.4, ClassEntropyBits: 2, Frechet: 1.5, CondAccuracy: math.NaN()}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"n":5,"share_conf_0_9":0.4,"class_entropy_bits":2,"frechet":1.5,"cond_accuracy":null}`
	if string(b) != want {
		t.Errorf("json = %s, want %s", b, want)
	}
	var back Metrics
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.N != 5 || back.Frechet != 1.5 || !math.IsNaN(back.CondAccuracy) {
		t.Errorf("round trip gave %+v", back)
	}
	m.CondAccuracy = 0.75
	b, _ = json.Marshal(m)
	if !strings.Contains(string(b), `"cond_accuracy":0.75`) {
		t.Errorf("json = %s, want cond_accuracy 0.75", b)
	}
}
