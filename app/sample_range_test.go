package app

import (
	"context"
	"slices"
	"testing"
)

// SampleRange over any partition of the samples gives Sample's grids,
// classes and images.
func TestSampleRangeIsSample(t *testing.T) {
	_, m := trainedPair(t)
	ctx := context.Background()
	o := m.SampleDefaults()
	o.N, o.Seed = 11, 3
	whole, err := m.Sample(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	var codes, classes []int32
	var images [][]float32
	for _, r := range [][2]int{{0, 4}, {4, 5}, {5, 11}} {
		s, err := m.SampleRange(ctx, o, r[0], r[1], true, nil)
		if err != nil {
			t.Fatal(err)
		}
		codes, classes, images = append(codes, s.Codes...), append(classes, s.Classes...), append(images, s.Images...)
	}
	if !slices.Equal(codes, whole.Codes) || !slices.Equal(classes, whole.Classes) {
		t.Errorf("ranges drew other grids or classes than Sample")
	}
	for i := range images {
		if !slices.Equal(images[i], whole.Images[i]) {
			t.Errorf("image %d of the ranges differs from Sample's", i)
		}
	}
	if _, err := m.SampleRange(ctx, o, 5, 12, false, nil); err == nil {
		t.Errorf("a range past N was drawn")
	}
}
