package datasets

import (
	"math"
	"slices"
	"testing"

	"github.com/vqgen/vqgen/nn"
)

func TestBatcherEpochs(t *testing.T) {
	cases := []struct {
		n, size  int
		dropLast bool
		perEpoch int
		lastLen  int
	}{
		{10, 3, false, 4, 1},
		{10, 3, true, 3, 3},
		{9, 3, false, 3, 3},
		{5, 5, true, 1, 5},
		{1, 4, false, 1, 1},
	}
	for _, c := range cases {
		b, err := NewBatcher(c.n, c.size, 7, c.dropLast)
		if err != nil {
			t.Fatal(err)
		}
		if b.BatchesPerEpoch() != c.perEpoch {
			t.Fatalf("%+v: %d batches per epoch", c, b.BatchesPerEpoch())
		}
		var orders [][]int
		for e := range 3 {
			var seen []int
			for k := range c.perEpoch {
				idx, epoch := b.Next()
				if epoch != e {
					t.Fatalf("%+v: batch %d of epoch %d reports epoch %d", c, k, e, epoch)
				}
				if k == c.perEpoch-1 && len(idx) != c.lastLen || k < c.perEpoch-1 && len(idx) != c.size {
					t.Fatalf("%+v: batch %d has %d items", c, k, len(idx))
				}
				seen = append(seen, idx...)
			}
			sorted := slices.Sorted(slices.Values(seen))
			if !c.dropLast {
				for i, v := range sorted {
					if v != i {
						t.Fatalf("%+v epoch %d: not a permutation: %v", c, e, sorted)
					}
				}
			} else if len(slices.Compact(sorted)) != len(seen) {
				t.Fatalf("%+v epoch %d: repeated index in %v", c, e, seen)
			}
			orders = append(orders, seen)
		}
		if c.n >= 9 && slices.Equal(orders[0], orders[1]) {
			t.Fatalf("%+v: epochs 0 and 1 have the same order", c)
		}
	}
}

// Saving the state mid-epoch and restoring it into a fresh batcher gives the
// same batches as carrying on; a different seed gives a different order.
func TestBatcherResume(t *testing.T) {
	a, _ := NewBatcher(100, 7, 42, false)
	for range 20 { // into the second epoch (15 batches per epoch)
		a.Next()
	}
	st := a.State()
	if st.Epoch != 1 || st.Pos != 35 {
		t.Fatalf("state %+v, want epoch 1 position 35", st)
	}
	b, _ := NewBatcher(100, 7, 42, false)
	if err := b.Restore(st); err != nil {
		t.Fatal(err)
	}
	for k := range 40 {
		x, ex := a.Next()
		y, ey := b.Next()
		if ex != ey || !slices.Equal(x, y) {
			t.Fatalf("batch %d after resume: %v (epoch %d) vs %v (epoch %d)", k, x, ex, y, ey)
		}
	}
	c, _ := NewBatcher(100, 7, 43, false)
	d, _ := NewBatcher(100, 7, 42, false)
	x, _ := c.Next()
	y, _ := d.Next()
	if slices.Equal(x, y) {
		t.Fatal("seeds 42 and 43 give the same first batch")
	}
	for _, bad := range []BatcherState{{-1, 0}, {0, -1}, {0, 101}} {
		if err := b.Restore(bad); err == nil {
			t.Errorf("Restore(%+v) succeeded", bad)
		}
	}
}

func TestBatcherErrors(t *testing.T) {
	for _, c := range []struct {
		n, size int
		drop    bool
	}{{0, 1, false}, {5, 0, false}, {3, 4, true}} {
		if _, err := NewBatcher(c.n, c.size, 1, c.drop); err == nil {
			t.Errorf("NewBatcher(%d, %d, drop=%v) succeeded", c.n, c.size, c.drop)
		}
	}
}

func TestBatchFill(t *testing.T) {
	ds := &Dataset{Name: "toy", N: 4, C: 1, H: 1, W: 2, Pixels: []float32{0, 1, 2, 3, 4, 5, 6, 7}, Labels: []int32{9, 8, 7, 6}, Classes: 10}
	x, l := ds.Batch([]int{3, 0}, nil, nil)
	if !slices.Equal(x.Shape, []int{2, 1, 1, 2}) || !slices.Equal(x.Data, []float32{6, 7, 0, 1}) || !slices.Equal(l, []int32{6, 9}) {
		t.Fatalf("batch %v %v labels %v", x.Shape, x.Data, l)
	}
	allocs := testing.AllocsPerRun(100, func() { x, l = ds.Batch([]int{1, 2}, x, l) })
	if allocs != 0 {
		t.Fatalf("Batch allocates %v times per call after warm-up", allocs)
	}
	if !slices.Equal(x.Data, []float32{2, 3, 4, 5}) || !slices.Equal(l, []int32{8, 7}) {
		t.Fatalf("batch %v labels %v", x.Data, l)
	}
	ds.Labels = nil
	_, l = ds.Batch([]int{1}, nn.NewTensor(1), l)
	if l != nil {
		t.Fatal("labels for an unlabelled dataset")
	}
}

func BenchmarkBatchMNIST(b *testing.B) {
	ds, err := MNIST("train")
	if err != nil {
		b.Fatal(err)
	}
	bt, _ := NewBatcher(ds.N, 128, 1, true)
	var x *nn.Tensor
	var l []int32
	for b.Loop() {
		idx, _ := bt.Next()
		x, l = ds.Batch(idx, x, l)
	}
}

// 8-bit storage converts to [0, 1] in the batch, allocation-free.
func TestBatchFill8(t *testing.T) {
	ds := &Dataset{Name: "toy8", N: 3, C: 1, H: 1, W: 2, Pix8: []uint8{0, 255, 51, 102, 7, 8}}
	x, l := ds.Batch([]int{2, 1}, nil, nil)
	want := []float32{7.0 / 255, 8.0 / 255, 0.2, 0.4}
	for i, v := range x.Data {
		if math.Abs(float64(v-want[i])) > 1e-7 || l != nil {
			t.Fatalf("batch %v labels %v, want %v", x.Data, l, want)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { x, _ = ds.Batch([]int{0, 2}, x, nil) }); allocs != 0 {
		t.Fatalf("Batch allocates %v times per call after warm-up", allocs)
	}
	if got := ds.Slice(1, 3).Image(0); !slices.Equal(got, []float32{0.2, 0.4}) {
		t.Fatalf("Slice(1,3).Image(0) = %v", got)
	}
}

// Flips are a function of (seed, epoch, image): about half of the images
// each epoch, different per epoch and seed, and FlipBatch mirrors exactly
// the flipped ones.
func TestFlips(t *testing.T) {
	n := 4000
	count := func(seed uint64, epoch int) (k int, pattern []bool) {
		for i := range n {
			f := Flipped(seed, epoch, i)
			pattern = append(pattern, f)
			if f {
				k++
			}
		}
		return k, pattern
	}
	k0, p0 := count(1, 0)
	k1, p1 := count(1, 1)
	_, q0 := count(2, 0)
	if k0 < n*45/100 || k0 > n*55/100 || k1 < n*45/100 || k1 > n*55/100 {
		t.Fatalf("flipped %d and %d of %d images, want about half", k0, k1, n)
	}
	if slices.Equal(p0, p1) || slices.Equal(p0, q0) {
		t.Fatal("flips do not change with the epoch or the seed")
	}
	_, again := count(1, 0)
	if !slices.Equal(p0, again) {
		t.Fatal("flips are not a function of (seed, epoch, image)")
	}
	// Two channels, 2x3 images: rows reversed for flipped images only.
	x := nn.NewTensor(4, 2, 2, 3)
	for i := range x.Data {
		x.Data[i] = float32(i)
	}
	orig := x.Clone()
	idx := []int{10, 11, 12, 13}
	FlipBatch(x, idx, 7, 3)
	for j, i := range idx {
		for r := range 4 {
			for c := range 3 {
				src := c
				if Flipped(7, 3, i) {
					src = 2 - c
				}
				if got, want := x.Data[j*12+r*3+c], orig.Data[j*12+r*3+src]; got != want {
					t.Fatalf("image %d row %d col %d = %g, want %g", j, r, c, got, want)
				}
			}
		}
	}
}
