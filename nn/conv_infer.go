package nn

import (
	"fmt"

	"github.com/vqgen/vqgen/kernels"
)

// The inference side of Conv2d, for callers that compute a few output
// positions at a time from data of their own (a PixelCNN's stepper): they
// assemble the patch columns of those positions, in im2col's row order
// over PatchTaps, and InferPatches multiplies them by the layer's weight
// with the layer's bias and ReLU. The weight, its masked or live taps and
// the arithmetic are the layer's own (Forward's GEMM and epilogue, one
// element at a time the same operations); only the data layout is the
// caller's.

// PatchTaps is the window of kernel taps the patch rows run over: Live,
// or the whole kernel.
func (c *Conv2d) PatchTaps() TapWindow {
	if c.Live != nil {
		return *c.Live
	}
	return TapWindow{0, c.KH, 0, c.KW}
}

// PatchRows is the number of rows of a patch column: InC times the taps of
// PatchTaps, in the order channel, tap row, tap column.
func (c *Conv2d) PatchRows() int {
	t := c.PatchTaps()
	return c.InC * (t.U1 - t.U0) * (t.V1 - t.V0)
}

// PrepareInfer snapshots the weight InferPatches multiplies by (its live or
// masked taps); call it again after the weights change.
func (c *Conv2d) PrepareInfer() {
	w := c.liveWeights()
	c.inferW = append(c.inferW[:0], w...)
}

// InferPatches sets, for o < OutC and j < n,
//
//	y[o*ldy+j] = f(sum_k W[o][k] * patches[k*ldp+j] + bias[o])
//
// with k over PatchRows() rows and f the ReLU when the layer has one:
// the layer's output at n positions whose patch columns the caller
// assembled. It does not touch Forward's caches.
func (c *Conv2d) InferPatches(y []float32, ldy int, patches []float32, ldp, n int) {
	k := c.PatchRows()
	if len(c.inferW) != c.OutC*k {
		panic(fmt.Sprintf("nn: Conv2d %s: InferPatches before PrepareInfer", c.Weight.Name))
	}
	Sgemm(false, false, c.OutC, n, k, 1, c.inferW, k, patches, ldp, 0, y, ldy)
	if c.Bias == nil && !c.ReLU {
		return
	}
	for o := range c.OutC {
		var b float32
		if c.Bias != nil {
			b = c.Bias.Data.Data[o]
		}
		row := y[o*ldy : o*ldy+n]
		kernels.BiasRows(row, n, row, n, 1, n, b, c.Bias != nil, c.ReLU, nil)
	}
}
