package evaluate

import (
	"fmt"
	"math"
	"sync"

	"github.com/vqgen/vqgen/nn"
)

// Image geometry and architecture constants. The classifier only judges
// MNIST-shaped digits: one channel, 28x28, values in [0, 1].
const (
	ImageSize = 28
	imageLen  = ImageSize * ImageSize
	Classes   = 10
	// Features is the width of the penultimate layer whose activations the
	// Frechet distance compares.
	Features = 128
	flatLen  = 64 * 7 * 7
)

// Classifier is a small CNN trained on MNIST:
//
//	conv 1->32 3x3 pad 1, ReLU            [32,28,28]
//	conv 32->64 3x3 stride 2 pad 1, ReLU  [64,14,14]
//	conv 64->64 3x3 stride 2 pad 1, ReLU  [64,7,7]
//	flatten, Linear 3136->128, ReLU       the 128 "features"
//	Linear 128->10                        logits, divided by Temperature
//
// A Classifier reuses its layers' buffers between calls, so one value must
// not be used from several goroutines at once; Predict serialises calls
// with a mutex.
type Classifier struct {
	conv1, conv2, conv3 *nn.Conv2d
	relu1, relu2, relu3 nn.ReLU
	fc1                 *nn.Linear
	relu4               nn.ReLU
	fc2                 *nn.Linear

	// Temperature divides the logits before the softmax (temperature
	// scaling, fitted on held-out training digits); 1 leaves them as trained.
	Temperature float32
	// RefMean and RefCov are the mean [Features] and covariance
	// [Features*Features, row-major] of the features of the 10,000 MNIST
	// test digits, the reference distribution of the Frechet distance.
	RefMean, RefCov []float64
	// Info holds what training measured (accuracy, ECE, seconds, ...), as
	// stored in the file's metadata.
	Info map[string]string

	flat  nn.Tensor // [N, 3136] view of relu3's output
	flatS [2]int
	mu    sync.Mutex
}

// newClassifier builds the network with PyTorch's default initialisation
// drawn from seed.
func newClassifier(seed uint64) *Classifier {
	rng := nn.NewRNG(seed)
	return &Classifier{
		conv1:       nn.NewConv2d("conv1", 1, 32, 3, 1, 1, true, rng),
		conv2:       nn.NewConv2d("conv2", 32, 64, 3, 2, 1, true, rng),
		conv3:       nn.NewConv2d("conv3", 64, 64, 3, 2, 1, true, rng),
		fc1:         nn.NewLinear("fc1", flatLen, Features, true, rng),
		fc2:         nn.NewLinear("fc2", Features, Classes, true, rng),
		Temperature: 1,
		Info:        map[string]string{},
	}
}

// params lists the learnable parameters in a fixed order.
func (c *Classifier) params() []*nn.Param {
	var ps []*nn.Param
	for _, l := range []interface{ Params() []*nn.Param }{c.conv1, c.conv2, c.conv3, c.fc1, c.fc2} {
		ps = append(ps, l.Params()...)
	}
	return ps
}

// forward maps x [N,1,28,28] to logits [N,10] (before the temperature) and
// the features [N,128]; both are owned by the layers.
func (c *Classifier) forward(x *nn.Tensor) (logits, feats *nn.Tensor) {
	h := c.relu1.Forward(c.conv1.Forward(x))
	h = c.relu2.Forward(c.conv2.Forward(h))
	h = c.relu3.Forward(c.conv3.Forward(h))
	c.flatS = [2]int{h.Shape[0], flatLen}
	c.flat.Shape, c.flat.Data = c.flatS[:], h.Data
	feats = c.relu4.Forward(c.fc1.Forward(&c.flat))
	return c.fc2.Forward(feats), feats
}

// backward propagates dL/dlogits through the network, adding parameter
// gradients.
func (c *Classifier) backward(dlogits *nn.Tensor) {
	d := c.relu4.Backward(c.fc2.Backward(dlogits))
	d = c.relu3.Backward(c.fc1.Backward(d)) // ReLU checks only the length, so [N,3136] passes back as [N,64,7,7]
	d = c.relu2.Backward(c.conv3.Backward(d))
	d = c.relu1.Backward(c.conv2.Backward(d))
	c.conv1.Backward(d)
}

// predictBatch is the largest batch Predict runs at once: large enough to
// keep both cores busy in the convolutions, small enough that activations
// stay around 30 MB.
const predictBatch = 256

// Predict classifies images, each 784 values (28x28, row-major, in [0, 1]),
// and returns the class probabilities (softmax of logits/Temperature) and
// the 128 penultimate features of each.
func (c *Classifier) Predict(images [][]float32) (probs [][Classes]float32, feats [][]float32, err error) {
	probs = make([][Classes]float32, len(images))
	feats = make([][]float32, len(images))
	featBuf := make([]float32, len(images)*Features)
	err = c.each(images, func(i int, logits, f []float32) {
		softmaxT(probs[i][:], logits, c.Temperature)
		feats[i] = featBuf[i*Features : (i+1)*Features : (i+1)*Features]
		copy(feats[i], f)
	})
	if err != nil {
		return nil, nil, err
	}
	return probs, feats, nil
}

// each runs the network over images in batches and calls fn with each
// image's raw logits and features (valid only during the call).
func (c *Classifier) each(images [][]float32, fn func(i int, logits, feats []float32)) error {
	for i, im := range images {
		if len(im) != imageLen {
			return fmt.Errorf("image %d has %d values, want %d (1x%dx%d)", i, len(im), imageLen, ImageSize, ImageSize)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var x *nn.Tensor
	for lo := 0; lo < len(images); lo += predictBatch {
		hi := min(lo+predictBatch, len(images))
		x = nn.Ensure(x, hi-lo, 1, ImageSize, ImageSize)
		for i := lo; i < hi; i++ {
			copy(x.Data[(i-lo)*imageLen:], images[i])
		}
		logits, f := c.forward(x)
		for i := lo; i < hi; i++ {
			j := i - lo
			fn(i, logits.Data[j*Classes:(j+1)*Classes], f.Data[j*Features:(j+1)*Features])
		}
	}
	return nil
}

// PredictTensor is Predict for a batch tensor [N,1,28,28].
func (c *Classifier) PredictTensor(x *nn.Tensor) ([][Classes]float32, [][]float32, error) {
	if len(x.Shape) != 4 || x.Shape[1] != 1 || x.Shape[2] != ImageSize || x.Shape[3] != ImageSize {
		return nil, nil, fmt.Errorf("images tensor has shape %v, want [N,1,%d,%d]", x.Shape, ImageSize, ImageSize)
	}
	ims := make([][]float32, x.Shape[0])
	for i := range ims {
		ims[i] = x.Data[i*imageLen : (i+1)*imageLen]
	}
	return c.Predict(ims)
}

// softmaxT writes softmax(logits/t) into dst, in float64 with the maximum
// subtracted so no exp overflows.
func softmaxT(dst, logits []float32, t float32) {
	m := math.Inf(-1)
	for _, v := range logits {
		m = max(m, float64(v))
	}
	var e [Classes]float64
	var s float64
	for j, v := range logits {
		e[j] = math.Exp((float64(v) - m) / float64(t))
		s += e[j]
	}
	for j := range dst {
		dst[j] = float32(e[j] / s)
	}
}
