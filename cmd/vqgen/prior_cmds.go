package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/sampler"
	vqvae "github.com/vqgen/vqgen/stage1_vqvae"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

// priorResult is what a finished prior training reports to `vqgen run`.
type priorResult struct {
	Val            prior.NLL
	UnigramVal     float64
	GridsPerSecond float64
}

func init() {
	var f runDirFlags
	var codesPath, arch string
	var steps int
	cmd := &cobra.Command{
		Use:   "prior",
		Short: "Train the stage-two prior over a code file",
		Long: `Train an autoregressive prior over the code grids of --codes (written by
vqgen encode). --arch overrides prior.arch from the config: pixelcnn (a gated
PixelCNN) or transformer (a small causal Transformer).

The last prior.val_count grids of the file are held out for validation and
model selection (never the test codes). DIR/prior.safetensors is the best
prior on validation, the one the sampler uses; DIR/prior-last.safetensors
holds everything needed to resume. The validation NLL is reported in bits per
code and bits per image next to the unigram baseline (code frequencies
alone), which any prior must beat.`,
		Example: `  vqgen train prior --config configs/mnist.toml --codes runs/mnist/codes-train.vqc --arch pixelcnn --out runs/mnist/prior
  vqgen train prior --codes runs/mnist/codes-train.vqc --out runs/mnist/prior --resume`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := trainPrior(cmd, &f, codesPath, arch, steps)
			return err
		},
	}
	f.register(cmd, "runs/prior")
	cmd.Flags().StringVar(&codesPath, "codes", "", "training code file (codes-train.vqc)")
	cmd.Flags().StringVar(&arch, "arch", "", "pixelcnn or transformer (default: prior.arch from the config)")
	cmd.Flags().IntVar(&steps, "steps", 0, "training steps (default: prior.train.steps from the config)")
	cmd.MarkFlagRequired("codes")
	trainCmd.AddCommand(cmd)

	var ckpt, evalCodes string
	var asJSON bool
	ev := &cobra.Command{
		Use:   "prior",
		Short: "Measure a prior's negative log-likelihood on a code file",
		Long: `eval prior reports the NLL of every grid of --codes under the prior, in bits
per code and bits per image, next to the unigram baseline: the add-one-smoothed
code frequencies of the prior's own training codes (read from the training
code file recorded in the prior when it trained, else the one next to its run
folder, or --train-codes).`,
		Example: `  vqgen eval prior --prior runs/mnist/prior.safetensors --codes runs/mnist/codes-test.vqc --train-codes runs/mnist/codes-train.vqc --json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tc, _ := cmd.Flags().GetString("train-codes")
			r, err := evalPrior(ckpt, evalCodes, tc)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(r)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "prior\t%s (%s)\n", ckpt, r.Arch)
			fmt.Fprintf(tw, "codes\t%s (%d grids)\n", evalCodes, r.Grids)
			fmt.Fprintf(tw, "NLL\t%.4f bits/code, %.2f bits/image\n", r.BitsPerCode, r.BitsPerImage)
			fmt.Fprintf(tw, "unigram\t%.2f bits/image (prior is %.1f%% below)\n", r.UnigramBitsPerImage, 100*(1-r.BitsPerImage/r.UnigramBitsPerImage))
			return tw.Flush()
		},
	}
	ev.Flags().StringVar(&ckpt, "prior", "", "prior checkpoint (prior.safetensors)")
	ev.Flags().StringVar(&evalCodes, "codes", "", "code file to score (e.g. codes-test.vqc)")
	ev.Flags().String("train-codes", "", "the prior's training code file, for the unigram baseline (default: the one recorded in the prior, else DIR/codes-train.vqc for DIR/prior/prior.safetensors)")
	ev.Flags().BoolVar(&asJSON, "json", false, "print one JSON object: arch, bits_per_code, bits_per_image, unigram_bits_per_image")
	ev.MarkFlagRequired("prior")
	ev.MarkFlagRequired("codes")
	evalCmd.AddCommand(ev)

	var svq, sprior, simage, sdata string
	var sclass int
	score := &cobra.Command{
		Use:   "score",
		Short: "Print each image's NLL in bits under the VQ-VAE's codes and the prior",
		Long: `score encodes images with the VQ-VAE and prints -log2 p(codes) under the
prior for each: how typical an image is for the model (lower is more typical).
A conditional prior scores under the image's label (--data) or --class.`,
		Example: `  vqgen score --vqvae runs/mnist/vqvae.safetensors --prior runs/mnist/prior.safetensors --image digit.png --class 3
  vqgen score --vqvae runs/mnist/vqvae.safetensors --prior runs/mnist/prior.safetensors --data mnist:test`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, p, err := loadPair(svq, sprior)
			if err != nil {
				return err
			}
			var ds *datasets.Dataset
			switch {
			case simage != "" && sdata != "":
				return errors.New("give --image or --data, not both")
			case simage != "":
				px, err := datasets.ReadImage(simage, m.Image.ImageSize, m.Image.Channels)
				if err != nil {
					return err
				}
				ds = &datasets.Dataset{Name: simage, N: 1, C: m.Image.Channels, H: m.Image.ImageSize, W: m.Image.ImageSize, Pixels: px}
			case sdata != "":
				if ds, err = loadDataFor(m, sdata); err != nil {
					return err
				}
			default:
				return errors.New("give --image FILE or --data SPEC")
			}
			bits, err := scoreImages(m, p.Prior, ds, sclass)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "IMAGE\tNLL (bits)")
			for i, b := range bits {
				name := fmt.Sprint(i)
				if ds.N == 1 {
					name = ds.Name
				}
				fmt.Fprintf(tw, "%s\t%.1f\n", name, b)
			}
			return tw.Flush()
		},
	}
	score.Flags().StringVar(&svq, "vqvae", "", "VQ-VAE checkpoint")
	score.Flags().StringVar(&sprior, "prior", "", "prior checkpoint trained on that VQ-VAE's codes")
	score.Flags().StringVar(&simage, "image", "", "one image file (PNG/JPEG)")
	score.Flags().StringVar(&sdata, "data", "", "a dataset spec instead of --image")
	score.Flags().IntVar(&sclass, "class", -1, "class to score under, for a conditional prior without labels")
	score.MarkFlagRequired("vqvae")
	score.MarkFlagRequired("prior")
	rootCmd.AddCommand(score)
}

// loadPair loads a VQ-VAE and a prior and checks that they belong together.
func loadPair(vqPath, priorPath string) (*vqvae.Model, *prior.Checkpoint, error) {
	m, _, err := vqvae.Load(vqPath)
	if err != nil {
		return nil, nil, err
	}
	p, err := prior.Load(priorPath)
	if err != nil {
		return nil, nil, err
	}
	gh, gw := m.GridSize()
	if err := p.CheckMatches(m.FingerprintHex(), m.Cfg.K, gh, gw); err != nil {
		return nil, nil, err
	}
	return m, p, nil
}

// scoreImages encodes ds and returns each image's NLL in bits.
func scoreImages(m *vqvae.Model, p prior.Prior, ds *datasets.Dataset, class int) ([]float64, error) {
	info := p.Info()
	codes := make([]int32, ds.N*info.Positions())
	idx := make([]int, 0, 500)
	for lo := 0; lo < ds.N; lo += 500 {
		hi := min(lo+500, ds.N)
		idx = idx[:0]
		for i := lo; i < hi; i++ {
			idx = append(idx, i)
		}
		x, _ := ds.Batch(idx, nil, nil)
		m.Encode(x, codes[lo*info.Positions():hi*info.Positions()])
	}
	var classes []int32
	if info.Classes > 0 {
		switch {
		case class >= 0:
			if class >= info.Classes {
				return nil, fmt.Errorf("--class %d: the prior has classes 0 to %d", class, info.Classes-1)
			}
			classes = make([]int32, ds.N)
			for i := range classes {
				classes[i] = int32(class)
			}
		case ds.Labels != nil:
			classes = ds.Labels
		default:
			return nil, fmt.Errorf("the prior is class-conditional: give --class for %s", ds.Name)
		}
	}
	return sampler.NLLBits(p, codes, classes, ds.N, 256)
}

// priorEval is the JSON of `eval prior`.
type priorEval struct {
	Arch                string  `json:"arch"`
	BitsPerCode         float64 `json:"bits_per_code"`
	BitsPerImage        float64 `json:"bits_per_image"`
	UnigramBitsPerImage float64 `json:"unigram_bits_per_image"`
	Grids               int     `json:"grids"`
}

func evalPrior(ckpt, codesPath, trainCodes string) (*priorEval, error) {
	p, err := prior.Load(ckpt)
	if err != nil {
		return nil, err
	}
	c, err := prior.LoadCodes(codesPath)
	if err != nil {
		return nil, err
	}
	info := p.Prior.Info()
	if c.Info.K != info.K || c.Info.H != info.H || c.Info.W != info.W {
		return nil, fmt.Errorf("%s holds %dx%d grids of K=%d; the prior models %dx%d grids of K=%d", codesPath, c.Info.H, c.Info.W, c.Info.K, info.H, info.W, info.K)
	}
	if c.Fingerprint != p.Fingerprint {
		return nil, fmt.Errorf("%s was made by VQ-VAE %s but the prior was trained on codes of %s", codesPath, c.Fingerprint, p.Fingerprint)
	}
	if info.Classes > 0 && c.Labels == nil {
		return nil, fmt.Errorf("the prior is class-conditional but %s has no labels", codesPath)
	}
	if trainCodes == "" {
		// The file recorded at training time, else the run layout
		// (DIR/prior/prior.safetensors beside DIR/codes-train.vqc).
		trainCodes = filepath.Join(filepath.Dir(filepath.Dir(ckpt)), "codes-train.vqc")
		if rec := p.TrainCodes; rec != "" {
			if _, err := os.Stat(rec); err == nil {
				trainCodes = rec
			}
		}
	}
	tr, err := prior.LoadCodes(trainCodes)
	if err != nil {
		return nil, fmt.Errorf("unigram baseline: %w (pass the prior's training codes with --train-codes)", err)
	}
	nll := prior.Evaluate(p.Prior, c, 0, 500)
	return &priorEval{Arch: info.Arch, BitsPerCode: nll.BitsPerCode, BitsPerImage: nll.BitsPerImage,
		UnigramBitsPerImage: prior.NewUnigram(tr.Slice(0, tr.N-p.Config.Prior.ValCount)).BitsPerImage(c), Grids: nll.Grids}, nil
}

func trainPrior(cmd *cobra.Command, f *runDirFlags, codesPath, arch string, steps int) (*priorResult, error) {
	cfg, err := loadConfig(f.config)
	if err != nil {
		return nil, err
	}
	if arch != "" || steps != 0 {
		if arch != "" {
			cfg.Prior.Arch = arch
		}
		if steps != 0 {
			cfg.Prior.Train.Steps = steps
		}
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("--arch/--steps: %w", err)
		}
	}
	codes, err := prior.LoadCodes(codesPath)
	if err != nil {
		return nil, err
	}
	resume, err := f.prepare(prior.LastFile)
	if err != nil {
		return nil, err
	}
	tr, err := prior.NewTrainer(cfg, codes, f.out, resume)
	if err != nil {
		return nil, err
	}
	if err := writeResolvedConfig(f.out, cfg); err != nil {
		return nil, err
	}
	log, err := openMetrics(f.out, resume, tr.Step)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	uni := prior.NewUnigram(tr.Train).BitsPerImage(tr.Val)
	out := cmd.ErrOrStderr()
	tc := cfg.Prior.Train
	if resume {
		fmt.Fprintf(out, "resuming %s at step %d of %d\n", f.out, tr.Step, tc.Steps)
	}
	info := tr.Prior.Info()
	fmt.Fprintf(out, "training %s prior on %s (%d grids, %d for validation; %dx%d, K=%d, classes %d): %d steps of %d; unigram baseline %.1f bits/image\n",
		info.Arch, codesPath, tr.Train.N, tr.Val.N, info.H, info.W, info.K, info.Classes, tc.Steps, tc.Batch, uni)
	ctx, stop := signalContext()
	defer stop()
	bar := newProgress(out, info.Arch, tc.Steps)
	bar.setRate(tc.Batch, "grids")
	if tc.LogEvery > 0 {
		bar.every = tc.LogEvery
	}
	res := &priorResult{UnigramVal: uni}
	var logErr error
	err = tr.Run(ctx, func(e prior.Event) {
		bar.Update(e.Step, kv("bits/code", e.BitsPerCode), kv("lr", e.LR))
		res.GridsPerSecond = e.GridsPerSec
		if tc.LogEvery > 0 && e.Step%tc.LogEvery == 0 || e.Eval != nil {
			rec := map[string]any{"step": e.Step, "train_bits_per_code": e.BitsPerCode, "lr": e.LR,
				"grids_per_s": e.GridsPerSec, "elapsed_s": e.Elapsed.Seconds()}
			if e.Eval != nil {
				rec["val_bits_per_code"], rec["val_bits_per_image"], rec["unigram_bits_per_image"] = e.Eval.BitsPerCode, e.Eval.BitsPerImage, uni
			}
			logErr = errors.Join(logErr, log.Write(rec))
		}
		if e.Eval != nil {
			res.Val = *e.Eval
			best := ""
			if e.Best {
				best = " (best so far, saved)"
			}
			bar.Printf("step %d: validation %.4f bits/code, %.1f bits/image (unigram %.1f, %.1f%% below)%s",
				e.Step, e.Eval.BitsPerCode, e.Eval.BitsPerImage, uni, 100*(1-e.Eval.BitsPerImage/uni), best)
		}
	})
	bar.Done()
	if err != nil {
		return nil, err
	}
	if logErr != nil {
		return nil, fmt.Errorf("writing %s: %w", log.Path(), logErr)
	}
	if _, err := plotMetrics(f.out, []chart{
		{"loss.png", "Prior NLL", "bits per code", []string{"train_bits_per_code", "val_bits_per_code"}, false},
	}); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "done: %s (best on validation)\n", filepath.Join(f.out, prior.BestFile))
	return res, nil
}
