package datasets

import (
	"testing"
)

func TestMNIST(t *testing.T) {
	cases := []struct {
		spec      string
		n         int
		firstLbl  int32
		wantClass int
	}{
		{"mnist:train", 60000, 5, 10},
		{"mnist:test", 10000, 7, 10},
	}
	for _, c := range cases {
		ds, err := Load(c.spec, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if ds.N != c.n || ds.C != 1 || ds.H != 28 || ds.W != 28 || len(ds.Pix8) != c.n*784 || len(ds.Labels) != c.n {
			t.Fatalf("%s: N=%d C=%d H=%d W=%d, %d pixels, %d labels", c.spec, ds.N, ds.C, ds.H, ds.W, len(ds.Pix8), len(ds.Labels))
		}
		if ds.Labels[0] != c.firstLbl || ds.Classes != c.wantClass || len(ds.ClassNames) != 10 || ds.ClassNames[3] != "3" {
			t.Fatalf("%s: first label %d, %d classes %v", c.spec, ds.Labels[0], ds.Classes, ds.ClassNames)
		}
		counts := make([]int, 10)
		for _, l := range ds.Labels {
			counts[l]++
		}
		for k, n := range counts {
			// Every digit is 8-12% of each MNIST split.
			if n < c.n*8/100 || n > c.n*12/100 {
				t.Errorf("%s: %d images of digit %d", c.spec, n, k)
			}
		}
		lo, hi, mean := float32(1), float32(0), 0.0
		for _, b := range ds.Pix8 {
			v := u8ToUnit[b]
			lo, hi = min(lo, v), max(hi, v)
			mean += float64(v)
		}
		mean /= float64(len(ds.Pix8))
		// MNIST's mean intensity is about 0.13 (0.1307 train, 0.1325 test).
		if lo != 0 || hi != 1 || mean < 0.125 || mean > 0.14 {
			t.Fatalf("%s: pixels in [%g, %g], mean %g", c.spec, lo, hi, mean)
		}
		if ds.Name != c.spec {
			t.Errorf("name %q, want %q", ds.Name, c.spec)
		}
	}
	// The first training image is a 5 whose top rows are blank and whose
	// centre has ink.
	ds, _ := MNIST("train")
	img := ds.Image(0)
	var top, mid float32
	for x := range 28 {
		top += img[x]
		mid += img[14*28+x]
	}
	if top != 0 || mid == 0 {
		t.Fatalf("first image: top row sum %g, middle row sum %g", top, mid)
	}
	// Each split is decoded once and shared.
	ds2, _ := MNIST("train")
	if &ds2.Pix8[0] != &ds.Pix8[0] || ds2 == ds {
		t.Fatal("MNIST should share its pixels between callers but return distinct Dataset values")
	}
	if _, err := MNIST("val"); err == nil {
		t.Fatal("MNIST(\"val\") succeeded")
	}
}

func TestSplit(t *testing.T) {
	ds, err := Load("mnist:train", Options{})
	if err != nil {
		t.Fatal(err)
	}
	train, val, err := Split(ds, 5000)
	if err != nil {
		t.Fatal(err)
	}
	if train.N != 55000 || val.N != 5000 || len(val.Labels) != 5000 || len(val.Pix8) != 5000*784 {
		t.Fatalf("train %d, val %d", train.N, val.N)
	}
	if &val.Pix8[0] != &ds.Pix8[55000*784] || val.Labels[0] != ds.Labels[55000] || train.Labels[0] != 5 {
		t.Fatal("val is not the tail of the training set")
	}
	for _, bad := range []int{-1, 60000, 70000} {
		if _, _, err := Split(ds, bad); err == nil {
			t.Errorf("Split(%d) succeeded", bad)
		}
	}
}

func BenchmarkDecodeMNISTTrain(b *testing.B) {
	for b.Loop() {
		if _, err := decodeMNIST("train"); err != nil {
			b.Fatal(err)
		}
	}
}
