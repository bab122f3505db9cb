package evaluate

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"github.com/vqgen/vqgen/nn"
)

// FileFormat is the "format" metadata value of a classifier file; a file
// without it is refused, so a VQ-VAE or prior checkpoint passed by mistake
// gives a clear error instead of a shape mismatch.
const FileFormat = "vqgen-mnist-classifier-v1"

// CacheName is the classifier's file name under <cache>/vqgen.
const CacheName = "mnist-classifier-v1.safetensors"

// Save writes the parameters, the temperature, the reference statistics and
// Info to path as safetensors, atomically (temporary file + rename).
func (c *Classifier) Save(path string) error {
	if len(c.RefMean) != Features || len(c.RefCov) != Features*Features {
		return fmt.Errorf("%s: classifier has no reference feature statistics to save", path)
	}
	ts := nn.ParamTensors(c.params())
	ts = append(ts,
		nn.NamedTensor{Name: "temperature", Tensor: nn.FromData([]float32{c.Temperature}, 1)},
		nn.NamedTensor{Name: "ref.mean", Tensor: nn.FromData(to32(c.RefMean), Features)},
		nn.NamedTensor{Name: "ref.cov", Tensor: nn.FromData(to32(c.RefCov), Features, Features)},
	)
	meta := map[string]string{}
	for k, v := range c.Info {
		meta[k] = v
	}
	meta["format"] = FileFormat
	return nn.SaveSafetensors(path, ts, meta)
}

func to32(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

// Load reads a classifier written by Save.
func Load(path string) (*Classifier, error) {
	f, err := nn.LoadSafetensors(path)
	if err != nil {
		return nil, err
	}
	if got := f.Metadata["format"]; got != FileFormat {
		return nil, fmt.Errorf("%s: metadata format %q, want %q (not a vqgen MNIST classifier file)", path, got, FileFormat)
	}
	c := newClassifier(0)
	if err := f.AssignParams(c.params()); err != nil {
		return nil, err
	}
	for _, p := range c.params() {
		if i := nonFinite(p.Data.Data); i >= 0 {
			return nil, fmt.Errorf("%s: tensor %q has a non-finite value at index %d", path, p.Name, i)
		}
	}
	want := map[string][]int{"temperature": {1}, "ref.mean": {Features}, "ref.cov": {Features, Features}}
	got := map[string][]float32{}
	for _, name := range []string{"temperature", "ref.mean", "ref.cov"} {
		t, err := f.Tensor(name)
		if err != nil {
			return nil, err
		}
		if !t.SameShape(&nn.Tensor{Shape: want[name]}) {
			return nil, fmt.Errorf("%s: tensor %q has shape %v, want %v", path, name, t.Shape, want[name])
		}
		if i := nonFinite(t.Data); i >= 0 {
			return nil, fmt.Errorf("%s: tensor %q has a non-finite value at index %d", path, name, i)
		}
		got[name] = t.Data
	}
	if t := got["temperature"][0]; !(t > 0) {
		return nil, fmt.Errorf("%s: temperature %g, want > 0", path, t)
	}
	c.Temperature = got["temperature"][0]
	c.RefMean, c.RefCov = to64(got["ref.mean"]), to64(got["ref.cov"])
	c.Info = map[string]string{}
	for k, v := range f.Metadata {
		if k != "format" {
			c.Info[k] = v
		}
	}
	return c, nil
}

func to64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

func nonFinite(x []float32) int {
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return i
		}
	}
	return -1
}

// CachePath returns <cacheDir>/vqgen/mnist-classifier-v1.safetensors, with
// os.UserCacheDir when cacheDir is "".
func CachePath(cacheDir string) (string, error) {
	if cacheDir == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("no cache folder for the MNIST classifier (%v); set XDG_CACHE_HOME or HOME", err)
		}
		cacheDir = d
	}
	return filepath.Join(cacheDir, "vqgen", CacheName), nil
}

// Default returns the cached classifier, training it with
// DefaultTrainOptions (a few minutes) and saving it on first use. The cache
// folder is checked for writability before training, so a read-only cache
// fails at once rather than after the work. A damaged cache file is an
// error naming it (delete it to retrain), never silently replaced.
func Default(cacheDir string, progress func(step, total int)) (*Classifier, error) {
	path, err := CachePath(cacheDir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err == nil {
		c, err := Load(path)
		if err != nil {
			return nil, fmt.Errorf("cached MNIST classifier is unreadable (delete it to retrain): %w", err)
		}
		return c, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("the classifier cache folder %s is not usable: %w", filepath.Dir(path), err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create the classifier cache folder %s: %w", dir, err)
	}
	probe, err := os.CreateTemp(dir, ".write-test*")
	if err != nil {
		return nil, fmt.Errorf("the classifier cache folder %s is not writable (%w); pass a writable cache folder", dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	c, err := Train(DefaultTrainOptions(), progress)
	if err != nil {
		return nil, err
	}
	if err := c.Save(path); err != nil {
		return nil, fmt.Errorf("saving the trained MNIST classifier: %w", err)
	}
	return c, nil
}
