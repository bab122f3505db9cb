package evaluate

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/nn"
)

// tinyOptions train for a couple of seconds: enough to beat chance clearly.
func tinyOptions() TrainOptions {
	return TrainOptions{Seed: 7, Steps: 40, BatchSize: 32, LR: 3e-3, HoldOut: 300, TrainImages: 3000, RefImages: 300}
}

var (
	tinyOnce sync.Once
	tinyClf  *Classifier
	tinyErr  error
)

func tiny(t *testing.T) *Classifier {
	t.Helper()
	tinyOnce.Do(func() { tinyClf, tinyErr = Train(tinyOptions(), nil) })
	if tinyErr != nil {
		t.Fatal(tinyErr)
	}
	return tinyClf
}

func TestTrainLearns(t *testing.T) {
	c := tiny(t)
	cal, err := c.CalibrationReport()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("tiny budget: accuracy %.3f, ECE %.3f (T=1: %.3f), T=%.3f, reference %+v", cal.Accuracy, cal.ECE, cal.ECEUncalibrated, cal.Temperature, cal.Reference)
	if cal.N != CalibrationImages {
		t.Errorf("calibration on %d digits, want %d", cal.N, CalibrationImages)
	}
	// Chance is 0.1; 40 steps of 32 already give well over half.
	if cal.Accuracy < 0.5 {
		t.Errorf("accuracy %.3f after the tiny budget, want > 0.5", cal.Accuracy)
	}
	if !(cal.Temperature > 0.05 && cal.Temperature < 20) {
		t.Errorf("temperature %g outside the search range", cal.Temperature)
	}
	// Temperature scaling minimises held-out NLL; on test digits its ECE
	// should not be far worse than at T = 1.
	if cal.ECE > cal.ECEUncalibrated+0.05 {
		t.Errorf("ECE after temperature scaling %.3f, at T=1 %.3f", cal.ECE, cal.ECEUncalibrated)
	}
	ref := cal.Reference
	if ref.N != 1000 || math.IsNaN(ref.CondAccuracy) || ref.CondAccuracy < 0.5 || ref.ClassEntropyBits < 3 || ref.Frechet < 0 {
		t.Errorf("reference metrics %+v: want 1000 digits, accuracy > 0.5, entropy > 3 bits", ref)
	}
	for _, k := range []string{"test_accuracy", "test_ece", "temperature", "train_seconds"} {
		if c.Info[k] == "" {
			t.Errorf("Info lacks %q: %v", k, c.Info)
		}
	}
}

func TestTrainDeterministic(t *testing.T) {
	o := tinyOptions()
	o.Steps = 3
	a, err := Train(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	steps := 0
	b, err := Train(o, func(step, total int) {
		steps++
		if step != steps || total != 3 {
			t.Errorf("progress(%d, %d), want (%d, 3)", step, total, steps)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if steps != 3 {
		t.Errorf("progress called %d times, want 3", steps)
	}
	pa, pb := a.params(), b.params()
	for i := range pa {
		for j, v := range pa[i].Data.Data {
			if math.Float32bits(v) != math.Float32bits(pb[i].Data.Data[j]) {
				t.Fatalf("%s[%d]: %g vs %g with the same seed", pa[i].Name, j, v, pb[i].Data.Data[j])
			}
		}
	}
	if a.Temperature != b.Temperature {
		t.Errorf("temperatures %g and %g", a.Temperature, b.Temperature)
	}
}

func TestTrainOptionErrors(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*TrainOptions)
		want string
	}{
		{"steps", func(o *TrainOptions) { o.Steps = -1 }, "steps -1"},
		{"lr", func(o *TrainOptions) { o.LR = float32(math.NaN()) }, "learning rate"},
		{"hold-out", func(o *TrainOptions) { o.HoldOut = 50 }, "hold-out 50"},
		{"ref", func(o *TrainOptions) { o.RefImages = 20000 }, "reference images 20000"},
		{"shift", func(o *TrainOptions) { o.MaxShift = 9 }, "max shift 9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tinyOptions()
			tc.mod(&o)
			_, err := Train(o, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestPredict(t *testing.T) {
	c := tiny(t)
	test, err := datasets.MNIST("test")
	if err != nil {
		t.Fatal(err)
	}
	// 300 images cross the 256-image batch boundary.
	ims := images(test, 0, 300)
	probs, feats, err := c.Predict(ims)
	if err != nil {
		t.Fatal(err)
	}
	if len(probs) != 300 || len(feats) != 300 || len(feats[0]) != Features {
		t.Fatalf("got %d probs, %d features of %d", len(probs), len(feats), len(feats[0]))
	}
	for i, p := range probs {
		var s float64
		for _, v := range p {
			s += float64(v)
		}
		if math.Abs(s-1) > 1e-5 {
			t.Fatalf("image %d: probabilities sum to %g", i, s)
		}
	}
	first := make([]int, 300)
	for i := range first {
		first[i] = i
	}
	x, _ := test.Batch(first, nil, nil)
	tp, tf, err := c.PredictTensor(x)
	if err != nil {
		t.Fatal(err)
	}
	// A lone image must give the same answer as inside a batch.
	one, _, err := c.Predict(ims[299:])
	if err != nil {
		t.Fatal(err)
	}
	for i := range probs {
		if tp[i] != probs[i] || tf[i][5] != feats[i][5] {
			t.Fatalf("image %d: PredictTensor differs from Predict", i)
		}
	}
	if one[0] != probs[299] {
		t.Errorf("image 299 alone: %v, in a batch: %v", one[0], probs[299])
	}
	if _, _, err := c.Predict([][]float32{make([]float32, 100)}); err == nil || !strings.Contains(err.Error(), "100 values") {
		t.Errorf("short image: error %v", err)
	}
	if _, _, err := c.PredictTensor(nn.NewTensor(2, 3, 28, 28)); err == nil {
		t.Error("3-channel tensor gave no error")
	}
}

func TestReportErrors(t *testing.T) {
	c := tiny(t)
	ims := [][]float32{make([]float32, imageLen), make([]float32, imageLen)}
	tests := []struct {
		name   string
		ims    [][]float32
		labels []int32
		want   string
	}{
		{"one image", ims[:1], nil, "at least 2"},
		{"label count", ims, []int32{1}, "1 labels for 2 images"},
		{"label range", ims, []int32{1, 10}, "label 10"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Report(c, tc.ims, tc.labels)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	m, err := Report(c, ims, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(m.CondAccuracy) || m.N != 2 {
		t.Errorf("unlabelled report %+v: want N 2 and NaN cond_accuracy", m)
	}
}

func TestReportSeparatesRealFromNoise(t *testing.T) {
	c := tiny(t)
	test, err := datasets.MNIST("test")
	if err != nil {
		t.Fatal(err)
	}
	real := images(test, 1000, 1300)
	rng := nn.NewRNG(3)
	noise := make([][]float32, 300)
	for i := range noise {
		noise[i] = make([]float32, imageLen)
		rng.Uniform(noise[i], 0, 1)
	}
	mr, err := Report(c, real, test.Labels[1000:1300])
	if err != nil {
		t.Fatal(err)
	}
	mn, err := Report(c, noise, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("real %+v\nnoise %+v", mr, mn)
	if mn.Frechet < 3*mr.Frechet {
		t.Errorf("noise frechet %g, real %g: want noise far worse", mn.Frechet, mr.Frechet)
	}
	if mr.ClassEntropyBits < 3 {
		t.Errorf("real digits give class entropy %g bits, want > 3", mr.ClassEntropyBits)
	}
}

func TestShiftBatch(t *testing.T) {
	test, err := datasets.MNIST("test")
	if err != nil {
		t.Fatal(err)
	}
	idx := []int{0, 1, 2, 3, 4, 5, 6, 7}
	x := shiftBatch(test, idx, nil, 2, nn.NewRNG(1))
	moved := 0
	for j, i := range idx {
		src, dst := test.Image(i), x.Data[j*imageLen:(j+1)*imageLen]
		found := false
		for dy := -2; dy <= 2 && !found; dy++ {
			for dx := -2; dx <= 2 && !found; dx++ {
				if shiftedEqual(src, dst, dy, dx) {
					found = true
					if dy != 0 || dx != 0 {
						moved++
					}
				}
			}
		}
		if !found {
			t.Errorf("image %d is not a shift of its source by at most 2 pixels", i)
		}
	}
	if moved == 0 {
		t.Error("no image was shifted")
	}
}

func shiftedEqual(src, dst []float32, dy, dx int) bool {
	for r := range ImageSize {
		for c := range ImageSize {
			sr, sc := r-dy, c-dx
			var want float32
			if sr >= 0 && sr < ImageSize && sc >= 0 && sc < ImageSize {
				want = src[sr*ImageSize+sc]
			}
			if dst[r*ImageSize+c] != want {
				return false
			}
		}
	}
	return true
}

func TestSaveLoad(t *testing.T) {
	c := tiny(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "clf.safetensors")
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	test, _ := datasets.MNIST("test")
	ims := images(test, 0, 50)
	p1, f1, _ := c.Predict(ims)
	p2, f2, _ := back.Predict(ims)
	for i := range p1 {
		if p1[i] != p2[i] || f1[i][0] != f2[i][0] {
			t.Fatalf("image %d: loaded classifier predicts differently", i)
		}
	}
	if back.Temperature != c.Temperature || back.Info["test_accuracy"] != c.Info["test_accuracy"] {
		t.Errorf("loaded T=%g info %v, saved T=%g info %v", back.Temperature, back.Info, c.Temperature, c.Info)
	}
	for i := range c.RefCov {
		if float32(back.RefCov[i]) != float32(c.RefCov[i]) {
			t.Fatalf("ref.cov[%d] = %g, saved %g", i, back.RefCov[i], c.RefCov[i])
		}
	}

	good, _ := os.ReadFile(path)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	badTemp := filepath.Join(dir, "badtemp.safetensors")
	ts := nn.ParamTensors(c.params())
	ts = append(ts,
		nn.NamedTensor{Name: "temperature", Tensor: nn.FromData([]float32{-1}, 1)},
		nn.NamedTensor{Name: "ref.mean", Tensor: nn.FromData(to32(c.RefMean), Features)},
		nn.NamedTensor{Name: "ref.cov", Tensor: nn.FromData(to32(c.RefCov), Features, Features)})
	if err := nn.SaveSafetensors(badTemp, ts, map[string]string{"format": FileFormat}); err != nil {
		t.Fatal(err)
	}
	noRef := filepath.Join(dir, "noref.safetensors")
	if err := nn.SaveSafetensors(noRef, ts[:len(ts)-1], map[string]string{"format": FileFormat}); err != nil {
		t.Fatal(err)
	}
	otherModel := filepath.Join(dir, "other.safetensors")
	if err := nn.SaveParams(otherModel, c.params(), nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
	}{
		{"truncated", write("trunc.safetensors", good[:len(good)-100]), "trunc.safetensors"},
		{"garbage", write("garbage.safetensors", []byte("not a safetensors file at all")), "garbage.safetensors"},
		{"missing", filepath.Join(dir, "absent.safetensors"), "absent.safetensors"},
		{"other model", otherModel, "not a vqgen MNIST classifier"},
		{"bad temperature", badTemp, "temperature -1"},
		{"no reference", noRef, `"ref.cov"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestDefault(t *testing.T) {
	c := tiny(t)
	cache := t.TempDir()
	path, err := CachePath(cache)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	// A cached file is loaded, not retrained: progress is never called.
	got, err := Default(cache, func(int, int) { t.Error("Default trained despite a cached classifier") })
	if err != nil {
		t.Fatal(err)
	}
	if got.Temperature != c.Temperature {
		t.Errorf("cached T=%g, saved %g", got.Temperature, c.Temperature)
	}

	if err := os.WriteFile(path, []byte("damaged"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Default(cache, nil); err == nil || !strings.Contains(err.Error(), "delete it") || !strings.Contains(err.Error(), path) {
		t.Errorf("damaged cache: error %v, want one naming %s and suggesting deletion", err, path)
	}

	// A file where the vqgen folder should be makes the cache unusable
	// (chmod would not do: tests may run as root).
	blocked := t.TempDir()
	if err := os.WriteFile(filepath.Join(blocked, "vqgen"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Default(blocked, func(int, int) { t.Fatal("trained although the cache is unusable") }); err == nil || !strings.Contains(err.Error(), "cache folder") {
		t.Errorf("unusable cache: error %v, want one about the cache folder", err)
	}
}
