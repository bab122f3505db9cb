package nn

import (
	"fmt"
	"math"
	"testing"

	"github.com/vqgen/vqgen/kernels"
)

// toBatchMajor returns NCHW x as [C, N, H, W].
func toBatchMajor(x *Tensor) *Tensor {
	n, c, hw := x.Shape[0], x.Shape[1], x.Shape[2]*x.Shape[3]
	y := NewTensor(c, n, x.Shape[2], x.Shape[3])
	for i := range n {
		for ch := range c {
			copy(y.Data[(ch*n+i)*hw:(ch*n+i+1)*hw], x.Data[(i*c+ch)*hw:(i*c+ch+1)*hw])
		}
	}
	return y
}

// TestConvBatchMajorMatchesNCHW requires a batch-major convolution to give
// the bits of the NCHW one (y, dx, dW, db, each in its layout) for 1x1
// convolutions (read and written in place), masked ones with live taps,
// stride 2, a fused ReLU, a skip input, wide GEMM groups and batches that
// leave a smaller last group, on every kernel path with and without
// implicit patches. The one exception is dW on the generic path: gonum's
// assembly dot products (the A*B^T product) start by summing the
// elements before the first 16-byte boundary, so their order follows the
// operands' addresses, which the layouts place differently; there dW
// must agree to float32 rounding.
func TestConvBatchMajorMatchesNCHW(t *testing.T) {
	type layer func(rng *RNG) *Conv2d
	plain := func(inC, outC, k, s, pad int) layer {
		return func(rng *RNG) *Conv2d { return NewConv2d("c", inC, outC, k, s, pad, true, rng) }
	}
	masked := func(inC, outC, kh, kw int, kind MaskKind) layer {
		return func(rng *RNG) *Conv2d { return NewMaskedConv2d("c", inC, outC, kh, kw, kind, true, rng) }
	}
	cases := []struct {
		name      string
		make      layer
		n, h, w   int
		groupCols int
		relu      bool
		skip      bool
	}{
		{"pointwise", plain(16, 24, 1, 1, 0), 11, 7, 7, 256, false, false},
		{"pointwise-relu", plain(9, 5, 1, 1, 0), 19, 4, 5, 0, true, false},
		{"pointwise-skip", plain(8, 8, 1, 1, 0), 13, 7, 7, 256, false, true},
		{"pointwise-1group", plain(6, 10, 1, 1, 0), 3, 16, 16, 256, false, false},
		{"vertical", masked(12, 20, 3, 3, MaskVertical), 11, 7, 7, 256, false, false},
		{"horizontal-a", masked(12, 20, 1, 3, MaskHorizontalA), 9, 7, 7, 256, false, false},
		{"horizontal-b", masked(7, 6, 1, 5, MaskHorizontalB), 5, 6, 8, 0, true, false},
		{"3x3-skip", plain(5, 5, 3, 1, 1), 7, 7, 7, 0, false, true},
		{"stride2", plain(3, 9, 4, 2, 1), 6, 14, 14, 0, true, false},
	}
	for _, path := range kernels.Paths() {
		restore := kernels.SetPath(path)
		for _, explicit := range []bool{false, true} {
			for ci, tc := range cases {
				t.Run(fmt.Sprintf("%s/explicit=%v/%s", path, explicit, tc.name), func(t *testing.T) {
					explicitPatchesOnly = explicit
					defer func() { explicitPatchesOnly = false }()
					nchw := tc.make(NewRNG(uint64(70 + ci)))
					bm := tc.make(NewRNG(uint64(70 + ci)))
					bm.BatchMajor = true
					for _, c := range []*Conv2d{nchw, bm} {
						c.GroupCols, c.ReLU = tc.groupCols, tc.relu
					}
					rng := NewRNG(uint64(90 + ci))
					x := randTensor(rng, tc.n, nchw.InC, tc.h, tc.w)
					oh, ow := nchw.OutSize(tc.h, tc.w)
					dy := randTensor(rng, tc.n, nchw.OutC, oh, ow)
					var skip *Tensor
					if tc.skip {
						skip = randTensor(rng, tc.n, nchw.OutC, oh, ow)
					}
					pass := func(c *Conv2d, x, dy, skip *Tensor) (y, dx, dw, db *Tensor) {
						if skip != nil {
							y = c.ForwardAdd(x, skip).Clone()
						} else {
							y = c.Forward(x).Clone()
						}
						dx = c.Backward(dy).Clone()
						return y, dx, c.Weight.Grad.Clone(), c.Bias.Grad.Clone()
					}
					wy, wdx, wdw, wdb := pass(nchw, x, dy, skip)
					var bskip *Tensor
					if skip != nil {
						bskip = toBatchMajor(skip)
					}
					y, dx, dw, db := pass(bm, toBatchMajor(x), toBatchMajor(dy), bskip)
					if y.Shape[0] != nchw.OutC || y.Shape[1] != tc.n {
						t.Fatalf("output shape %v, want [%d %d %d %d]", y.Shape, nchw.OutC, tc.n, oh, ow)
					}
					compareLayouts(t, path, 1e-5, []layoutCmp{{"y", y, toBatchMajor(wy)}, {"dx", dx, toBatchMajor(wdx)}, {"dW", dw, wdw}, {"db", db, wdb}})
				})
			}
		}
		restore()
	}
}

// toRows returns NCHW x as [N*H*W, C], a row per position.
func toRows(x *Tensor) *Tensor {
	n, c, hw := x.Shape[0], x.Shape[1], x.Shape[2]*x.Shape[3]
	y := NewTensor(n*hw, c)
	for i := range n {
		for ch := range c {
			for p := range hw {
				y.Data[(i*hw+p)*c+ch] = x.Data[(i*c+ch)*hw+p]
			}
		}
	}
	return y
}

// TestConvRowsOutMatchesNCHW requires a batch-major 1x1 convolution with
// RowsOut to give the NCHW layer's bits: its output and output gradient a
// row per position, its input batch-major.
func TestConvRowsOutMatchesNCHW(t *testing.T) {
	for _, path := range kernels.Paths() {
		restore := kernels.SetPath(path)
		for ci, tc := range []struct{ n, inC, outC, h, w, groupCols int }{
			{11, 16, 40, 7, 7, 256}, {19, 9, 5, 4, 5, 0}, {3, 24, 33, 16, 16, 256},
		} {
			t.Run(fmt.Sprintf("%s/%d", path, ci), func(t *testing.T) {
				nchw := NewConv2d("c", tc.inC, tc.outC, 1, 1, 0, true, NewRNG(uint64(5+ci)))
				rows := NewConv2d("c", tc.inC, tc.outC, 1, 1, 0, true, NewRNG(uint64(5+ci)))
				nchw.GroupCols, rows.GroupCols = tc.groupCols, tc.groupCols
				rows.BatchMajor, rows.RowsOut = true, true
				rng := NewRNG(uint64(50 + ci))
				x := randTensor(rng, tc.n, tc.inC, tc.h, tc.w)
				dy := randTensor(rng, tc.n, tc.outC, tc.h, tc.w)
				wy := nchw.Forward(x).Clone()
				wdx := nchw.Backward(dy).Clone()
				y := rows.Forward(toBatchMajor(x)).Clone()
				dx := rows.Backward(toRows(dy))
				// gonum sums A^T B^T's dot products in yet another order: a
				// few hundred terms agree to 1e-4.
				compareLayouts(t, path, 1e-4, []layoutCmp{{"y", y, toRows(wy)}, {"dx", dx, toBatchMajor(wdx)}, {"dW", rows.Weight.Grad, nchw.Weight.Grad}, {"db", rows.Bias.Grad, nchw.Bias.Grad}})
			})
		}
		restore()
	}
	c := NewConv2d("head", 3, 4, 3, 1, 1, true, NewRNG(1))
	c.BatchMajor, c.RowsOut = true, true
	defer func() {
		if r := fmt.Sprint(recover()); r != "nn: Conv2d head.weight: RowsOut needs a batch-major 1x1 convolution without ReLU or skip" {
			t.Fatalf("a 3x3 layer with RowsOut: panic %q", r)
		}
	}()
	c.Forward(NewTensor(3, 2, 5, 5))
}

// layoutCmp is one tensor of a layer in another layout against the NCHW
// layer's.
type layoutCmp struct {
	name      string
	got, want *Tensor
}

// compareLayouts requires every tensor to have the NCHW layer's shape and
// bits, but dW on the generic path to within genericTol (relative): see
// TestConvBatchMajorMatchesNCHW.
func compareLayouts(t *testing.T, path string, genericTol float64, cmps []layoutCmp) {
	t.Helper()
	for _, c := range cmps {
		if !c.got.SameShape(c.want) {
			t.Fatalf("%s: shape %v, want %v", c.name, c.got.Shape, c.want.Shape)
		}
		for i, w := range c.want.Data {
			g := c.got.Data[i]
			if path == "generic" && c.name == "dW" {
				if math.Abs(float64(g-w)) > genericTol*(1+math.Abs(float64(w))) {
					t.Fatalf("dW[%d] = %v, NCHW gives %v", i, g, w)
				}
				continue
			}
			if math.Float32bits(g) != math.Float32bits(w) {
				t.Fatalf("%s[%d] = %v, NCHW gives %v", c.name, i, g, w)
			}
		}
	}
}

// TestConvBatchMajorShapeErrors requires a batch-major layer to name the
// layout it wants when handed an NCHW tensor.
func TestConvBatchMajorShapeErrors(t *testing.T) {
	c := NewConv2d("layer", 3, 4, 1, 1, 0, true, NewRNG(1))
	c.BatchMajor = true
	defer func() {
		r := fmt.Sprint(recover())
		if r != "nn: Conv2d layer.weight: input [2 3 5 5], want [3,N,H,W]" {
			t.Fatalf("panic %q", r)
		}
	}()
	c.Forward(NewTensor(2, 3, 5, 5))
}
