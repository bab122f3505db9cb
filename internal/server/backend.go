package server

import (
	"context"
	"errors"
	"io"

	"github.com/vqgen/vqgen/app"
)

// Backend is the pipeline as the server sees it: one VQ-VAE and prior pair,
// loaded once. The server parses requests, bounds how many calls run at
// once, and renders the answers; models, defaults and the checks of every
// option live behind this interface, in package app (see Open). Tests wrap
// a Backend to control how long calls take.
//
// Implementations must be safe for concurrent use. Every call that computes
// takes a context and returns promptly (with the context's error) once it
// is cancelled. A bad option is reported as an *app.OptionError or a
// *FieldError, which the client gets as a 400 naming the field; any other
// error is a server error.
type Backend interface {
	// Info describes the pair and the defaults of every option.
	Info() Info
	// TestImage returns image index of the run's test set with its codes.
	TestImage(ctx context.Context, index int) (*Picture, error)
	// Encode decodes an uploaded PNG or JPEG file, resizes it as the CLI
	// does and encodes it.
	Encode(ctx context.Context, file []byte) (*Picture, error)
	// Decode turns code grids (GridH*GridW codes each) into images.
	Decode(ctx context.Context, grids [][]int32) ([][]float32, error)
	// CheckSample and CheckEdit refuse bad options before a job is
	// queued, with the errors Sample and Edit would return.
	CheckSample(app.SampleOptions) error
	CheckEdit(app.EditOptions) error
	// Sample draws new grids and decodes them.
	Sample(ctx context.Context, o app.SampleOptions, progress app.Progress) (*Result, error)
	// Edit redraws the cells of grid where keep is false.
	Edit(ctx context.Context, grid []int32, keep []bool, o app.EditOptions, progress app.Progress) (*Result, error)
	// WriteCodes writes one grid, with its class (nil for an
	// unconditional prior), as a code file that `vqgen decode` reads.
	WriteCodes(w io.Writer, grid []int32, class *int) error
}

// Info describes the loaded pair; /api/info sends it. Every default the
// page shows and every option a request leaves out comes from here, that is
// from package app, which reads them from the prior's checkpoint.
type Info struct {
	app.Shape     // image_size, channels, grid_h, grid_w, k
	app.PriorInfo // arch, classes (0: unconditional), step
	// TestSet is the dataset spec of the VQ-VAE's test split and
	// TestImages its size; TestSetError says why there is none (0 images).
	TestSet      string `json:"test_set"`
	TestImages   int    `json:"test_images"`
	TestSetError string `json:"test_set_error,omitempty"`
	// Sample holds the sampling options a request leaves out.
	Sample app.SampleOptions `json:"sample"`
	// Edit holds the editing options a request leaves out, for the
	// config's own method; EditMethods those of each method (an edit
	// that names its method starts from that method's defaults: raster
	// takes the [sample] filters, gibbs none).
	Edit        app.EditOptions            `json:"edit"`
	EditMethods map[string]app.EditOptions `json:"edit_methods"`
}

// Picture is one image with its code grid.
type Picture struct {
	Pixels []float32 // CHW in [0, 1], at the model's size
	Codes  []int32   // GridH*GridW
	Recon  []float32 // the decoded codes
	Label  int       // the test set's label, -1 if none
}

// Result is what Sample and Edit return: one grid, class (or none) and
// image per variant.
type Result struct {
	Grids   [][]int32
	Classes []int32 // nil for an unconditional prior
	Images  [][]float32
}

// FieldError is a request error that names the field to fix. Field uses the
// names of the JSON API ("temperature", "redraw[3]", "image").
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// fieldErr makes a *FieldError from a message.
func fieldErr(field, msg string) *FieldError {
	return &FieldError{Field: field, Err: errors.New(msg)}
}
