package evaluate

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/nn"
)

// TrainOptions configures Train. Zero fields take DefaultTrainOptions'
// values, except Seed (0 is a valid seed).
type TrainOptions struct {
	Seed      uint64
	Steps     int     // Adam steps
	BatchSize int     // images per step
	LR        float32 // peak learning rate of the warm-up + cosine schedule
	// MaxShift is the augmentation: each training image is shifted by a
	// uniform integer in [-MaxShift, MaxShift] pixels on each axis, with
	// zeros shifted in. Negative disables it.
	MaxShift int
	// HoldOut training digits (the tail of mnist:train) are kept out of
	// training and used to fit the temperature.
	HoldOut int
	// TrainImages, when positive, limits training to the first that many
	// images of the remaining training split (for quick tests).
	TrainImages int
	// RefImages is how many MNIST test digits (from index 0) define the
	// reference feature distribution; the default is all 10,000.
	RefImages int
}

// DefaultTrainOptions is the recipe of the cached classifier.
func DefaultTrainOptions() TrainOptions {
	return TrainOptions{Seed: 1, Steps: 2000, BatchSize: 64, LR: 2e-3, MaxShift: 2, HoldOut: 5000, RefImages: 10000}
}

func (o TrainOptions) withDefaults() (TrainOptions, error) {
	d := DefaultTrainOptions()
	if o.Steps == 0 {
		o.Steps = d.Steps
	}
	if o.BatchSize == 0 {
		o.BatchSize = d.BatchSize
	}
	if o.LR == 0 {
		o.LR = d.LR
	}
	if o.MaxShift == 0 {
		o.MaxShift = d.MaxShift
	}
	if o.HoldOut == 0 {
		o.HoldOut = d.HoldOut
	}
	if o.RefImages == 0 {
		o.RefImages = d.RefImages
	}
	switch {
	case o.Steps < 1:
		return o, fmt.Errorf("classifier training: steps %d, want >= 1", o.Steps)
	case o.BatchSize < 1:
		return o, fmt.Errorf("classifier training: batch size %d, want >= 1", o.BatchSize)
	case !(o.LR > 0) || math.IsInf(float64(o.LR), 0):
		return o, fmt.Errorf("classifier training: learning rate %g, want a positive finite value", o.LR)
	case o.MaxShift > 8:
		return o, fmt.Errorf("classifier training: max shift %d pixels, want at most 8", o.MaxShift)
	case o.HoldOut < 100 || o.HoldOut > 30000:
		return o, fmt.Errorf("classifier training: hold-out %d, want 100 to 30000 training digits", o.HoldOut)
	case o.TrainImages < 0:
		return o, fmt.Errorf("classifier training: train images %d, want >= 0", o.TrainImages)
	case o.RefImages < 2 || o.RefImages > 10000:
		return o, fmt.Errorf("classifier training: reference images %d, want 2 to 10000", o.RefImages)
	}
	o.MaxShift = max(o.MaxShift, 0)
	return o, nil
}

// Train fits a classifier on mnist:train (less the held-out tail) with Adam
// and a warm-up + cosine schedule, fits its temperature on the held-out
// digits, records the reference feature statistics of the MNIST test set and
// its calibration on test digits 0..999. progress, if not nil, is called
// after every step.
func Train(opts TrainOptions, progress func(step, total int)) (*Classifier, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	full, err := datasets.MNIST("train")
	if err != nil {
		return nil, err
	}
	train, held, err := datasets.Split(full, o.HoldOut)
	if err != nil {
		return nil, err
	}
	if o.TrainImages > 0 && o.TrainImages < train.N {
		train = train.Slice(0, o.TrainImages)
	}
	batcher, err := datasets.NewBatcher(train.N, min(o.BatchSize, train.N), o.Seed, true)
	if err != nil {
		return nil, err
	}
	c := newClassifier(o.Seed)
	ps := c.params()
	adam := nn.NewAdam(0.9, 0.999, 1e-8, 0)
	aug := nn.NewRNG(o.Seed ^ 0x5eed_a06)
	var (
		x      *nn.Tensor
		labels []int32
		ce     nn.CrossEntropy
	)
	warmup := min(100, o.Steps/10)
	for step := range o.Steps {
		idx, _ := batcher.Next()
		x = shiftBatch(train, idx, x, o.MaxShift, aug)
		labels = labels[:0]
		for _, i := range idx {
			labels = append(labels, train.Labels[i])
		}
		nn.ZeroGrad(ps)
		logits, _ := c.forward(x)
		loss := ce.Forward(logits, labels)
		if math.IsNaN(float64(loss)) || math.IsInf(float64(loss), 0) {
			return nil, fmt.Errorf("classifier training diverged at step %d (loss %g)", step, loss)
		}
		c.backward(ce.Backward())
		adam.Step(ps, nn.WarmupCosine(step, warmup, o.Steps, o.LR, o.LR/100))
		if progress != nil {
			progress(step+1, o.Steps)
		}
	}

	heldIms := images(held, 0, held.N)
	t, err := c.fitTemperature(heldIms, held.Labels)
	if err != nil {
		return nil, err
	}
	c.Temperature = t

	test, err := datasets.MNIST("test")
	if err != nil {
		return nil, err
	}
	_, feats, err := c.Predict(images(test, 0, o.RefImages))
	if err != nil {
		return nil, err
	}
	c.RefMean, c.RefCov = MeanCov(feats)

	cal, err := c.CalibrationReport()
	if err != nil {
		return nil, err
	}
	c.Info = map[string]string{
		"train_steps":      strconv.Itoa(o.Steps),
		"train_batch":      strconv.Itoa(o.BatchSize),
		"train_seed":       strconv.FormatUint(o.Seed, 10),
		"train_images":     strconv.Itoa(train.N),
		"train_seconds":    strconv.FormatFloat(time.Since(start).Seconds(), 'f', 1, 64),
		"temperature":      strconv.FormatFloat(float64(c.Temperature), 'g', 6, 32),
		"test_accuracy":    strconv.FormatFloat(cal.Accuracy, 'f', 4, 64),
		"test_ece":         strconv.FormatFloat(cal.ECE, 'f', 4, 64),
		"test_ece_at_t1":   strconv.FormatFloat(cal.ECEUncalibrated, 'f', 4, 64),
		"calibration_set":  "mnist:test[0:1000]",
		"temperature_set":  held.Name,
		"reference_images": strconv.Itoa(o.RefImages),
	}
	return c, nil
}

// images returns views of images [lo, hi) of a 1x28x28 dataset.
func images(ds *datasets.Dataset, lo, hi int) [][]float32 {
	out := make([][]float32, hi-lo)
	for i := range out {
		out[i] = ds.Image(lo + i)
	}
	return out
}

// shiftBatch copies the images idx of ds into x [len(idx),1,28,28], each
// translated by a random (dy, dx) in [-s, s]^2 with zeros shifted in.
// Digits sit in a 20x20 box centred in the frame, so shifts of 1-2 pixels
// never cut strokes; they teach the small translation invariance that
// generated digits, which are not always centred exactly, need.
func shiftBatch(ds *datasets.Dataset, idx []int, x *nn.Tensor, s int, rng *nn.RNG) *nn.Tensor {
	if x == nil || len(x.Data) != len(idx)*imageLen {
		x = nn.NewTensor(len(idx), 1, ImageSize, ImageSize)
	}
	for j, i := range idx {
		src := ds.Image(i)
		dst := x.Data[j*imageLen : (j+1)*imageLen]
		if s == 0 {
			copy(dst, src)
			continue
		}
		dy, dx := rng.Intn(2*s+1)-s, rng.Intn(2*s+1)-s
		clear(dst)
		for r := max(0, dy); r < min(ImageSize, ImageSize+dy); r++ {
			sr := r - dy
			c0, c1 := max(0, dx), min(ImageSize, ImageSize+dx)
			copy(dst[r*ImageSize+c0:r*ImageSize+c1], src[sr*ImageSize+c0-dx:sr*ImageSize+c1-dx])
		}
	}
	return x
}

// fitTemperature returns the T minimising the mean negative log-likelihood
// of labels under softmax(logits/T) on the given digits (Guo et al. 2017,
// "On Calibration of Modern Neural Networks"). The NLL is convex in 1/T, so
// a golden-section search over log T in [1/20, 20] finds its minimum.
func (c *Classifier) fitTemperature(ims [][]float32, labels []int32) (float32, error) {
	logits := make([][Classes]float32, len(ims))
	if err := c.each(ims, func(i int, l, _ []float32) { copy(logits[i][:], l) }); err != nil {
		return 0, err
	}
	nll := func(logT float64) float64 {
		t := math.Exp(logT)
		var s float64
		for i, l := range logits {
			m := math.Inf(-1)
			for _, v := range l {
				m = max(m, float64(v)/t)
			}
			var z float64
			for _, v := range l {
				z += math.Exp(float64(v)/t - m)
			}
			s += m + math.Log(z) - float64(l[labels[i]])/t
		}
		return s / float64(len(logits))
	}
	a, b := math.Log(1.0/20), math.Log(20)
	g := (math.Sqrt(5) - 1) / 2
	x1, x2 := b-g*(b-a), a+g*(b-a)
	f1, f2 := nll(x1), nll(x2)
	for b-a > 1e-4 {
		if f1 < f2 {
			b, x2, f2 = x2, x1, f1
			x1 = b - g*(b-a)
			f1 = nll(x1)
		} else {
			a, x1, f1 = x1, x2, f2
			x2 = a + g*(b-a)
			f2 = nll(x2)
		}
	}
	t := math.Exp((a + b) / 2)
	if math.IsNaN(t) {
		return 0, fmt.Errorf("temperature fit failed: NaN negative log-likelihood")
	}
	return float32(t), nil
}
