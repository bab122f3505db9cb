// Package progress is the small interface long operations report through,
// so that one operation can drive a terminal bar, a web job's status or a
// test's recorder alike. Package app re-exports it as app.Progress; the
// training loop and the application layer both report through it.
//
// An operation announces each phase of its work with Begin (what it is and
// how many units it counts), reports the units done with Update, adds
// free-text lines with Note, and closes the phase with End. Phases do not
// nest: a pipeline announces its stages with Note and each long loop inside
// a stage with its own Begin/End pair.
package progress

// Reporter receives an operation's progress. Calls come from the
// goroutine running the operation, one at a time; an implementation that
// is read from elsewhere (a web handler polling a job) does its own
// locking.
type Reporter interface {
	// Begin starts a phase of work.
	Begin(Phase)
	// Update says that done of the phase's Total units are finished;
	// fields are named values to show beside it (a loss, a rate).
	Update(done int, fields ...Field)
	// Note is a line for the user: an evaluation result, a stage that
	// was skipped, a file written.
	Note(msg string)
	// End closes the current phase.
	End()
}

// Phase describes one loop of work.
type Phase struct {
	// Name is a short label: "vqvae", "encode codes-train.vqc", "sample".
	Name string
	// Total is the number of units the phase counts (training steps,
	// images, grid cells); 0 when unknown until the first Update.
	Total int
	// Done units were finished before the phase began (a resumed
	// training starts at its checkpoint's step): rates and time
	// estimates count from there.
	Done int
	// ItemsPerUnit and Item turn units into a throughput: a training
	// step of a batch of 128 images is ItemsPerUnit 128, Item "img".
	// Zero ItemsPerUnit shows units per second.
	ItemsPerUnit int
	Item         string
	// Every suggests how often a line-by-line log should print (every
	// this many units); 0 leaves it to the renderer.
	Every int
}

// Field is a named value shown with an update.
type Field struct {
	Key   string
	Value any
}

// F makes a Field.
func F(key string, value any) Field { return Field{key, value} }

// Nop discards everything; operations use it when given a nil Reporter.
type Nop struct{}

func (Nop) Begin(Phase)          {}
func (Nop) Update(int, ...Field) {}
func (Nop) Note(string)          {}
func (Nop) End()                 {}

// Or returns r, or Nop when r is nil.
func Or(r Reporter) Reporter {
	if r == nil {
		return Nop{}
	}
	return r
}
