package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vqgen/vqgen/sampler/evaluate"
)

// sampleEval is the JSON of `eval samples`: the samples' metrics at the top
// level, real digits' metrics under "reference", the judge's own report
// card under "classifier".
type sampleEval struct {
	evaluate.Metrics
	Reference  evaluate.Metrics `json:"reference"`
	Classifier classifierCard   `json:"classifier"`
}

// MarshalJSON flattens the embedded Metrics (whose own MarshalJSON would
// otherwise swallow the other fields).
func (s sampleEval) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(s.Metrics)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	m["reference"] = s.Reference
	m["classifier"] = s.Classifier
	return json.Marshal(m)
}

// classifierCard is what the judge scores on real test digits.
type classifierCard struct {
	Path            string  `json:"path"`
	TestImages      int     `json:"test_images"`
	TestAccuracy    float64 `json:"test_accuracy"`
	ECE             float64 `json:"ece"`
	ECEUncalibrated float64 `json:"ece_uncalibrated"`
	Temperature     float64 `json:"temperature"`
}

// loadJudge returns the classifier at path, or the cached default one,
// training it (with a progress bar) on first use.
func loadJudge(cmd *cobra.Command, path string) (*evaluate.Classifier, string, error) {
	if path != "" {
		c, err := evaluate.Load(path)
		return c, path, err
	}
	cache, err := evaluate.CachePath("")
	if err != nil {
		return nil, "", err
	}
	var bar *progress
	c, err := evaluate.Default("", func(step, total int) {
		if bar == nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "training the MNIST judge once (cached as %s)\n", cache)
			bar = newProgress(cmd.ErrOrStderr(), "classifier", total)
		}
		bar.Update(step)
	})
	if bar != nil {
		bar.Done()
	}
	return c, cache, err
}

// judge scores images (and labels, nil for none) and calibrates the judge.
func judge(c *evaluate.Classifier, path string, images [][]float32, labels []int32) (*sampleEval, error) {
	met, err := evaluate.Report(c, images, labels)
	if err != nil {
		return nil, err
	}
	cal, err := c.CalibrationReport()
	if err != nil {
		return nil, err
	}
	return &sampleEval{Metrics: met, Reference: cal.Reference, Classifier: classifierCard{
		Path: path, TestImages: cal.N, TestAccuracy: cal.Accuracy, ECE: cal.ECE,
		ECEUncalibrated: cal.ECEUncalibrated, Temperature: cal.Temperature}}, nil
}

func fmtMetric(v float64, digits int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return fmt.Sprintf("%.*f", digits, v)
}

func printSampleEval(w io.Writer, e *sampleEval, what string) error {
	c := e.Classifier
	fmt.Fprintf(w, "judge: %s, accuracy %.2f%% and calibration error (ECE) %.2f%% on %d held-out MNIST test digits\n\n",
		c.Path, 100*c.TestAccuracy, 100*c.ECE, c.TestImages)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "metric\t%s\treal digits\t\n", what)
	fmt.Fprintf(tw, "images\t%d\t%d\t\n", e.N, e.Reference.N)
	fmt.Fprintf(tw, "share with confidence >= 0.9\t%s\t%s\t\n", fmtMetric(e.ShareConf09, 3), fmtMetric(e.Reference.ShareConf09, 3))
	fmt.Fprintf(tw, "class entropy (bits, max 3.32)\t%s\t%s\t\n", fmtMetric(e.ClassEntropyBits, 3), fmtMetric(e.Reference.ClassEntropyBits, 3))
	fmt.Fprintf(tw, "Frechet distance to test digits\t%s\t%s\t\n", fmtMetric(e.Frechet, 2), fmtMetric(e.Reference.Frechet, 2))
	fmt.Fprintf(tw, "accuracy on the requested class\t%s\t%s\t\n", fmtMetric(e.CondAccuracy, 3), fmtMetric(e.Reference.CondAccuracy, 3))
	return tw.Flush()
}

func init() {
	var dir, labels, clf string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "samples",
		Short: "Judge a folder of generated digits with an MNIST classifier",
		Long: `eval samples reads every .png in --images (sorted by name; other sizes are
resized to 28x28) and judges them with a small MNIST classifier:

  share_conf_0_9      share of images the judge classifies with >= 90% confidence
  class_entropy_bits  entropy of the predicted digits (3.32 bits: all ten equally often)
  frechet             Frechet distance between the judge's features of the images
                      and of the 10,000 MNIST test digits (lower is closer)
  cond_accuracy       share classified as the class in --labels (one 0-9 per
                      line, in sorted file-name order); null without --labels

Beside them it prints the same figures for 1,000 real training digits, the
level a perfect generator reaches (the Frechet distance is biased upward for
small sets, so compare 1,000 samples with them), and the judge's accuracy and
calibration error on 1,000 held-out test digits.

The judge is trained once (a few minutes) and cached in the user cache folder;
--classifier uses another saved one.`,
		Example: `  vqgen sample --vqvae runs/mnist/vqvae.safetensors --prior runs/mnist/prior.safetensors --n 1000 --out s.png --save-each samples/
  vqgen eval samples --images samples/
  vqgen eval samples --images samples/ --labels labels.txt --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return evalSamples(cmd, dir, labels, clf, asJSON) },
	}
	cmd.Flags().StringVar(&dir, "images", "", "folder of generated .png digits")
	cmd.Flags().StringVar(&labels, "labels", "", "file of requested classes, one per line in sorted file-name order")
	cmd.Flags().StringVar(&clf, "classifier", "", "saved classifier (default: the cached one, trained on first use)")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print one JSON object: n, share_conf_0_9, class_entropy_bits, frechet, cond_accuracy, "reference" and "classifier"`)
	cmd.MarkFlagRequired("images")
	evalCmd.AddCommand(cmd)
}

func evalSamples(cmd *cobra.Command, dir, labels, clf string, asJSON bool) error {
	ims, names, note, err := evaluate.LoadImageDir(dir)
	if err != nil {
		return fmt.Errorf("--images: %w", err)
	}
	var lab []int32
	if labels != "" {
		if lab, err = evaluate.ReadLabels(labels, len(names)); err != nil {
			return fmt.Errorf("--labels: %w", err)
		}
	}
	if note != "" {
		fmt.Fprintln(cmd.ErrOrStderr(), "note:", note)
	}
	c, path, err := loadJudge(cmd, clf)
	if err != nil {
		return err
	}
	e, err := judge(c, path, ims, lab)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(cmd.OutOrStdout()).Encode(e)
	}
	return printSampleEval(cmd.OutOrStdout(), e, dir)
}
