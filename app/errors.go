package app

import (
	"fmt"
	"io/fs"
	"strings"

	"github.com/vqgen/vqgen/internal/memguard"
	"github.com/vqgen/vqgen/internal/progress"
	"github.com/vqgen/vqgen/internal/rundir"
	"github.com/vqgen/vqgen/internal/trainloop"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

// Progress receives an operation's progress: Begin a phase (what it is, how
// many units), Update with the units done and fields to show, Note a line
// for the user, End the phase. A nil Progress is allowed and discards
// everything. See internal/progress for the contract; the command line
// renders it as a bar, a web server keeps the latest state per job.
type Progress = progress.Reporter

// Phase describes one loop of an operation (see Progress).
type Phase = progress.Phase

// Field is a named value shown with a progress update.
type Field = progress.Field

// Errors operations return, worded without any front end's vocabulary. Test
// for them with errors.Is and add the advice that fits the front end (the
// command line names its flags).
var (
	// ErrExists: an output is already there and Force was not set.
	ErrExists = fs.ErrExist
	// ErrFolderInUse: a training output folder holds files; set Resume
	// to continue the run in it or Force to delete them and start over.
	ErrFolderInUse = rundir.ErrNotEmpty
	// ErrNotRunFolder: Force was set on a folder vqgen did not make;
	// nothing was deleted.
	ErrNotRunFolder = rundir.ErrNotRunDir
	// ErrInterrupted: the context was cancelled during training; the
	// state was saved first, so Resume (or running the pipeline again)
	// continues it. Such an error also matches context.Canceled.
	ErrInterrupted = trainloop.ErrInterrupted
	// ErrNonFinite: the training loss became NaN or infinite.
	ErrNonFinite = trainloop.ErrNonFinite
	// ErrConfigChanged: the checkpoint or run folder to continue was made
	// with other settings; only starting over (Force) is possible.
	ErrConfigChanged = trainloop.ErrConfigChanged
	// ErrNoTrainCodes: the unigram baseline of a prior needs the code
	// file it was trained on, and it was not found; pass it explicitly.
	ErrNoTrainCodes = prior.ErrTrainCodesNotFound
	// ErrTooBig: the work would need more memory than is available; it
	// was refused before anything large was allocated. The message gives
	// the estimate and the config keys that drive it.
	ErrTooBig = memguard.ErrTooBig
)

// OptionError is a bad value of one option. Option is the option's JSON
// name in its options struct ("top_p"); Error() starts with it, so a front
// end can replace it with its own name for the option (the flag --top-p, a
// form field).
type OptionError struct {
	Option  string
	Problem string // e.g. `1.5: want a value in (0, 1] (1 turns it off)`
}

func (e *OptionError) Error() string { return e.Option + " " + e.Problem }

// optionErr makes an OptionError.
func optionErr(option, format string, args ...any) error {
	return &OptionError{Option: option, Problem: fmt.Sprintf(format, args...)}
}

// asOption turns an error whose text starts with the option's name (as
// package sampler's cell parsers word them) into an OptionError.
func asOption(option string, err error) error {
	if err == nil {
		return nil
	}
	return &OptionError{Option: option, Problem: strings.TrimPrefix(err.Error(), option+" ")}
}

// nop returns p, or a Progress that discards everything when p is nil.
func nop(p Progress) Progress { return progress.Or(p) }
