// Command vqgen trains a VQ-VAE, encodes datasets into compressed code grids,
// fits an autoregressive prior over the codes, and samples and edits images.
//
// Each verb lives in a file of its own in this folder and registers itself
// with rootCmd from an init function.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

var rootCmd = &cobra.Command{
	Use:   "vqgen",
	Short: "Two-stage generative image pipeline: VQ-VAE codes and an autoregressive prior",
	Long: `vqgen learns a codebook of image pieces (stage one, a VQ-VAE), writes every image
of a dataset as a small grid of code indices, fits an autoregressive prior over
those grids (stage two, a gated PixelCNN or a causal Transformer), and samples
new images or redraws chosen parts of existing ones.

Start with the whole pipeline on MNIST, which ships inside the binary:

  vqgen run --out runs/mnist`,
	SilenceUsage:  true,
	SilenceErrors: true,
}

func main() {
	if err := rootCmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "vqgen:", err)
		os.Exit(1)
	}
}
