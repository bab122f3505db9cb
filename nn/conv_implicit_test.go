package nn

import (
	"fmt"
	"math"
	"testing"

	"github.com/vqgen/vqgen/kernels"
)

// TestConvImplicitPatchesMatchExplicit requires the forward and backward
// passes that gather their patches inside the GEMMs to give the same bits
// (y, dx, dW, db) as the ones that write the im2col matrix, for every kernel path with assembly and
// for geometries with padding on every side, stride 2, non-square kernels,
// masks, batches that leave a smaller last group, and a batch smaller than
// one group.
func TestConvImplicitPatchesMatchExplicit(t *testing.T) {
	cases := []struct {
		n, inC, outC, h, w, kh, kw, s, ph, pw int
		masked, relu                          bool
	}{
		{11, 16, 24, 7, 7, 3, 3, 1, 1, 1, false, true},
		{3, 5, 7, 14, 14, 4, 4, 2, 1, 1, false, false},
		{5, 1, 9, 28, 28, 4, 4, 2, 1, 1, false, true},
		{4, 6, 30, 9, 11, 2, 3, 1, 1, 1, true, false},
		{2, 3, 4, 5, 6, 5, 5, 2, 2, 2, false, false},
		{1, 8, 33, 7, 7, 7, 7, 1, 3, 3, true, true},
		{19, 4, 15, 7, 7, 1, 3, 1, 0, 1, false, false},
	}
	ran := 0
	for _, path := range kernels.Paths() {
		restore := kernels.SetPath(path)
		if kernels.PanelWidth() == 0 {
			restore()
			continue
		}
		for ci, tc := range cases {
			t.Run(fmt.Sprintf("%s/%d", path, ci), func(t *testing.T) {
				rng := NewRNG(uint64(40 + ci))
				c := NewConv2dHW("c", tc.inC, tc.outC, tc.kh, tc.kw, tc.s, tc.ph, tc.pw, true, rng)
				c.ReLU = tc.relu
				if tc.masked {
					c.Mask = make([]float32, len(c.Weight.Data.Data))
					for i := range c.Mask {
						c.Mask[i] = float32(i % 2)
					}
				}
				x := randTensor(rng, tc.n, tc.inC, tc.h, tc.w)
				oh, ow := c.OutSize(tc.h, tc.w)
				dy := randTensor(rng, tc.n, tc.outC, oh, ow)
				pass := func() (y, dx, dw, db *Tensor) {
					c.Weight.Grad.Zero()
					c.Bias.Grad.Zero()
					y = c.Forward(x).Clone()
					dx = c.Backward(dy).Clone()
					return y, dx, c.Weight.Grad.Clone(), c.Bias.Grad.Clone()
				}
				y, dx, dw, db := pass()
				if !c.implicit {
					t.Fatal("the conv did not take the implicit path")
				}
				explicitPatchesOnly = true
				wy, wdx, wdw, wdb := pass()
				explicitPatchesOnly = false
				for _, cmp := range []struct {
					name      string
					got, want *Tensor
				}{{"y", y, wy}, {"dx", dx, wdx}, {"dW", dw, wdw}, {"db", db, wdb}} {
					for i := range cmp.want.Data {
						if math.Float32bits(cmp.got.Data[i]) != math.Float32bits(cmp.want.Data[i]) {
							t.Fatalf("%s[%d] = %v, im2col path gives %v", cmp.name, i, cmp.got.Data[i], cmp.want.Data[i])
						}
					}
				}
			})
			ran++
		}
		restore()
	}
	if kernels.PanelWidth() > 0 && ran == 0 {
		t.Fatal("no case ran")
	}
}

// TestConvForwardAddMatchesAdd requires ForwardAdd to give the bits of
// Forward followed by an Add layer, and to leave Backward unchanged, on
// both the explicit (pointwise) and implicit patch paths.
func TestConvForwardAddMatchesAdd(t *testing.T) {
	for _, k := range []int{1, 3} {
		rng := NewRNG(uint64(60 + k))
		c := NewConv2d("c", 6, 10, k, 1, k/2, k == 3, rng)
		x := randTensor(rng, 13, 6, 7, 7)
		skip := randTensor(rng, 13, 10, 7, 7)
		dy := randTensor(rng, 13, 10, 7, 7)
		var add Add
		want := add.Forward(c.Forward(x), skip).Clone()
		wantDx := c.Backward(dy).Clone()
		got := c.ForwardAdd(x, skip).Clone()
		gotDx := c.Backward(dy)
		for i := range want.Data {
			if math.Float32bits(got.Data[i]) != math.Float32bits(want.Data[i]) {
				t.Fatalf("k=%d: y[%d] = %v, Forward + Add gives %v", k, i, got.Data[i], want.Data[i])
			}
		}
		for i := range wantDx.Data {
			if math.Float32bits(gotDx.Data[i]) != math.Float32bits(wantDx.Data[i]) {
				t.Fatalf("k=%d: dx[%d] = %v after ForwardAdd, %v after Forward", k, i, gotDx.Data[i], wantDx.Data[i])
			}
		}
	}
}
