package server

import (
	"context"
	"errors"
	"io"
)

// Backend is the pipeline as the server sees it: one VQ-VAE and prior pair,
// loaded once. The server parses requests, bounds how many calls run at
// once, and renders the answers; everything about models, defaults and
// sampling lives behind this interface.
//
// Implementations must be safe for concurrent use. Every call that computes
// takes a context and returns promptly (with the context's error) once it
// is cancelled. Errors caused by the caller's input should be *FieldError
// so the client learns which field to fix; any other error is reported as
// a server error.
type Backend interface {
	Info() Info
	// TestImage returns image index of the run's test set with its codes.
	TestImage(ctx context.Context, index int) (*Picture, error)
	// Encode decodes a PNG or JPEG file, resizes it as the CLI does and
	// encodes it.
	Encode(ctx context.Context, file []byte) (*Picture, error)
	// Decode turns code grids (H*W codes each) into images.
	Decode(ctx context.Context, grids [][]int32) ([][]float32, error)
	// Sample draws new grids and decodes them.
	Sample(ctx context.Context, opt SampleOptions, progress Progress) (*Result, error)
	// Edit redraws the cells of opt.Grid where opt.Redraw is true.
	Edit(ctx context.Context, opt EditOptions, progress Progress) (*Result, error)
	// WriteCodes writes grids (with their classes, or nil) as a code file
	// that `vqgen decode` reads.
	WriteCodes(w io.Writer, grids [][]int32, classes []int) error
}

// Progress is told how many of total units of work are done.
type Progress func(done, total int)

// Info describes the loaded pair and the defaults its checkpoint records.
type Info struct {
	ImageSize  int    `json:"image_size"`
	Channels   int    `json:"channels"`
	GridH      int    `json:"grid_h"`
	GridW      int    `json:"grid_w"`
	K          int    `json:"k"`
	Classes    int    `json:"classes"` // 0: an unconditional prior
	Arch       string `json:"arch"`
	TestSet    string `json:"test_set"`    // dataset spec, "" if none
	TestImages int    `json:"test_images"` // images in it
	// Sample and Edit are what an option left out of a request becomes.
	Sample SampleDefaults `json:"sample"`
	Edit   EditDefaults   `json:"edit"`
}

// SampleDefaults are the sampling options a request leaves out.
type SampleDefaults struct {
	N           int     `json:"n"`
	Temperature float64 `json:"temperature"`
	TopK        int     `json:"top_k"`
	TopP        float64 `json:"top_p"`
	Guidance    float64 `json:"guidance"`
	Seed        uint64  `json:"seed"`
}

// EditDefaults are the editing options a request leaves out.
type EditDefaults struct {
	Method      string  `json:"method"`
	Sweeps      int     `json:"sweeps"`
	N           int     `json:"n"`
	Temperature float64 `json:"temperature"`
	TopK        int     `json:"top_k"`
	TopP        float64 `json:"top_p"`
	Seed        uint64  `json:"seed"`
}

// Picture is one image with its code grid.
type Picture struct {
	Pixels []float32 // CHW in [0, 1], at the model's size
	Codes  []int32   // GridH*GridW
	Recon  []float32 // the decoded codes
	Label  int       // the test set's label, -1 if none
}

// SampleOptions are the options of Sample; nil and zero fields take the
// defaults of Info.Sample.
type SampleOptions struct {
	N           int
	Class       *int // nil: a class drawn per image (conditional priors)
	Temperature *float64
	TopK        *int
	TopP        *float64
	Guidance    *float64
	Seed        *uint64
}

// EditOptions are the options of Edit; nil and zero fields take the
// defaults of Info.Edit.
type EditOptions struct {
	Grid        []int32 // GridH*GridW codes
	Redraw      []bool  // GridH*GridW; true: the cell is drawn anew
	N           int
	Method      string
	Sweeps      *int
	Class       *int // required by a conditional prior
	Temperature *float64
	TopK        *int
	TopP        *float64
	Seed        *uint64
}

// Result is what Sample and Edit return: one grid, class (or none) and
// image per variant.
type Result struct {
	Grids   [][]int32
	Classes []int // nil for an unconditional prior
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
