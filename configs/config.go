// Package configs is the TOML schema of the whole vqgen pipeline: data, the
// VQ-VAE (stage one), the autoregressive prior (stage two), sampling, editing
// and the end-to-end run. The stage packages take these plain structs; this
// package imports nothing else of vqgen's.
//
// A configuration file only needs the keys it changes: Parse starts from
// Default (which equals the shipped configs/mnist.toml, a test keeps them
// together) and overwrites what the file sets. Unknown keys, values of the
// wrong type and values out of range are errors that name the file and the
// key, so a typo never silently falls back to a default.
//
// A few derived quantities follow from the keys: the VQ-VAE maps an
// image_size x image_size image to a grid of G x G codes with
// G = image_size / downsample (28 / 4 = 7 for MNIST), each code one of k
// codebook vectors of dimension d; the prior models the G*G codes of a grid
// in raster order.
package configs

import (
	"bytes"
	"embed"
	"fmt"
	"os"
	"strings"

	"github.com/BurntSushi/toml"
)

// Config is the resolved configuration of a pipeline run.
type Config struct {
	// Seed drives every random choice of training (initialisation, batch
	// order, codebook restarts) so a run can be repeated bit for bit.
	Seed   uint64 `toml:"seed"`
	Data   Data   `toml:"data"`
	VQVAE  VQVAE  `toml:"vqvae"`
	Prior  Prior  `toml:"prior"`
	Sample Sample `toml:"sample"`
	Edit   Edit   `toml:"edit"`
	Run    Run    `toml:"run"`
}

// Data names the image sets and their geometry.
type Data struct {
	// Train and Test are dataset specs such as "mnist:train" or a path that
	// package datasets understands. "" leaves them to the command that
	// runs the config (vqgen run --data DIR --test DIR2), as the photo
	// presets do; a training cannot start until both are named.
	Train string `toml:"train"`
	Test  string `toml:"test"`
	// ValCount images are carved from the end of the training split and held
	// out for validation.
	ValCount int `toml:"val_count"`
	// TrainLimit and TestLimit keep only the first N images of each split
	// (0 = all); they make quick runs and tests cheap.
	TrainLimit int `toml:"train_limit"`
	TestLimit  int `toml:"test_limit"`
	ImageSize  int `toml:"image_size"`
	Channels   int `toml:"channels"`
	// Labels says where class labels come from: "folders" (an image
	// folder's subfolders are its classes; MNIST and IDX keep their label
	// files) or "none" (no labels from any source: photos filed in folders
	// by date or place are not classes).
	Labels string `toml:"labels"`
	// Flip mirrors each training image left to right with probability one
	// half, drawn anew every epoch from the seed (so a resumed run draws the
	// same flips). Validation and test images are never flipped.
	Flip bool `toml:"flip"`
}

// VQVAE is the stage-one model: a strided conv encoder, a codebook of K
// vectors of dimension D, and a mirrored decoder.
type VQVAE struct {
	Hidden    int `toml:"hidden"`     // channels of the encoder/decoder trunk
	ResHidden int `toml:"res_hidden"` // bottleneck channels inside a residual block
	ResBlocks int `toml:"res_blocks"` // residual blocks after the strided convs (and before the decoder's)
	// Downsample is the total stride of the encoder (2, 4 or 8): one stride-2
	// conv per factor of two.
	Downsample int `toml:"downsample"`
	K          int `toml:"k"` // codebook size
	D          int `toml:"d"` // code vector dimension
	// Beta weighs the commitment loss ||z_e - sg(e)||^2.
	Beta float64 `toml:"beta"`
	// Codebook is "ema" (exponential moving averages of assigned encoder
	// outputs, no codebook gradient) or "gradient" (codebook loss
	// ||sg(z_e) - e||^2 trained by the optimizer).
	Codebook string  `toml:"codebook"`
	EMADecay float64 `toml:"ema_decay"`
	EMAEps   float64 `toml:"ema_eps"` // Laplace smoothing of the EMA cluster sizes
	// DataInit initialises the codebook by k-means over the encoder outputs
	// of the first InitBatches batches, run for InitKMeansIters iterations.
	DataInit        bool `toml:"data_init"`
	InitBatches     int  `toml:"init_batches"`
	InitKMeansIters int  `toml:"init_kmeans_iters"`
	// RestartDead moves a code unused for DeadAfter steps onto a random
	// recent encoder output.
	RestartDead bool    `toml:"restart_dead"`
	DeadAfter   int     `toml:"dead_after"`
	Train       VQTrain `toml:"train"`
}

// VQTrain is the VQ-VAE's optimisation schedule (Adam, linear warmup then
// cosine decay from LR to LRMin).
type VQTrain struct {
	Steps    int     `toml:"steps"`
	Batch    int     `toml:"batch"`
	LR       float64 `toml:"lr"`
	Warmup   int     `toml:"warmup"`
	LRMin    float64 `toml:"lr_min"`
	GradClip float64 `toml:"grad_clip"` // global gradient-norm clip; 0 = off
	// EvalEvery steps the model is scored on the first EvalImages validation
	// images (0 = only at the end).
	EvalEvery       int `toml:"eval_every"`
	EvalImages      int `toml:"eval_images"`
	CheckpointEvery int `toml:"checkpoint_every"` // 0 = only at the end
	LogEvery        int `toml:"log_every"`
}

// Prior is the stage-two autoregressive model over code grids.
type Prior struct {
	Arch string `toml:"arch"` // "pixelcnn" or "transformer"
	// Conditional feeds the class label to the prior so samples can be
	// drawn per class: true, false, or "auto" (conditional exactly when the
	// training data has labels). true on unlabelled data is refused before
	// any training starts (CheckData).
	Conditional Switch `toml:"conditional"`
	// ValCount code grids are held out from the training codes.
	ValCount    int         `toml:"val_count"`
	PixelCNN    PixelCNN    `toml:"pixelcnn"`
	Transformer Transformer `toml:"transformer"`
	Train       PriorTrain  `toml:"train"`
}

// PixelCNN is a gated PixelCNN (van den Oord et al. 2016) with vertical and
// horizontal stacks, so its receptive field has no blind spot.
type PixelCNN struct {
	Layers     int `toml:"layers"`
	Channels   int `toml:"channels"`
	Kernel     int `toml:"kernel"`      // odd; the masked kernel is Kernel x Kernel
	Embed      int `toml:"embed"`       // embedding dimension of the input codes
	HeadHidden int `toml:"head_hidden"` // width of the 1x1 output head before the K logits
}

// Transformer is a decoder-only causal Transformer over the raster-ordered
// codes (pre-norm blocks, learned position embeddings).
type Transformer struct {
	Layers  int `toml:"layers"`
	Dim     int `toml:"dim"`
	Heads   int `toml:"heads"`
	MLPMult int `toml:"mlp_mult"` // MLP hidden width = MLPMult * Dim
}

// PriorTrain is the prior's optimisation schedule (AdamW, linear warmup then
// cosine decay from LR to LRMin).
type PriorTrain struct {
	Steps           int     `toml:"steps"`
	Batch           int     `toml:"batch"`
	LR              float64 `toml:"lr"`
	Warmup          int     `toml:"warmup"`
	LRMin           float64 `toml:"lr_min"`
	WeightDecay     float64 `toml:"weight_decay"` // decoupled (AdamW); 0 = plain Adam
	GradClip        float64 `toml:"grad_clip"`    // 0 = off
	EvalEvery       int     `toml:"eval_every"`   // 0 = only at the end
	CheckpointEvery int     `toml:"checkpoint_every"`
	LogEvery        int     `toml:"log_every"`
	// ClassDropout is the probability that a training grid's class is
	// replaced by the null class of a conditional prior, so that the
	// model also learns p(x) for classifier-free guidance; in [0, 1).
	ClassDropout float64 `toml:"class_dropout"`
}

// Sample controls drawing new code grids from the prior.
type Sample struct {
	N           int     `toml:"n"`
	Temperature float64 `toml:"temperature"`
	TopK        int     `toml:"top_k"` // keep the K most likely codes; 0 = off
	TopP        float64 `toml:"top_p"` // nucleus sampling mass; 1 = off
	Seed        uint64  `toml:"seed"`
	// Guidance is the classifier-free guidance weight w of a conditional
	// prior (see package sampler): 1 = off, > 1 pushes samples towards
	// their class. Ignored by an unconditional prior in `vqgen run`.
	Guidance float64 `toml:"guidance"`
}

// Edit controls redrawing a region of existing images.
type Edit struct {
	// Method "raster" resamples the masked codes once in raster order, each
	// conditioned on what precedes it; "gibbs" then resweeps them Sweeps times
	// so they also agree with the kept codes after them.
	Method string `toml:"method"`
	Sweeps int    `toml:"sweeps"`
	N      int    `toml:"n"` // variants drawn per edited image
}

// Run controls the end-to-end `vqgen run` pipeline's reports.
type Run struct {
	EvalSamples int `toml:"eval_samples"` // samples scored at the end; 0 = skip
	PerClass    int `toml:"per_class"`    // samples per class in the class grid
}

// GridSize is the side of the code grid, image_size / downsample.
func (c *Config) GridSize() int { return c.Data.ImageSize / c.VQVAE.Downsample }

// SeqLen is the number of codes per image, the prior's sequence length.
func (c *Config) SeqLen() int { g := c.GridSize(); return g * g }

// Default returns the built-in defaults: a VQ-VAE and a PixelCNN prior on
// MNIST. configs/mnist.toml spells out the same values.
func Default() *Config {
	return &Config{
		Seed: 1,
		Data: Data{
			Train:     "mnist:train",
			Test:      "mnist:test",
			ValCount:  5000,
			ImageSize: 28,
			Channels:  1,
			Labels:    "folders",
		},
		VQVAE: VQVAE{
			Hidden:          128,
			ResHidden:       32,
			ResBlocks:       2,
			Downsample:      4,
			K:               512,
			D:               64,
			Beta:            0.25,
			Codebook:        "ema",
			EMADecay:        0.99,
			EMAEps:          1e-5,
			DataInit:        true,
			InitBatches:     4,
			InitKMeansIters: 10,
			RestartDead:     true,
			DeadAfter:       50,
			Train: VQTrain{
				Steps:           1800,
				Batch:           128,
				LR:              5e-4,
				Warmup:          0,
				LRMin:           5e-5,
				GradClip:        0,
				EvalEvery:       250,
				EvalImages:      1000,
				CheckpointEvery: 250,
				LogEvery:        25,
			},
		},
		Prior: Prior{
			Arch:        "transformer",
			Conditional: SwitchOn,
			ValCount:    5000,
			PixelCNN: PixelCNN{
				Layers:     15,
				Channels:   64,
				Kernel:     3,
				Embed:      64,
				HeadHidden: 256,
			},
			Transformer: Transformer{
				Layers:  4,
				Dim:     128,
				Heads:   4,
				MLPMult: 4,
			},
			Train: PriorTrain{
				Steps:           1000,
				Batch:           128,
				LR:              1e-3,
				Warmup:          100,
				LRMin:           1e-4,
				WeightDecay:     0.01,
				GradClip:        1.0,
				EvalEvery:       200,
				CheckpointEvery: 200,
				LogEvery:        25,
				ClassDropout:    0.1,
			},
		},
		Sample: Sample{N: 64, Temperature: 0.9, TopK: 0, TopP: 0.9, Seed: 1, Guidance: 1.5},
		Edit:   Edit{Method: "gibbs", Sweeps: 4, N: 8},
		Run:    Run{EvalSamples: 1000, PerClass: 10},
	}
}

// Load reads and validates the configuration file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, path)
}

//go:embed mnist.toml tiny.toml photos32.toml photos64.toml
var builtin embed.FS

// BuiltinNames lists the configurations shipped inside the binary.
func BuiltinNames() []string { return []string{"mnist", "tiny", "photos32", "photos64"} }

// Builtin returns a shipped configuration by name ("mnist", "tiny",
// "photos32", "photos64"), so the CLI works without the source tree.
func Builtin(name string) (*Config, error) {
	data, err := builtin.ReadFile(name + ".toml")
	if err != nil {
		return nil, fmt.Errorf("config: no built-in configuration %q (have %v)", name, BuiltinNames())
	}
	return Parse(data, "configs/"+name+".toml")
}

// Parse decodes a TOML document over the defaults and validates the result.
// name labels errors (usually the file's path).
func Parse(data []byte, name string) (*Config, error) {
	// Syntax first, into a generic tree, so type errors below can be
	// reported against the value the user actually wrote.
	var tree map[string]any
	if _, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&tree); err != nil {
		return nil, syntaxError(name, err)
	}
	if probs := checkTree(tree, ""); len(probs) > 0 {
		return nil, &Error{Source: name, Problems: probs}
	}
	c := Default()
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(c)
	if err != nil {
		// checkTree mirrors every rule of the decoder that can fire here, so
		// this is a safety net rather than the usual path.
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		var probs []Problem
		for _, k := range und {
			probs = append(probs, unknownKey(k.String()))
		}
		return nil, &Error{Source: name, Problems: probs}
	}
	if err := c.validate(name); err != nil {
		return nil, err
	}
	return c, nil
}

func syntaxError(name string, err error) error {
	if pe, ok := err.(toml.ParseError); ok {
		if pe.Position.Col > 0 {
			return fmt.Errorf("%s:%d:%d: %s", name, pe.Position.Line, pe.Position.Col, pe.Message)
		}
		return fmt.Errorf("%s:%d: %s", name, pe.Position.Line, pe.Message)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// Encode writes the configuration as TOML; Parse of the result gives back an
// equal Config. Training runs save it as DIR/config.toml so a run records
// exactly what it was trained with.
func (c *Config) Encode() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("# vqgen configuration, every key resolved (see configs/mnist.toml for what each means)\n\n")
	enc := toml.NewEncoder(&buf)
	enc.Indent = ""
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("config: encode: %w", err)
	}
	// The encoder runs sub-tables into their parent; a blank line before
	// every header keeps the saved file as readable as the shipped ones.
	// (Encoded strings escape newlines, so a line starting with '[' is
	// always a header.)
	lines := strings.Split(buf.String(), "\n")
	out := make([]string, 0, len(lines)+8)
	for i, l := range lines {
		if strings.HasPrefix(l, "[") && i > 0 && lines[i-1] != "" {
			out = append(out, "")
		}
		out = append(out, l)
	}
	return []byte(strings.Join(out, "\n")), nil
}
