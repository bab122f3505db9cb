package app

import (
	"fmt"
	"strings"
	"sync"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/nn"
	vqvae "github.com/vqgen/vqgen/stage1_vqvae"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

// Images in this package are CHW float32 slices with values in [0, 1], one
// slice per image, all of one Shape; code grids are int32 code indices in
// raster order, GridH*GridW per image and several images back to back.

// decodeBatch bounds the decoder's activations: 250 MNIST images through a
// 128-channel decoder take about 100 MB.
const decodeBatch = 250

// encodeBatch is the number of images per encoder pass.
const encodeBatch = 500

// Shape is the geometry of a VQ-VAE's images and code grids.
type Shape struct {
	Channels int `json:"channels"`   // 1 (grey) or 3 (RGB)
	Size     int `json:"image_size"` // images are Size x Size pixels
	GridH    int `json:"grid_h"`
	GridW    int `json:"grid_w"`
	K        int `json:"k"` // codebook size: codes are 0..K-1
}

// Cells is the number of codes per image.
func (s Shape) Cells() int { return s.GridH * s.GridW }

// ImageLen is the number of floats per image.
func (s Shape) ImageLen() int { return s.Channels * s.Size * s.Size }

// VQVAE is a loaded stage-one model: it turns images into code grids and
// back. It is safe for concurrent use; calls run one at a time.
type VQVAE struct {
	Path string
	mu   sync.Mutex
	m    *vqvae.Model
	cfg  *configs.Config
}

// LoadVQVAE reads a VQ-VAE checkpoint (vqvae.safetensors).
func LoadVQVAE(path string) (*VQVAE, error) {
	if path == "" {
		return nil, optionErr("vqvae", `"": give the VQ-VAE checkpoint (vqvae.safetensors)`)
	}
	m, cfg, err := vqvae.Load(path)
	if err != nil {
		return nil, err
	}
	return &VQVAE{Path: path, m: m, cfg: cfg}, nil
}

// Shape returns the model's image and grid geometry.
func (v *VQVAE) Shape() Shape {
	gh, gw := v.m.GridSize()
	return Shape{Channels: v.m.Image.Channels, Size: v.m.Image.ImageSize, GridH: gh, GridW: gw, K: v.m.Cfg.K}
}

// Config is the configuration the model was trained with (stored in its
// checkpoint).
func (v *VQVAE) Config() *configs.Config { return v.cfg }

// Fingerprint identifies the model's weights; code files and priors record
// it so they are never used with another VQ-VAE.
func (v *VQVAE) Fingerprint() string { return v.m.FingerprintHex() }

// LoadData loads images at the model's size and channels. spec is a dataset
// spec (mnist:test, images:DIR:train, ...), or "train" or "test" for the
// split named in the model's own config ([data] train or test, with
// train_limit or test_limit applied). limit > 0 keeps the first limit
// images.
//
// Labels follow the model's own config (data.labels), so a VQ-VAE trained
// on photos with labels = "none" encodes a folder of dated subfolders as
// unlabelled images, as it saw them in training.
func (v *VQVAE) LoadData(spec string, limit int) (*datasets.Dataset, error) {
	return v.loadData(spec, limit, vqvae.DataOptions{})
}

func (v *VQVAE) loadData(spec string, limit int, do vqvae.DataOptions) (*datasets.Dataset, error) {
	var ds *datasets.Dataset
	var err error
	switch spec {
	case "train":
		ds, err = vqvae.LoadTrain(v.cfg, do)
	case "test":
		ds, err = vqvae.LoadTest(v.cfg, do)
	case "":
		return nil, optionErr("data", `"": give a dataset spec (%s), or train or test for the VQ-VAE's own splits`, datasets.SpecForms)
	default:
		ds, err = datasets.Load(spec, datasets.Options{Size: v.m.Image.ImageSize, Channels: v.m.Image.Channels, Labels: v.cfg.Data.Labels})
	}
	if err != nil {
		return nil, err
	}
	if limit < 0 {
		return nil, optionErr("limit", "%d: want >= 0 (0 keeps every image)", limit)
	}
	if limit > 0 && limit < ds.N {
		ds = ds.Slice(0, limit)
	}
	return ds, nil
}

// loadVQVAEData loads a VQ-VAE and images at its size (LoadData).
func loadVQVAEData(path, spec string, limit int) (*VQVAE, *datasets.Dataset, error) {
	v, err := LoadVQVAE(path)
	if err != nil {
		return nil, nil, err
	}
	ds, err := v.LoadData(spec, limit)
	return v, ds, err
}

// Encode returns the code grids of images (len(images)*Cells codes).
func (v *VQVAE) Encode(images [][]float32) ([]int32, error) {
	s := v.Shape()
	for i, im := range images {
		if len(im) != s.ImageLen() {
			return nil, fmt.Errorf("image %d has %d values, the VQ-VAE wants %dx%dx%d = %d", i, len(im), s.Channels, s.Size, s.Size, s.ImageLen())
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	codes := make([]int32, len(images)*s.Cells())
	for lo := 0; lo < len(images); lo += encodeBatch {
		hi := min(lo+encodeBatch, len(images))
		x := nn.NewTensor(hi-lo, s.Channels, s.Size, s.Size)
		for i := lo; i < hi; i++ {
			copy(x.Data[(i-lo)*s.ImageLen():], images[i])
		}
		v.m.Encode(x, codes[lo*s.Cells():hi*s.Cells()])
	}
	return codes, nil
}

// Decode turns n code grids into n images.
func (v *VQVAE) Decode(codes []int32, n int) ([][]float32, error) {
	s := v.Shape()
	if len(codes) != n*s.Cells() {
		return nil, fmt.Errorf("decode: %d codes for %d grids of %dx%d", len(codes), n, s.GridH, s.GridW)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([][]float32, 0, n)
	for lo := 0; lo < n; lo += decodeBatch {
		hi := min(lo+decodeBatch, n)
		t, err := v.m.Decode(codes[lo*s.Cells():hi*s.Cells()], hi-lo)
		if err != nil {
			return nil, err
		}
		per := len(t.Data) / (hi - lo)
		for i := 0; i < hi-lo; i++ {
			out = append(out, append([]float32(nil), t.Data[i*per:(i+1)*per]...))
		}
	}
	return out, nil
}

// Models is a VQ-VAE and a prior trained on its codes, loaded once to serve
// many sample, edit and score calls. It is safe for concurrent use; calls
// run one at a time.
type Models struct {
	VQVAE     *VQVAE
	PriorPath string

	mu sync.Mutex // serialises the prior's calls: its layers keep buffers
	ck *prior.Checkpoint
}

// LoadModels loads a VQ-VAE and a prior and checks that the prior was
// trained on that VQ-VAE's codes.
func LoadModels(vqvaePath, priorPath string) (*Models, error) {
	v, err := LoadVQVAE(vqvaePath)
	if err != nil {
		return nil, err
	}
	if priorPath == "" {
		return nil, optionErr("prior", `"": give the prior checkpoint (prior.safetensors)`)
	}
	ck, err := prior.Load(priorPath)
	if err != nil {
		return nil, err
	}
	if err := v.checkPrior(ck); err != nil {
		return nil, err
	}
	return &Models{VQVAE: v, PriorPath: priorPath, ck: ck}, nil
}

// checkPrior refuses a prior that was not trained on this VQ-VAE's codes.
func (v *VQVAE) checkPrior(ck *prior.Checkpoint) error {
	s := v.Shape()
	return ck.CheckMatches(v.Fingerprint(), s.K, s.GridH, s.GridW)
}

// PriorInfo describes a loaded prior.
type PriorInfo struct {
	Arch    string `json:"arch"`    // "pixelcnn" or "transformer"
	Classes int    `json:"classes"` // 0: unconditional
	Step    int    `json:"step"`    // training step of the checkpoint
}

// Prior describes the loaded prior.
func (m *Models) Prior() PriorInfo {
	info := m.ck.Prior.Info()
	return PriorInfo{Arch: info.Arch, Classes: info.Classes, Step: m.ck.Step}
}

// PriorConfig is the configuration the prior was trained with; its [sample]
// and [edit] sections are the defaults of SampleDefaults and EditDefaults.
func (m *Models) PriorConfig() *configs.Config { return m.ck.Config }

// checkClass validates a requested class (-1: none) against the prior.
func (m *Models) checkClass(option string, class int) error {
	classes := m.ck.Prior.Info().Classes
	switch {
	case class == -1:
		return nil
	case class < 0:
		return optionErr(option, "%d: want a class 0 to %d, or -1 for none", class, max(classes-1, 0))
	case classes == 0:
		return optionErr(option, "%d: the prior is unconditional (trained without labels), so it cannot draw a class", class)
	case class >= classes:
		return optionErr(option, "%d: the prior has classes 0 to %d", class, classes-1)
	}
	return nil
}

// describe names a list of things for messages: "a, b and c".
func describe(names []string) string {
	if len(names) <= 1 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
