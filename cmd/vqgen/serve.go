package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/vqgen/vqgen/app"
	"github.com/vqgen/vqgen/internal/server"
)

// newServeCmd is `vqgen serve`: the web page and JSON API over one loaded pair.
func newServeCmd() *cobra.Command {
	var run, vq, pr, addr string
	cfg := server.DefaultConfig()
	maxUploadMiB := cfg.MaxUpload >> 20
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Edit and sample in the browser: a local web page and JSON API",
		Long: `serve loads a VQ-VAE and its prior once and serves a page for editing images
by their codes (paint the cells to redraw, pick among variants, undo, download)
and drawing samples, with the JSON API it uses under /api/ (docs/http-api.md).

It listens on 127.0.0.1 only, unless --addr says otherwise, and answers only
requests addressed to that address from its own page. Jobs run --workers at a
time with --queue more waiting; beyond that a request gets 503. Ctrl-C or
SIGTERM lets running jobs finish for a few seconds and exits.`,
		Example: `  vqgen serve --run runs/mnist
  vqgen serve --vqvae runs/mnist/vqvae.safetensors --prior runs/mnist/prior.safetensors --addr 127.0.0.1:9000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if run != "" {
				if vq != "" || pr != "" {
					return errors.New("give --run DIR, or --vqvae and --prior, not both")
				}
				vq, pr = runPair(run)
			}
			if vq == "" || pr == "" {
				return errors.New("give the run folder (--run DIR) or both checkpoints (--vqvae and --prior)")
			}
			b, err := server.Open(vq, pr)
			if err != nil {
				return err
			}
			if msg := b.Info().TestSetError; msg != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "no test images to pick from (%s): the page edits uploads only\n", msg)
			}
			cfg.MaxUpload = maxUploadMiB << 20
			cfg.Log = cmd.ErrOrStderr()
			return server.New(b, cfg).ListenAndServe(cmd.Context(), addr, func(url string) {
				fmt.Fprintf(cmd.OutOrStdout(), "serving %s and %s at %s (Ctrl-C to stop)\n", vq, pr, url)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&run, "run", "", "run folder holding vqvae.safetensors and prior.safetensors")
	f.StringVar(&vq, "vqvae", "", "VQ-VAE checkpoint (instead of --run)")
	f.StringVar(&pr, "prior", "", "prior checkpoint trained on that VQ-VAE's codes (instead of --run)")
	f.StringVar(&addr, "addr", "127.0.0.1:8080", "address to listen on; a non-loopback one exposes the server to the network")
	f.IntVar(&cfg.Workers, "workers", cfg.Workers, "jobs computing at once (each already uses every core)")
	f.IntVar(&cfg.Queue, "queue", cfg.Queue, "jobs waiting beyond those; more get 503")
	f.DurationVar(&cfg.JobTimeout, "job-timeout", cfg.JobTimeout, "longest a job may run")
	f.Int64Var(&maxUploadMiB, "max-upload", maxUploadMiB, "largest image upload in MiB")
	f.IntVar(&cfg.MaxN, "max-n", cfg.MaxN, "most images one sample or edit request may ask for")
	f.StringSliceVar(&cfg.AllowHosts, "allow-host", nil, "further host names the server answers to (with --addr beyond loopback)")
	return cmd
}

// runPair names the VQ-VAE and prior checkpoints of a run folder (what
// `vqgen run` leaves there).
func runPair(dir string) (vqvae, prior string) {
	return filepath.Join(dir, app.VQVAEFile), filepath.Join(dir, app.PriorFile)
}
