// Package plots draws training curves (loss, perplexity, codebook usage
// against step) as PNG line plots with gonum.org/v1/plot, written
// atomically so a plot being refreshed during training is never seen half
// written.
package plots

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	vgdraw "gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/vqgen/vqgen/internal/atomicfile"
)

// Series is one named curve; X and Y have equal lengths.
type Series struct {
	Name string
	X, Y []float64
}

// Options shape a plot. The zero value is an 800x500 linear plot that
// replaces an existing file (plots are refreshed as training goes on).
type Options struct {
	Width, Height int  // pixels; 0 = 800x500
	LogY          bool // logarithmic y axis
	// NoOverwrite refuses to replace an existing file.
	NoOverwrite bool
}

// LinePNG draws the series as lines into a PNG file at path.
//
// Points a plot cannot show (NaN or infinite values, and y <= 0 on a log
// axis) are left out, and the legend says how many, so a diverged loss still
// gets a plot instead of an error. An error is returned only when no series
// has a point left, or on bad arguments.
func LinePNG(path, title, xlabel, ylabel string, series []Series, opt Options) error {
	img, err := Render(title, xlabel, ylabel, series, opt)
	if err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, buf.Bytes(), !opt.NoOverwrite)
}

// Render draws the plot into an image of exactly Width x Height pixels.
func Render(title, xlabel, ylabel string, series []Series, opt Options) (image.Image, error) {
	w, h := opt.Width, opt.Height
	if w == 0 {
		w = 800
	}
	if h == 0 {
		h = 500
	}
	if w < 100 || h < 100 || w > 10000 || h > 10000 {
		return nil, fmt.Errorf("size %dx%d: each side must be in [100, 10000] pixels", w, h)
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	if opt.LogY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	drawn := 0
	for i, s := range series {
		if len(s.X) != len(s.Y) {
			return nil, fmt.Errorf("series %q: %d x values but %d y values", s.Name, len(s.X), len(s.Y))
		}
		pts := make(plotter.XYs, 0, len(s.X))
		for j := range s.X {
			x, y := s.X[j], s.Y[j]
			if !finite(x) || !finite(y) || (opt.LogY && y <= 0) {
				continue
			}
			pts = append(pts, plotter.XY{X: x, Y: y})
		}
		if len(pts) == 0 {
			continue
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return nil, fmt.Errorf("series %q: %w", s.Name, err)
		}
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1.5)
		name := s.Name
		if d := len(s.X) - len(pts); d > 0 {
			name = fmt.Sprintf("%s (%d points not shown)", name, d)
		}
		p.Add(l)
		if name != "" {
			p.Legend.Add(name, l)
		}
		drawn++
	}
	if drawn == 0 {
		return nil, errors.New("no series has a point to draw")
	}
	// The canvas takes its pixel size from this image (and draws into a
	// copy of it, returned by Image).
	c := vgimg.NewWith(vgimg.UseImage(image.NewRGBA(image.Rect(0, 0, w, h))))
	p.Draw(vgdraw.New(c))
	return c.Image(), nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
