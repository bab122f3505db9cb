// Command vqgen trains a VQ-VAE, encodes datasets into compressed code grids,
// fits an autoregressive prior over the codes, and samples and edits images.
//
// The work itself is package app's; each verb here is one constructor that
// binds flags to an app options struct, calls the operation with a progress
// bar, prints the result, and turns app's errors into advice that names the
// flags.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/vqgen/vqgen/app"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "vqgen",
		Short: "Two-stage generative image pipeline: VQ-VAE codes and an autoregressive prior",
		Long: `vqgen learns a codebook of image pieces (stage one, a VQ-VAE), writes every image
of a dataset as a small grid of code indices, fits an autoregressive prior over
those grids (stage two, a gated PixelCNN or a causal Transformer), and samples
new images or redraws chosen parts of existing ones.

Start with the whole pipeline on MNIST, which ships inside the binary:

  vqgen run --out runs/mnist

Every verb that writes refuses to replace an existing output unless given
--force. Flags name inputs (--vqvae, --prior, --run, --codes, --train-codes,
--data, --image, --images) or outputs (--out, --out-codes, --save-each,
--histogram, --cpuprofile), never both; --data takes a dataset spec
(mnist:test, idx:DIR:test, images:DIR:test) wherever images are read.

The prior also compresses: vqgen encode --prior and vqgen codes convert write
code files coded with its probabilities (about a third of the size; every
verb that reads one takes that prior with --prior), and vqgen compress and
decompress make a learned image codec of the VQ-VAE and the prior
(vqgen eval codec compares it with PNG and JPEG).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	train := &cobra.Command{Use: "train", Short: "Train a model: the VQ-VAE (stage one) or a prior over its codes (stage two)"}
	train.AddCommand(newTrainVQVAECmd(), newTrainPriorCmd())
	eval := &cobra.Command{Use: "eval", Short: "Score a trained model: the VQ-VAE, a prior, or a set of samples"}
	eval.AddCommand(newEvalVQVAECmd(), newEvalPriorCmd(), newEvalSamplesCmd(), newEvalCodecCmd())
	codes := &cobra.Command{Use: "codes", Short: "Work with code files"}
	codes.AddCommand(newInspectCmd(), newConvertCmd())
	root.AddCommand(newRunCmd(), train, newEncodeCmd(), newSampleCmd(), newEditCmd(), newScoreCmd(), eval,
		newReconstructCmd(), newDecodeCmd(), codes, newCompressCmd(), newDecompressCmd(), newServeCmd(), newBenchCmd(), newVersionCmd())
	return root
}

func main() {
	ctx, stop := signalContext()
	defer stop()
	cmd, err := newRootCmd().ExecuteContextC(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vqgen:", explain(cmd, err))
		os.Exit(1)
	}
}

// explain rewords app's errors for the command line: options become the
// flags that set them, and each refusal says which flag gets past it.
func explain(cmd *cobra.Command, err error) error {
	msg := err.Error()
	var oe *app.OptionError
	if errors.As(err, &oe) {
		msg = strings.Replace(msg, oe.Error(), "--"+strings.ReplaceAll(oe.Option, "_", "-")+" "+oe.Problem, 1)
	}
	isRun := cmd != nil && cmd.Name() == "run"
	advice := ""
	switch {
	case errors.Is(err, context.Canceled) && isRun:
		advice = "run the same command again to continue"
	case errors.Is(err, app.ErrInterrupted):
		advice = "continue with --resume"
	case errors.Is(err, app.ErrConfigChanged) && isRun:
		advice = "use another --out, or --force to delete it and start over"
	case errors.Is(err, app.ErrConfigChanged):
		advice = "use --force to start over"
	case errors.Is(err, app.ErrFolderInUse) && isRun:
		advice = "choose another --out (or --force, which clears only folders vqgen made)"
	case errors.Is(err, app.ErrFolderInUse):
		advice = "pass --resume to continue the run in it, or --force to delete its contents and start over"
	case errors.Is(err, app.ErrNotRunFolder):
		advice = "--force clears only folders vqgen made; choose another --out or delete it yourself"
	case errors.Is(err, app.ErrExists):
		advice = "use --force to replace it"
	case errors.Is(err, app.ErrNoTrainCodes):
		advice = "pass the prior's training codes with --train-codes"
	case errors.Is(err, app.ErrCodeNeedsPrior) && cmd != nil && cmd.Flags().Lookup("codes-prior") != nil:
		advice = "pass the prior it names with --codes-prior"
	case errors.Is(err, app.ErrCodeNeedsPrior) && cmd != nil && cmd.Flags().Lookup("run") != nil:
		advice = "pass the run folder it came from (--run), or the prior it names (--prior)"
	case errors.Is(err, app.ErrCodeNeedsPrior):
		advice = "pass the prior it names with --prior"
	}
	switch {
	case advice == "":
	case strings.Contains(msg, "refusing to replace it") && advice == "use --force to replace it":
		msg = strings.Replace(msg, "refusing to replace it", advice, 1)
	default:
		msg += "; " + advice
	}
	return errors.New(msg)
}

// applyChanged copies into dst (a pointer to an options struct) the fields
// of src (the struct the flags were parsed into) whose flags the user gave:
// a flag --top-k sets the field tagged json:"top_k". Options not given keep
// the defaults dst was filled with.
func applyChanged(flags *pflag.FlagSet, dst, src any) {
	d, s := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem()
	for i := 0; i < d.NumField(); i++ {
		name, _, _ := strings.Cut(d.Type().Field(i).Tag.Get("json"), ",")
		if name != "" && flags.Changed(strings.ReplaceAll(name, "_", "-")) {
			d.Field(i).Set(s.Field(i))
		}
	}
}

// fromPrior is the help text of a default read from the prior's config.
func fromPrior(section, key string, builtin any) string {
	return fmt.Sprintf("(default: [%s] %s of the config stored in the prior; built-in %v)", section, key, builtin)
}
