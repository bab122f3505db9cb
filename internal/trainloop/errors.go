package trainloop

import "errors"

// Errors a training run stops with. They are worded without any front
// end's vocabulary: a command line adds "continue with --resume", a web
// page offers a button.
var (
	// ErrInterrupted: the context was cancelled; the state was saved to
	// the last checkpoint first, so the run can be resumed. The error
	// also matches the context's own error (context.Canceled).
	ErrInterrupted = errors.New("training interrupted")
	// ErrNonFinite: the loss became NaN or infinite; training stopped
	// and the last good checkpoint stays.
	ErrNonFinite = errors.New("loss is not finite")
	// ErrConfigChanged: the checkpoint to resume from was trained with
	// other settings (or other data) than the ones given now; resuming
	// would mix two runs, so only starting over is possible.
	ErrConfigChanged = errors.New("the checkpoint was trained with other settings")
)
