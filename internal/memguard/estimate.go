package memguard

import (
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/datasets"
)

// Part is one term of an estimate: what it is, its bytes, and the config
// keys that drive it (what a user lowers to make it fit).
type Part struct {
	What  string
	Bytes int64
	Keys  []string
}

// Estimate is the memory one step of the work needs at its peak.
type Estimate struct {
	Task  string // "train the VQ-VAE"
	Parts []Part
}

// Total is the sum of the parts.
func (e *Estimate) Total() int64 {
	var s int64
	for _, p := range e.Parts {
		s += p.Bytes
	}
	return s
}

func (e *Estimate) add(what string, bytes int64, keys ...string) {
	if bytes > 0 {
		e.Parts = append(e.Parts, Part{what, bytes, keys})
	}
}

// Runtime is what a vqgen process holds besides the buffers an estimate
// counts: the binary (MNIST is embedded in it) and the Go runtime, which
// `vqgen version` shows at 12 MiB resident, and an allowance for the small
// buffers no term counts (pictures, code file chunks, progress, metrics).
const Runtime = 64 << 20

// Batch sizes the stages use besides the configured training batches.
const (
	vqvaeEvalBatch = 250 // stage1_vqvae Model.Evaluate from the trainer
	encodeBatch    = 500 // app's encoder passes
	// priorEvalCodes is stage2_prior's evalCodes: the trainer scores as
	// many grids at once as hold this many codes (prior.EvalBatch).
	priorEvalCodes = 256 * 7 * 7
)

// DatasetBytes is the memory a loaded split of n images of channels x size
// x size takes: 8-bit pixels (package datasets keeps decoded images as
// bytes) and an int32 label each.
func DatasetBytes(n, channels, size int) int64 {
	return int64(n) * (int64(channels*size*size) + 4)
}

// mnistImages is the size of the embedded MNIST splits.
var mnistImages = map[string]int{"train": 60000, "test": 10000}

// Images counts the images of a dataset spec without decoding them, and
// returns their side in pixels (an IDX file's own; 0 for an image folder,
// which is resized to the config's). ok is false when they cannot be
// counted; loading the data will then say why.
func Images(spec string) (n, side int, ok bool) {
	sp, err := datasets.ParseSpec(spec)
	if err != nil {
		return 0, 0, false
	}
	switch sp.Kind {
	case "mnist":
		return mnistImages[sp.Split], 28, true
	case "idx":
		return idxImages(sp.Dir, sp.Split)
	case "images":
		n := 0
		err := filepath.WalkDir(sp.Dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p != sp.Dir && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			switch strings.ToLower(filepath.Ext(d.Name())) {
			case ".png", ".jpg", ".jpeg":
				if rel, err := filepath.Rel(sp.Dir, p); err == nil && !d.IsDir() &&
					datasets.IsTestFile(filepath.ToSlash(rel)) == (sp.Split == "test") {
					n++
				}
			}
			return nil
		})
		return n, 0, err == nil && n > 0
	}
	return 0, 0, false
}

// idxImages reads the count and side from the header of DIR's IDX images
// file of split (gzipped or not): the first 16 bytes are enough.
func idxImages(dir, split string) (n, side int, ok bool) {
	prefix := map[string]string{"train": "train", "test": "t10k"}[split]
	matches, _ := filepath.Glob(filepath.Join(dir, prefix+"-images*"))
	for _, m := range matches {
		f, err := os.Open(m)
		if err != nil {
			continue
		}
		var r io.Reader = f
		if strings.HasSuffix(m, ".gz") {
			if r, err = gzip.NewReader(f); err != nil {
				f.Close()
				continue
			}
		}
		var h [16]byte
		_, err = io.ReadFull(r, h[:])
		f.Close()
		if err != nil || h[0] != 0 || h[1] != 0 || h[3] != 3 {
			continue
		}
		return int(binary.BigEndian.Uint32(h[4:])), int(binary.BigEndian.Uint32(h[8:])), true
	}
	return 0, 0, false
}

// trainingBytes is a network training at batch b and evaluated at batch
// eval: the parameters with their gradients and Adam's two moments, the
// activations, the workers' scratch and the chunk partials.
func (n *net) trainingBytes(b, eval int) (params, acts int64) {
	w := int64(runtime.GOMAXPROCS(0))
	params = 4 * (4*n.params + n.state)
	acts = 4 * (n.fwd*int64(max(b, eval)) + n.bwd*int64(b) + n.worker*w + n.partials(b))
	return params, acts
}

// inferenceBytes is a network run forward at batch b.
func (n *net) inferenceBytes(b int) int64 {
	return 4 * (n.params + n.state + n.fwd*int64(b) + n.worker*int64(runtime.GOMAXPROCS(0)))
}

var (
	dataKeys  = []string{"data.train", "data.image_size", "data.channels"}
	vqvaeKeys = []string{"vqvae.hidden", "vqvae.res_hidden", "vqvae.res_blocks", "vqvae.k", "vqvae.d"}
)

// splitSide is the side of a split's images in memory: an IDX file's own,
// the config's otherwise.
func splitSide(cfg *configs.Config, side int) int {
	if side > 0 {
		return side
	}
	return cfg.Data.ImageSize
}

// addData adds a dataset split (named by its config key) the way its
// loader holds it: a split is decoded whole and train_limit or test_limit
// then keeps a view of it, so the limits save no memory.
func (e *Estimate) addData(cfg *configs.Config, key, spec, note string) {
	n, side, ok := Images(spec)
	if !ok {
		return
	}
	keys := []string{key}
	if side == 0 { // an image folder, resized to the config's size
		keys = append(keys, "data.image_size", "data.channels")
	}
	e.add(fmt.Sprintf("%s images (%s: %d of %dx%dx%d%s)", strings.TrimPrefix(key, "data."), spec, n, cfg.Data.Channels, splitSide(cfg, side), splitSide(cfg, side), note),
		DatasetBytes(n, cfg.Data.Channels, splitSide(cfg, side)), keys...)
}

// TrainVQVAE estimates stage one: both splits loaded, the model training
// at vqvae.train.batch and scored at batches of 250.
func TrainVQVAE(cfg *configs.Config) Estimate {
	e := Estimate{Task: "train the VQ-VAE"}
	e.add("the program", Runtime)
	e.addData(cfg, "data.train", cfg.Data.Train, "")
	e.addData(cfg, "data.test", cfg.Data.Test, "")
	tc := cfg.VQVAE.Train
	eval := min(vqvaeEvalBatch, cfg.Data.ValCount) // validation images scored per batch
	if tc.EvalImages > 0 {
		eval = min(eval, tc.EvalImages)
	}
	params, acts := vqvaeNet(cfg.VQVAE, cfg.Data).trainingBytes(tc.Batch, eval)
	e.add("VQ-VAE parameters, gradients and Adam moments", params, vqvaeKeys...)
	e.add(fmt.Sprintf("VQ-VAE activations (training batch %d, scored in batches of %d)", tc.Batch, eval), acts,
		append([]string{"vqvae.train.batch", "data.image_size", "data.channels"}, vqvaeKeys...)...)
	return e
}

// Encode estimates encoding a split of the data (spec) with the config's
// VQ-VAE.
func Encode(cfg *configs.Config, spec string) Estimate {
	e := Estimate{Task: "encode " + spec}
	e.add("the program", Runtime)
	key := "data"
	switch spec {
	case cfg.Data.Train:
		key = "data.train"
	case cfg.Data.Test:
		key = "data.test"
	}
	e.addData(cfg, key, spec, "")
	e.add(fmt.Sprintf("VQ-VAE forward passes of %d images", encodeBatch), vqvaeNet(cfg.VQVAE, cfg.Data).inferenceBytes(encodeBatch),
		append([]string{"data.image_size", "data.channels"}, vqvaeKeys...)...)
	return e
}

// priorNet is the config's prior over grids of classes (0: unconditional).
func priorNet(cfg *configs.Config, classes int) (*net, []string) {
	g, k := cfg.GridSize(), cfg.VQVAE.K
	if !cfg.Prior.Conditional.On(true) { // "auto" counts as conditional: the larger
		classes = 0
	}
	if cfg.Prior.Arch == "pixelcnn" {
		return pixelCNNNet(cfg.Prior.PixelCNN, k, g, classes),
			[]string{"prior.pixelcnn.layers", "prior.pixelcnn.channels", "prior.pixelcnn.head_hidden", "vqvae.k"}
	}
	return transformerNet(cfg.Prior.Transformer, k, g, classes),
		[]string{"prior.transformer.layers", "prior.transformer.dim", "prior.transformer.mlp_mult", "prior.transformer.heads", "vqvae.k"}
}

// TrainPrior estimates stage two over n grids with the given number of
// classes: the codes, the prior training at prior.train.batch and scored
// in batches of priorEvalCodes codes.
func TrainPrior(cfg *configs.Config, grids, classes int) Estimate {
	e := Estimate{Task: "train the prior"}
	e.add("the program", Runtime)
	t := cfg.SeqLen()
	e.add(fmt.Sprintf("%d code grids of %d codes", grids, t), int64(grids)*int64(t+1)*4*2, "data.train", "data.image_size", "vqvae.downsample")
	n, keys := priorNet(cfg, classes)
	b := min(cfg.Prior.Train.Batch, max(1, grids-cfg.Prior.ValCount))
	eval := min(max(1, priorEvalCodes/t), cfg.Prior.ValCount)
	params, acts := n.trainingBytes(b, eval)
	e.add("prior parameters, gradients and Adam moments", params, keys...)
	e.add(fmt.Sprintf("prior activations (training batch %d, scored in batches of %d, grids of %d codes)", b, eval, t), acts,
		append([]string{"prior.train.batch", "prior.val_count", "data.image_size", "vqvae.downsample"}, keys...)...)
	return e
}

// Run estimates each step of `vqgen run` that allocates much: stage one,
// encoding the training split, stage two. The embedded MNIST splits stay
// decoded for the whole process once stage one has loaded them, so they
// count in the later steps too.
func Run(cfg *configs.Config) []Estimate {
	stage1 := TrainVQVAE(cfg)
	encode := Encode(cfg, cfg.Data.Train)
	n, _, _ := Images(cfg.Data.Train)
	if l := cfg.Data.TrainLimit; l > 0 && l < n {
		n = l
	}
	classes := 0
	if cfg.Prior.Conditional.On(true) {
		classes = 10 // MNIST's; for a folder a guess that costs a few rows
	}
	stage2 := TrainPrior(cfg, n, classes)
	for _, x := range []struct{ key, spec string }{{"data.train", cfg.Data.Train}, {"data.test", cfg.Data.Test}} {
		if !strings.HasPrefix(x.spec, "mnist:") {
			continue
		}
		const kept = ", kept decoded since stage one"
		if x.spec != cfg.Data.Train {
			encode.addData(cfg, x.key, x.spec, kept)
		}
		stage2.addData(cfg, x.key, x.spec, kept)
	}
	return []Estimate{stage1, encode, stage2}
}
