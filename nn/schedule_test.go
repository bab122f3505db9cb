package nn

import (
	"math"
	"testing"
)

func TestWarmupCosine(t *testing.T) {
	const base, floor = 1e-3, 1e-5
	cases := []struct {
		name                string
		step, warmup, total int
		want                float64
	}{
		{"first warm-up step", 0, 10, 110, base / 10},
		{"mid warm-up", 4, 10, 110, base * 5 / 10},
		{"last warm-up step reaches base", 9, 10, 110, base},
		{"decay starts at base", 10, 10, 110, base},
		{"half way is the mean", 60, 10, 110, (base + floor) / 2},
		{"quarter way", 35, 10, 110, floor + (base-floor)*(1+math.Sqrt2/2)/2},
		{"last step is near the floor", 109, 10, 110, floor + (base-floor)*(1+math.Cos(math.Pi*99/100))/2},
		{"at total", 110, 10, 110, floor},
		{"past total", 1000, 10, 110, floor},
		{"no warm-up starts at base", 0, 0, 100, base},
		{"negative step is step 0", -5, 10, 110, base / 10},
		{"total inside warm-up", 3, 10, 5, base * 4 / 10},
		{"after short total", 10, 10, 5, floor},
	}
	for _, c := range cases {
		got := WarmupCosine(c.step, c.warmup, c.total, base, floor)
		if math.Abs(float64(got)-c.want) > 1e-6*c.want {
			t.Errorf("%s: WarmupCosine(%d, %d, %d) = %g, want %g", c.name, c.step, c.warmup, c.total, got, c.want)
		}
	}
}

func TestWarmupCosineMonotone(t *testing.T) {
	prev := float32(0)
	for s := 0; s < 20; s++ {
		lr := WarmupCosine(s, 20, 200, 1, 0.1)
		if lr <= prev {
			t.Fatalf("warm-up not increasing at step %d: %g after %g", s, lr, prev)
		}
		prev = lr
	}
	for s := 20; s < 210; s++ {
		lr := WarmupCosine(s, 20, 200, 1, 0.1)
		if lr > prev || lr < 0.1 {
			t.Fatalf("decay not monotone within [min, base] at step %d: %g after %g", s, lr, prev)
		}
		prev = lr
	}
}
