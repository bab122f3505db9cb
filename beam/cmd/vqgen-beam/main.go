// Command vqgen-beam runs vqgen's embarrassingly parallel work (encoding an
// image collection, drawing samples, scoring images) as Apache Beam
// pipelines: in this process on Beam's prism runner by default, or on a
// Flink, Spark or Dataflow cluster through Beam's own flags (--runner,
// --endpoint, ...). See docs/beam.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/vqgen/vqgen/app"
	"github.com/vqgen/vqgen/beam/vqbeam"
)

// beamFlagsShown are the Beam pipeline options listed in --help, with
// usage lines that say what they mean for vqgen-beam. Beam's other options
// (Dataflow's --project, --region, --temp_location, ...) are accepted as
// well, only not listed; docs/beam.md has the cluster recipes.
var beamFlagsShown = map[string]string{
	"runner":             "Beam runner: prism (the default: in this process), flink, spark, dataflow or universal",
	"endpoint":           "job service of a Flink or Spark job server, or of a prism server (host:port); empty with prism: in this process",
	"environment_type":   "where a cluster runs the workers: DOCKER (Beam's Go SDK container), PROCESS, EXTERNAL or LOOPBACK (in this process)",
	"environment_config": "for DOCKER, the SDK container image; for PROCESS, a JSON command (see docs/beam.md)",
	"job_name":           "name of the job on the cluster",
	"worker_binary":      "linux/amd64 vqgen-beam for the workers (default on linux/amd64: this binary)",
	"parallelism":        "Flink: the parallelism of the job (-1: the cluster's default)",
}

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "vqgen-beam:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "vqgen-beam",
		Short: "Encode, sample and score image collections as Apache Beam pipelines",
		Long: `vqgen-beam runs vqgen's embarrassingly parallel work as Apache Beam pipelines:
encoding a collection of images into code-file shards, drawing many samples as
independently seeded shards, and scoring every image of a collection under a
prior. By default the pipeline runs in this process on Beam's prism runner;
--runner flink|spark|dataflow with Beam's options runs it on a cluster (see
docs/beam.md). Paths may be local or on any Beam file system (gs://, s3://).

Shards hold consecutive images (in key order) or samples (in index order), so
'vqgen codes merge' of the shards equals what vqgen writes on one machine.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Cluster runners start this binary as a worker with Beam's worker
		// flags (--worker=true --id=... --control_endpoint=...) and no verb:
		// beam.Init then serves as the worker and exits.
		RunE: func(cmd *cobra.Command, _ []string) error {
			beam.Init()
			return cmd.Help()
		},
	}
	root.PersistentFlags().AddGoFlagSet(flag.CommandLine)
	root.PersistentFlags().VisitAll(func(f *pflag.Flag) {
		if usage, ok := beamFlagsShown[f.Name]; ok {
			f.Usage = usage
		} else {
			f.Hidden = true
		}
	})
	root.PersistentFlags().BoolVar(&vqbeam.Verbose, "verbose", false, "show the runner's informational logs")
	root.AddCommand(newEncode(), newSample(), newScore())
	return root
}

// imageFlags are the flags that name an image collection.
type imageFlags struct {
	data       string
	unlabelled bool
	depth      int
}

func (f *imageFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.data, "data", "", "image folder: images:DIR (every image), images:DIR:train or images:DIR:test (vqgen's hashed 90/10 split); DIR may be gs://... or s3://...")
	cmd.Flags().BoolVar(&f.unlabelled, "unlabelled", false, "ignore class folders: every image is unlabelled (default: the VQ-VAE config's data.labels, as for vqgen)")
	cmd.Flags().IntVar(&f.depth, "depth", vqbeam.DefaultDepth, "folder levels below DIR to search for images (Beam's globs match one level per '*')")
	cmd.MarkFlagRequired("data")
}

func (f *imageFlags) images() (vqbeam.Images, error) {
	im, err := vqbeam.ParseImages(f.data)
	if err != nil {
		return im, fmt.Errorf("--data: %w", err)
	}
	im.Depth = f.depth
	if f.unlabelled {
		im.Labels = vqbeam.LabelsNone
	}
	return im, nil
}

func newEncode() *cobra.Command {
	var (
		img imageFlags
		opt vqbeam.EncodeOptions
	)
	cmd := &cobra.Command{
		Use:   "encode",
		Short: "Encode an image collection into code-file shards",
		Long: `encode matches the images of --data with Beam's file IO, decodes and encodes them
with the VQ-VAE (loaded once per worker), and writes their code grids, with
labels from the class folders, to --shards code files, each recording the
VQ-VAE's fingerprint. Images are ordered by their path relative to DIR and
dealt to the shards in consecutive ranges, so

  vqgen codes merge codes-*-of-00004.vqc --out codes.vqc

gives the file 'vqgen encode --data images:DIR' writes. With --shards 1 the
output is --out itself.`,
		Example: `  vqgen-beam encode --vqvae runs/mnist/vqvae.safetensors --data images:photos --out codes.vqc --shards 8
  vqgen-beam encode --vqvae gs://bucket/vqvae.safetensors --data images:gs://bucket/photos --out gs://bucket/codes/codes.vqc --shards 64 \
      --runner dataflow --project P --region europe-west1 --temp_location gs://bucket/tmp`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			im, err := img.images()
			if err != nil {
				return err
			}
			opt.Images = im
			return run(cmd, "encode", "images", opt.Outputs, func(ctx context.Context, s beam.Scope) (beam.PCollection, error) {
				return vqbeam.Encode(ctx, s, opt)
			})
		},
	}
	img.register(cmd)
	cmd.Flags().StringVar(&opt.VQVAE, "vqvae", "", "VQ-VAE checkpoint (vqvae.safetensors)")
	cmd.Flags().StringVar(&opt.Out, "out", "", "code file to write; with --shards N > 1, NAME-00000-of-0000N.ext ...")
	cmd.Flags().IntVar(&opt.Shards, "shards", 1, "number of code files to write")
	cmd.Flags().IntVar(&opt.Batch, "batch", vqbeam.DefaultEncodeBatch, "images a worker encodes together; changes speed and memory, not the codes")
	cmd.Flags().BoolVar(&opt.Force, "force", false, "replace existing outputs")
	cmd.MarkFlagRequired("vqvae")
	cmd.MarkFlagRequired("out")
	return cmd
}

func newSample() *cobra.Command {
	var (
		opt vqbeam.SampleOptions
		set app.SampleOptions // the flags; only those given replace the prior's defaults
	)
	cmd := &cobra.Command{
		Use:   "sample",
		Short: "Draw samples as independently seeded shards",
		Long: `sample draws --n code grids from the prior in --shards independent shards of
consecutive sample indices and writes each shard's grids as a code file (with
the classes as labels for a conditional prior), and with --png DIR one PNG per
sample. Sample i depends on the seed, the options and i only, so any number of
shards on any number of machines gives the same samples as

  vqgen sample --n N --seed S --codes samples.vqc --save-each DIR

with the same options: the shards merged in order are that code file, and the
PNGs have the same names and bytes. Settings not given come from the [sample]
section of the prior's config, as for vqgen sample.`,
		Example: `  vqgen-beam sample --vqvae runs/mnist/vqvae.safetensors --prior runs/mnist/prior.safetensors --n 100000 --shards 20 --out samples.vqc --png samples/`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := vqbeam.SampleDefaults(cmd.Context(), opt.VQVAE, opt.Prior)
			if err != nil {
				return err
			}
			fl := cmd.Flags()
			for name, apply := range map[string]func(){
				"n": func() { d.N = set.N }, "seed": func() { d.Seed = set.Seed }, "temperature": func() { d.Temperature = set.Temperature },
				"top-k": func() { d.TopK = set.TopK }, "top-p": func() { d.TopP = set.TopP }, "guidance": func() { d.Guidance = set.Guidance },
				"class": func() { d.Class = set.Class }, "per-class": func() { d.PerClass = set.PerClass }, "batch": func() { d.Batch = set.Batch },
			} {
				if fl.Changed(name) {
					apply()
				}
			}
			opt.Sample = d
			return run(cmd, "sample", "samples", opt.Outputs, func(ctx context.Context, s beam.Scope) (beam.PCollection, error) {
				return vqbeam.Sample(ctx, s, opt)
			})
		},
	}
	b := app.BuiltinSample()
	cmd.Flags().StringVar(&opt.VQVAE, "vqvae", "", "VQ-VAE checkpoint (vqvae.safetensors)")
	cmd.Flags().StringVar(&opt.Prior, "prior", "", "prior checkpoint trained on that VQ-VAE's codes (prior.safetensors)")
	cmd.Flags().IntVar(&set.N, "n", b.N, "number of samples (default: the prior config's [sample] n)")
	cmd.Flags().Uint64Var(&set.Seed, "seed", b.Seed, "random seed; the same seed gives the same samples, whatever the sharding (default: [sample] seed)")
	cmd.Flags().Float64Var(&set.Temperature, "temperature", b.Temperature, "divides the logits: < 1 sharper and more typical, > 1 more varied (default: [sample] temperature)")
	cmd.Flags().IntVar(&set.TopK, "top-k", b.TopK, "draw only among the k most likely codes, 0 = off (default: [sample] top_k)")
	cmd.Flags().Float64Var(&set.TopP, "top-p", b.TopP, "nucleus sampling: the smallest set of codes with this probability mass, 1 = off (default: [sample] top_p)")
	cmd.Flags().Float64Var(&set.Guidance, "guidance", b.Guidance, "classifier-free guidance weight for a class-conditional prior, 1 = off (default: [sample] guidance)")
	cmd.Flags().IntVar(&set.Class, "class", -1, "class to draw for a class-conditional prior (-1: every sample gets a uniformly drawn class)")
	cmd.Flags().IntVar(&set.PerClass, "per-class", 0, "draw this many samples of every class in turn instead of --n (conditional priors)")
	cmd.Flags().IntVar(&set.Batch, "batch", 0, "grids per prior pass (0: 256); changes speed and memory, not the samples")
	cmd.Flags().StringVar(&opt.Out, "out", "samples.vqc", "code file of the samples; with --shards N > 1, NAME-00000-of-0000N.ext ...")
	cmd.Flags().IntVar(&opt.Shards, "shards", 1, "number of independent shards (and code files)")
	cmd.Flags().StringVar(&opt.PNGDir, "png", "", "also write one PNG per sample into this folder (sample-0000.png, ...)")
	cmd.Flags().BoolVar(&opt.Force, "force", false, "replace existing outputs")
	cmd.MarkFlagRequired("vqvae")
	cmd.MarkFlagRequired("prior")
	return cmd
}

func newScore() *cobra.Command {
	var (
		img imageFlags
		opt vqbeam.ScoreOptions
	)
	cmd := &cobra.Command{
		Use:   "score",
		Short: "Score every image of a collection under a prior (NLL in bits)",
		Long: `score encodes every image of --data with the VQ-VAE and writes -log2 p(codes)
under the prior for each (lower is more typical), named by the image's path
relative to DIR, in path order: as text (PATH, a tab, the bits) or, with
--format jsonl or a .jsonl name, as JSON lines {"image", "label", "nll_bits"}
with the bits in full precision. A conditional prior scores each image under
its class folder's label, or under --class. The bits are those vqgen score
prints for the same images.`,
		Example: `  vqgen-beam score --vqvae runs/mnist/vqvae.safetensors --prior runs/mnist/prior.safetensors --data images:digits --out scores.jsonl`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			im, err := img.images()
			if err != nil {
				return err
			}
			opt.Images = im
			return run(cmd, "score", "images", opt.Outputs, func(ctx context.Context, s beam.Scope) (beam.PCollection, error) {
				return vqbeam.Score(ctx, s, opt)
			})
		},
	}
	img.register(cmd)
	cmd.Flags().StringVar(&opt.VQVAE, "vqvae", "", "VQ-VAE checkpoint")
	cmd.Flags().StringVar(&opt.Prior, "prior", "", "prior checkpoint trained on that VQ-VAE's codes")
	cmd.Flags().IntVar(&opt.Class, "class", -1, "class to score under, for a conditional prior (-1: each image's class folder)")
	cmd.Flags().StringVar(&opt.Out, "out", "", "file to write (.jsonl: JSON lines); with --shards N > 1, NAME-00000-of-0000N.ext ...")
	cmd.Flags().StringVar(&opt.Format, "format", "", "text or jsonl (default: jsonl for a .jsonl or .json --out, else text)")
	cmd.Flags().IntVar(&opt.Shards, "shards", 1, "number of output files")
	cmd.Flags().IntVar(&opt.Batch, "batch", vqbeam.DefaultEncodeBatch, "images a worker encodes and scores together")
	cmd.Flags().BoolVar(&opt.Force, "force", false, "replace existing outputs")
	cmd.MarkFlagRequired("vqvae")
	cmd.MarkFlagRequired("prior")
	cmd.MarkFlagRequired("out")
	return cmd
}

// run builds a pipeline with build, runs it and reports what it wrote.
func run(cmd *cobra.Command, verb, unit string, outputs func() []string, build func(context.Context, beam.Scope) (beam.PCollection, error)) error {
	beam.Init()
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p, s := beam.NewPipelineWithRoot()
	if _, err := build(ctx, s); err != nil {
		return err
	}
	start := time.Now()
	stopProgress := showProgress(cmd, verb, unit)
	res, err := vqbeam.Run(ctx, p)
	stopProgress()
	if err != nil {
		return fmt.Errorf("%s pipeline on %s: %w", verb, vqbeam.RunnerName(), err)
	}
	el := time.Since(start).Seconds()
	out := cmd.OutOrStdout()
	if res == nil {
		fmt.Fprintf(out, "%s: submitted to %s\n", verb, vqbeam.RunnerName())
		return nil
	}
	sum, err := vqbeam.Summarize(ctx, outputs())
	if err != nil {
		return err
	}
	files := "files"
	if sum.Files == 1 {
		files = "file"
	}
	what := fmt.Sprintf("%d %s into ", sum.Images, unit)
	if sum.Images < 0 {
		what = ""
	}
	fmt.Fprintf(out, "%s: wrote %s%d %s (%d bytes) in %.1fs on %s\n", verb, what, sum.Files, files, sum.Bytes, el, vqbeam.RunnerName())
	return nil
}

// showProgress prints how much the workers of this process have done while
// the pipeline runs in process: an updating line on a terminal, a line
// every 10% otherwise. Cluster runners show progress in their own UI.
func showProgress(cmd *cobra.Command, verb, unit string) (stop func()) {
	if !vqbeam.InProcess() {
		return func() {}
	}
	w := cmd.ErrOrStderr()
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		start := time.Now()
		lastTenth := int64(0)
		for {
			select {
			case <-done:
				if tty {
					fmt.Fprint(w, "\r\033[K")
				}
				return
			case <-tick.C:
			}
			n, total := vqbeam.Progress()
			if total == 0 {
				continue
			}
			line := fmt.Sprintf("%s: %d/%d %s (%.0f/s)", verb, n, total, unit, float64(n)/time.Since(start).Seconds())
			if tty {
				fmt.Fprint(w, "\r\033[K"+line)
			} else if tenth := 10 * n / total; tenth > lastTenth {
				lastTenth = tenth
				fmt.Fprintln(w, line)
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
