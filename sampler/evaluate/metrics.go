package evaluate

import (
	"encoding/json"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/vqgen/vqgen/datasets"
)

// Metrics are the sample-quality figures of a set of images.
type Metrics struct {
	N int `json:"n"`
	// ShareConf09 is the share of images whose top class probability is at
	// least 0.9: how many look unambiguously like some digit.
	ShareConf09 float64 `json:"share_conf_0_9"`
	// ClassEntropyBits is the entropy of the histogram of predicted
	// classes; log2(10) = 3.32 when all ten digits are equally frequent.
	ClassEntropyBits float64 `json:"class_entropy_bits"`
	// Frechet is the Frechet distance between Gaussians fitted to the
	// classifier features of the images and of the MNIST test set.
	Frechet float64 `json:"frechet"`
	// CondAccuracy is the share classified as the requested label; NaN
	// (JSON null) when no labels were given.
	CondAccuracy float64 `json:"cond_accuracy"`
}

// metricsJSON mirrors Metrics with pointers so NaN (which JSON cannot
// carry) travels as null.
type metricsJSON struct {
	N                int      `json:"n"`
	ShareConf09      *float64 `json:"share_conf_0_9"`
	ClassEntropyBits *float64 `json:"class_entropy_bits"`
	Frechet          *float64 `json:"frechet"`
	CondAccuracy     *float64 `json:"cond_accuracy"`
}

func nullable(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func orNaN(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// MarshalJSON writes NaN and infinite values as null.
func (m Metrics) MarshalJSON() ([]byte, error) {
	return json.Marshal(metricsJSON{m.N, nullable(m.ShareConf09), nullable(m.ClassEntropyBits), nullable(m.Frechet), nullable(m.CondAccuracy)})
}

// UnmarshalJSON reads null as NaN.
func (m *Metrics) UnmarshalJSON(b []byte) error {
	var j metricsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*m = Metrics{j.N, orNaN(j.ShareConf09), orNaN(j.ClassEntropyBits), orNaN(j.Frechet), orNaN(j.CondAccuracy)}
	return nil
}

// Report classifies images (784 values each, in [0, 1]) and summarises
// them. labels, if not nil, holds the class each image was asked to be
// (one per image, 0..9); it only feeds CondAccuracy. At least two images
// are needed for the feature covariance.
func Report(c *Classifier, images [][]float32, labels []int32) (Metrics, error) {
	if len(images) < 2 {
		return Metrics{}, fmt.Errorf("sample report needs at least 2 images for the feature covariance, got %d", len(images))
	}
	if labels != nil {
		if len(labels) != len(images) {
			return Metrics{}, fmt.Errorf("%d labels for %d images", len(labels), len(images))
		}
		for i, l := range labels {
			if l < 0 || l >= Classes {
				return Metrics{}, fmt.Errorf("label %d (of image %d) is outside 0..%d", l, i, Classes-1)
			}
		}
	}
	if len(c.RefMean) != Features || len(c.RefCov) != Features*Features {
		return Metrics{}, fmt.Errorf("classifier has no reference feature statistics")
	}
	probs, feats, err := c.Predict(images)
	if err != nil {
		return Metrics{}, err
	}
	mu, cov := MeanCov(feats)
	fd, err := FrechetDistance(mu, cov, c.RefMean, c.RefCov)
	if err != nil {
		return Metrics{}, err
	}
	m := Metrics{
		N:                len(images),
		ShareConf09:      ShareConfident(probs, 0.9),
		ClassEntropyBits: ClassEntropyBits(probs),
		Frechet:          fd,
		CondAccuracy:     math.NaN(),
	}
	if labels != nil {
		m.CondAccuracy = Accuracy(probs, labels)
	}
	return m, nil
}

// argmax returns the most probable class (the lowest on ties).
func argmax(p []float32) int {
	best := 0
	for j, v := range p {
		if v > p[best] {
			best = j
		}
	}
	return best
}

// ShareConfident is the share of rows whose largest probability is >= thr.
func ShareConfident(probs [][Classes]float32, thr float64) float64 {
	if len(probs) == 0 {
		return math.NaN()
	}
	n := 0
	for i := range probs {
		// Compare in float32: a stored probability of 0.9 is float32(0.9),
		// which is below the float64 0.9.
		if probs[i][argmax(probs[i][:])] >= float32(thr) {
			n++
		}
	}
	return float64(n) / float64(len(probs))
}

// ClassEntropyBits is -sum_k h_k log2 h_k over the shares h_k of rows whose
// most probable class is k.
func ClassEntropyBits(probs [][Classes]float32) float64 {
	if len(probs) == 0 {
		return math.NaN()
	}
	var counts [Classes]int
	for i := range probs {
		counts[argmax(probs[i][:])]++
	}
	var h float64
	for _, n := range counts {
		if n > 0 {
			p := float64(n) / float64(len(probs))
			h -= p * math.Log2(p)
		}
	}
	return h
}

// Accuracy is the share of rows whose most probable class is the label.
func Accuracy(probs [][Classes]float32, labels []int32) float64 {
	if len(probs) == 0 || len(labels) != len(probs) {
		return math.NaN()
	}
	n := 0
	for i := range probs {
		if argmax(probs[i][:]) == int(labels[i]) {
			n++
		}
	}
	return float64(n) / float64(len(probs))
}

// ECE is the expected calibration error with bins equal-width confidence
// bins: rows are grouped by their top probability p into (b/bins,
// (b+1)/bins] (p = 0 joins the first bin), and
//
//	ECE = sum_b |B_b|/n * |accuracy(B_b) - mean confidence(B_b)|.
func ECE(probs [][Classes]float32, labels []int32, bins int) float64 {
	if len(probs) == 0 || len(labels) != len(probs) || bins < 1 {
		return math.NaN()
	}
	cnt := make([]int, bins)
	conf := make([]float64, bins)
	hit := make([]float64, bins)
	for i := range probs {
		k := argmax(probs[i][:])
		p := float64(probs[i][k])
		b := min(max(int(math.Ceil(p*float64(bins)))-1, 0), bins-1)
		cnt[b]++
		conf[b] += p
		if k == int(labels[i]) {
			hit[b]++
		}
	}
	var e float64
	for b := range bins {
		if cnt[b] > 0 {
			e += math.Abs(hit[b]-conf[b]) / float64(len(probs))
		}
	}
	return e
}

// MeanCov returns the mean and the unbiased (n-1) covariance, row-major
// d x d, of the rows of x, accumulated in float64. Rows must share one
// length; fewer than two rows give a zero covariance.
func MeanCov(x [][]float32) (mean, cov []float64) {
	if len(x) == 0 {
		return nil, nil
	}
	d := len(x[0])
	mean = make([]float64, d)
	for _, r := range x {
		for j, v := range r {
			mean[j] += float64(v)
		}
	}
	for j := range mean {
		mean[j] /= float64(len(x))
	}
	cov = make([]float64, d*d)
	if len(x) < 2 {
		return mean, cov
	}
	c := make([]float64, d)
	for _, r := range x {
		for j, v := range r {
			c[j] = float64(v) - mean[j]
		}
		for a := range d {
			row := cov[a*d : a*d+d]
			for b := a; b < d; b++ {
				row[b] += c[a] * c[b]
			}
		}
	}
	for a := range d {
		for b := a; b < d; b++ {
			v := cov[a*d+b] / float64(len(x)-1)
			cov[a*d+b], cov[b*d+a] = v, v
		}
	}
	return mean, cov
}

// FrechetDistance is the squared 2-Wasserstein distance between the
// Gaussians N(mu1, S1) and N(mu2, S2) (d = len(mu1), covariances row-major
// d x d):
//
//	|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2}).
//
// Tr((S1 S2)^{1/2}) equals Tr((R S2 R)^{1/2}) with R = S1^{1/2}, since
// S1 S2 = R (R S2 R) R^{-1} is similar to the symmetric positive
// semi-definite R S2 R; so both roots come from symmetric
// eigendecompositions, with eigenvalues that rounding pushes below zero
// clamped to 0. That stays real and stable for the singular covariances
// that dead ReLU features give, where the general matrix square root
// (scipy.linalg.sqrtm) can return complex noise.
func FrechetDistance(mu1, s1, mu2, s2 []float64) (float64, error) {
	d := len(mu1)
	if d == 0 || len(mu2) != d || len(s1) != d*d || len(s2) != d*d {
		return 0, fmt.Errorf("frechet distance: means of %d and %d values, covariances of %d and %d, want d, d, d*d, d*d with d > 0", len(mu1), len(mu2), len(s1), len(s2))
	}
	var dist float64
	for i := range d {
		diff := mu1[i] - mu2[i]
		dist += diff * diff
		dist += s1[i*d+i] + s2[i*d+i]
	}
	r, err := symSqrt(s1, d)
	if err != nil {
		return 0, err
	}
	var m mat.Dense
	m.Mul(r, mat.NewDense(d, d, s2))
	m.Mul(&m, r)
	sym := mat.NewSymDense(d, nil)
	for i := range d {
		for j := i; j < d; j++ {
			sym.SetSym(i, j, (m.At(i, j)+m.At(j, i))/2)
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(sym, false) {
		return 0, fmt.Errorf("frechet distance: eigendecomposition of the %dx%d covariance product did not converge", d, d)
	}
	var tr float64
	for _, l := range eig.Values(nil) {
		tr += math.Sqrt(max(l, 0))
	}
	dist -= 2 * tr
	if math.IsNaN(dist) {
		return 0, fmt.Errorf("frechet distance is NaN (non-finite features or covariances)")
	}
	// The exact value is >= 0; rounding can leave a tiny negative one.
	return max(dist, 0), nil
}

// symSqrt returns the symmetric square root V diag(sqrt(max(l, 0))) V^T of
// the symmetric matrix s (its upper triangle is read).
func symSqrt(s []float64, d int) (*mat.Dense, error) {
	sym := mat.NewSymDense(d, nil)
	for i := range d {
		for j := i; j < d; j++ {
			sym.SetSym(i, j, (s[i*d+j]+s[j*d+i])/2)
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(sym, true) {
		return nil, fmt.Errorf("frechet distance: eigendecomposition of a %dx%d covariance did not converge", d, d)
	}
	vals := eig.Values(nil)
	var v mat.Dense
	eig.VectorsTo(&v)
	scaled := mat.DenseCopyOf(&v)
	for j, l := range vals {
		sq := math.Sqrt(max(l, 0))
		for i := range d {
			scaled.Set(i, j, scaled.At(i, j)*sq)
		}
	}
	var out mat.Dense
	out.Mul(scaled, v.T())
	return &out, nil
}

// Calibration is the classifier's own report card.
type Calibration struct {
	// N test digits (MNIST test images 0..N-1) give Accuracy and ECE
	// (15 bins) after temperature scaling, and ECEUncalibrated at T = 1.
	N               int     `json:"n"`
	Accuracy        float64 `json:"accuracy"`
	ECE             float64 `json:"ece"`
	ECEUncalibrated float64 `json:"ece_uncalibrated"`
	Temperature     float64 `json:"temperature"`
	// Reference is Report on 1,000 real training digits (every fifth of
	// mnist:train[55000:], held out from training by the default recipe),
	// the figures real data gets, to print beside those of samples.
	Reference Metrics `json:"reference"`
}

// CalibrationImages is how many MNIST test digits CalibrationReport uses.
const CalibrationImages = 1000

// ECEBins is the number of confidence bins of the reported ECE.
const ECEBins = 15

// CalibrationReport measures the classifier on MNIST test digits 0..999 and
// computes the reference Metrics of real training digits.
func (c *Classifier) CalibrationReport() (Calibration, error) {
	test, err := datasets.MNIST("test")
	if err != nil {
		return Calibration{}, err
	}
	ims := images(test, 0, CalibrationImages)
	labels := test.Labels[:CalibrationImages]
	probs := make([][Classes]float32, len(ims))
	raw := make([][Classes]float32, len(ims))
	err = c.each(ims, func(i int, l, _ []float32) {
		softmaxT(probs[i][:], l, c.Temperature)
		softmaxT(raw[i][:], l, 1)
	})
	if err != nil {
		return Calibration{}, err
	}
	train, err := datasets.MNIST("train")
	if err != nil {
		return Calibration{}, err
	}
	refIms, refLabels := referenceDigits(train)
	ref, err := Report(c, refIms, refLabels)
	if err != nil {
		return Calibration{}, err
	}
	return Calibration{
		N:               len(ims),
		Accuracy:        Accuracy(probs, labels),
		ECE:             ECE(probs, labels, ECEBins),
		ECEUncalibrated: ECE(raw, labels, ECEBins),
		Temperature:     float64(c.Temperature),
		Reference:       ref,
	}, nil
}

// referenceDigits returns every fifth digit of mnist:train[55000:60000].
// MNIST is ordered by writer in places, so a contiguous block of 1,000
// digits sits measurably farther from the test set in feature space than
// a spread-out one (Frechet about 3x larger with an early classifier);
// generated samples are i.i.d., so the spread-out set is the fair
// yardstick.
func referenceDigits(train *datasets.Dataset) ([][]float32, []int32) {
	const n, step = 1000, 5
	ims := make([][]float32, n)
	labels := make([]int32, n)
	for i := range n {
		j := train.N - n*step + i*step
		ims[i], labels[i] = train.Image(j), train.Labels[j]
	}
	return ims, labels
}
