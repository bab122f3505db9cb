// Package prior is stage two of vqgen: autoregressive models over the code
// grids that stage one writes. A grid x of H*W indices in [0, K) is modelled
// in raster order,
//
//	p(x | y) = prod_i p(x_i | x_<i, y),
//
// optionally conditioned on a class y. A conditional prior with C classes
// takes y in 0..C: classes 0..C-1 are the labels and C is the null class,
// "no class given", so the same model is also the unconditional p(x) that
// classifier-free guidance needs (see package sampler). Training teaches it
// by replacing each grid's label with C with probability
// prior.train.class_dropout. Two architectures share one
// interface: a gated PixelCNN (van den Oord et al. 2016) and a small causal
// Transformer. Training minimises the cross-entropy of every position at
// once (teacher forcing); sampling draws one position at a time.
package prior

import (
	"fmt"

	"github.com/vqgen/vqgen/nn"
)

// Info describes the grids a prior models; a checkpoint records it together
// with the fingerprint of the VQ-VAE whose codes it was trained on.
type Info struct {
	Arch    string // "pixelcnn" or "transformer"
	K       int    // codebook size
	H, W    int    // grid size
	Classes int    // 0: unconditional
}

// Positions is the number of cells of a grid.
func (i Info) Positions() int { return i.H * i.W }

// NullClass is the class index meaning "no class given" in a conditional
// prior (Classes > 0): Classes, one past the labels. A conditional prior
// accepts classes 0..NullClass() inclusive.
func (i Info) NullClass() int32 { return int32(i.Classes) }

// checkClassIndices reports the first class outside 0..classes (the null
// class included), naming the valid range.
func checkClassIndices(cls []int32, classes int) error {
	for i, c := range cls {
		if c < 0 || int(c) > classes {
			return fmt.Errorf("class %d of grid %d is outside 0..%d (labels 0..%d and the null class %d)", c, i, classes, classes-1, classes)
		}
	}
	return nil
}

// Prior is an autoregressive model over code grids.
//
// Forward takes n grids (codes: n*H*W indices, raster order per grid) and,
// for a conditional prior, one class per grid (nil otherwise), and returns
// the logits of every position, [n*H*W, K]: row i*H*W+p holds the logits of
// p(x_p | x_<p, y) for grid i. Row p never depends on codes at p or after
// (the causality tests check this). The returned tensor is owned by the
// model. Backward takes dL/dlogits of the same shape and accumulates the
// parameter gradients.
type Prior interface {
	Info() Info
	Params() []*nn.Param
	Forward(codes, classes []int32, n int) *nn.Tensor
	Backward(dlogits *nn.Tensor)
	// NewStepper returns an incremental predictor for up to n grids, for
	// sampling one position at a time.
	NewStepper(n int) Stepper
}

// Stepper predicts one position at a time, reusing work across positions
// where the architecture allows (the Transformer's key/value cache).
type Stepper interface {
	// Reset starts n grids (n no more than the stepper was made for) with the
	// given classes (nil for an unconditional prior).
	Reset(n int, classes []int32)
	// Next returns the logits [n, K] of position pos given codes (n*H*W;
	// only positions < pos are read). Calls go pos = 0, 1, 2, ... in order
	// after Reset. The tensor is owned by the stepper.
	Next(codes []int32, pos int) *nn.Tensor
}

// SpanStepper is a Stepper that can also take several positions in one
// call and go back to an earlier position, which lets a sampler score many
// continuations of one prefix without recomputing the prefix (the
// Transformer's stepper implements it; see package sampler's gibbs edits).
type SpanStepper interface {
	Stepper
	// Span returns the logits [n*(to-from), K] of positions from..to-1 of
	// the n grids, grid-major, where from is the next position (Reset
	// makes it 0); positions before to-1 of codes are read. The tensor is
	// owned by the stepper.
	Span(codes []int32, from, to int) *nn.Tensor
	// Rewind makes pos (no later than the next position) the next
	// position: what the positions from pos on saw is forgotten.
	Rewind(pos int)
}
