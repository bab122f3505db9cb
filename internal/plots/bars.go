package plots

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/vqgen/vqgen/internal/atomicfile"
)

// HistogramPNG draws counts[i] as a bar at x = i: the usage of each code of a
// codebook, say. Bars are drawn edge to edge so hundreds of them stay
// readable at the default size.
func HistogramPNG(path, title, xlabel, ylabel string, counts []float64, opt Options) error {
	w, h := opt.Width, opt.Height
	if w == 0 {
		w = 1000
	}
	if h == 0 {
		h = 400
	}
	if len(counts) == 0 {
		return fmt.Errorf("plot %s: no bars to draw", path)
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	// One rectangle per bar via a histogram over unit-wide bins.
	bins := make([]plotter.HistogramBin, len(counts))
	for i, c := range counts {
		bins[i] = plotter.HistogramBin{Min: float64(i), Max: float64(i + 1), Weight: c}
	}
	hist := &plotter.Histogram{Bins: bins, Width: 1, FillColor: color.RGBA{R: 60, G: 110, B: 190, A: 255}}
	hist.LineStyle.Width = vg.Length(0)
	p.Add(hist)
	p.X.Min, p.X.Max = 0, float64(len(counts))
	c := vgimg.NewWith(vgimg.UseImage(image.NewRGBA(image.Rect(0, 0, w, h))))
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if err := png.Encode(&buf, c.Image()); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, buf.Bytes(), !opt.NoOverwrite)
}
