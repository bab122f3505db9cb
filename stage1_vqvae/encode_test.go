package vqvae

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/nn"
)

// TestEncodeDataset: the code file holds exactly the grids Model.Encode
// gives (batches that do not divide the dataset, labels or none), and an
// existing file is kept unless overwrite is set.
func TestEncodeDataset(t *testing.T) {
	cfg, err := configs.Load("../configs/tiny.toml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(cfg.VQVAE, cfg.Data, nn.NewRNG(3))
	if err != nil {
		t.Fatal(err)
	}
	full, err := datasets.MNIST("test")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		n      int
		labels bool
	}{{"labels", 1100, true}, {"no labels", 257, false}} {
		t.Run(tc.name, func(t *testing.T) {
			ds := full.Slice(0, tc.n)
			if !tc.labels {
				ds.Labels, ds.Classes = nil, 0
			}
			path := filepath.Join(t.TempDir(), "codes.vqc")
			var calls int
			if err := EncodeDataset(m, ds, path, false, 500, func(done, total int) { calls++ }); err != nil {
				t.Fatal(err)
			}
			if want := (tc.n + 499) / 500; calls != want {
				t.Errorf("%d progress calls, want %d", calls, want)
			}
			f, err := datasets.OpenCodeFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got, labels, err := f.LoadAll()
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			x, _ := ds.Batch(seq(tc.n), nil, nil)
			gh, gw := m.GridSize()
			want := make([]int32, tc.n*gh*gw)
			m.Encode(x, want)
			if len(got) != len(want) {
				t.Fatalf("%d codes in the file, want %d", len(got), len(want))
			}
			for i := range want {
				if int32(got[i]) != want[i] {
					t.Fatalf("code %d = %d, Encode gives %d", i, got[i], want[i])
				}
			}
			if tc.labels && !slices.Equal(labels, ds.Labels) {
				t.Errorf("labels differ from the dataset's")
			}
			if !tc.labels && labels != nil {
				t.Errorf("labels %v in a file of an unlabelled dataset", labels[:min(3, len(labels))])
			}
			err = EncodeDataset(m, ds, path, false, 500, nil)
			if err == nil || !strings.Contains(err.Error(), "codes.vqc") {
				t.Errorf("second encode without overwrite: %v, want a refusal naming the file", err)
			}
		})
	}
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// Images with keys (an image folder's relative paths) keep them in the
// code file, in order.
func TestEncodeDatasetKeys(t *testing.T) {
	cfg := tinyConfig(t)
	m, err := New(cfg.VQVAE, cfg.Data, nn.NewRNG(5))
	if err != nil {
		t.Fatal(err)
	}
	full, err := datasets.Load("mnist:test", datasets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ds := full.Slice(0, 130)
	ds.Keys = make([]string, ds.N)
	for i := range ds.Keys {
		ds.Keys[i] = fmt.Sprintf("digits/%04d.png", i)
	}
	path := filepath.Join(t.TempDir(), "keyed.vqc")
	if err := EncodeDataset(m, ds, path, false, 50, nil); err != nil {
		t.Fatal(err)
	}
	f, err := datasets.OpenCodeFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys, err := f.Keys()
	if err != nil || !slices.Equal(keys, ds.Keys) || !f.Header().Keys {
		t.Fatalf("keys %v..., %v", keys[:min(2, len(keys))], err)
	}
}
