package sampler

import (
	"math"
	"strings"
	"testing"
)

func TestNLLBitsMatchesEnumeration(t *testing.T) {
	for _, classes := range []int{0, 2} {
		tp := newTabPrior(31, 3, 2, 2, classes, 1.5)
		grids := tp.allGrids()
		for cls := 0; cls < max(classes, 1); cls++ {
			codes := make([]int32, 0, len(grids)*4)
			var cl []int32
			for _, x := range grids {
				codes = append(codes, x...)
				if classes > 0 {
					cl = append(cl, int32(cls))
				}
			}
			for _, batch := range []int{0, 7} {
				bits, err := NLLBits(tp, codes, cl, len(grids), batch)
				if err != nil {
					t.Fatal(err)
				}
				total := 0.0
				for i, x := range grids {
					want := -math.Log2(tp.jointProb(x, int32(cls), 1))
					if math.Abs(bits[i]-want) > 1e-5*math.Max(1, want) {
						t.Fatalf("grid %v: %.6f bits, want %.6f", x, bits[i], want)
					}
					total += math.Exp2(-bits[i])
				}
				// The probabilities of all grids sum to one.
				if math.Abs(total-1) > 1e-5 {
					t.Errorf("classes %d, class %d: probabilities sum to %.7f", classes, cls, total)
				}
			}
		}
	}
}

func TestNLLBitsValidates(t *testing.T) {
	uncond := newTabPrior(1, 3, 2, 2, 0, 1)
	cond := newTabPrior(1, 3, 2, 2, 2, 1)
	codes := []int32{0, 1, 2, 0, 1, 1, 1, 1}
	cases := []struct {
		name    string
		tp      *tabPrior
		codes   []int32
		classes []int32
		want    string
	}{
		{"length", uncond, codes[:7], nil, "7 codes given for 2 grids"},
		{"code range", uncond, []int32{0, 1, 2, 0, 1, 1, 3, 1}, nil, "grid 1 cell (1,0) holds code 3"},
		{"missing classes", cond, codes, nil, "no classes were given"},
		{"class range", cond, codes, []int32{0, 2}, "class 2 of grid 1"},
		{"classes for unconditional", uncond, codes, []int32{0, 0}, "unconditional"},
	}
	for _, c := range cases {
		if _, err := NLLBits(c.tp, c.codes, c.classes, 2, 0); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want one containing %q", c.name, err, c.want)
		}
	}
}
