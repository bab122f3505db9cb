package vqbeam

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners"

	// The runners --runner can name. prism runs the pipeline in this
	// process; the others submit it to a cluster or a service.
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/dataflow"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/flink"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/spark"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/universal"
)

// DefaultRunner runs pipelines in this process.
const DefaultRunner = "prism"

// RunnerName is the runner Run uses: Beam's --runner flag, or DefaultRunner.
func RunnerName() string {
	if *runners.Runner == "" {
		return DefaultRunner
	}
	return *runners.Runner
}

// InProcess reports whether the pipeline's workers run in this process, as
// they do on prism without an --endpoint.
func InProcess() bool {
	return RunnerName() == DefaultRunner && (*jobopts.Endpoint == "" || prismStarted)
}

// prismStarted is set once a pipeline ran on an in-process prism, which
// then sets --endpoint to itself for the pipelines after it.
var prismStarted bool

// loopback reports whether the workers will run in this process: Beam's
// LOOPBACK environment, which prism in process uses unless told otherwise.
func loopback() bool {
	env := strings.ToLower(*jobopts.EnvironmentType)
	return env == "loopback" || (env == "" && InProcess())
}

// Run executes p on RunnerName(). When the workers run in other processes
// and no worker binary was named (--worker_binary), a linux/amd64
// vqgen-beam ships itself, so a released binary needs no Go toolchain or source tree;
// elsewhere Beam cross-compiles the worker from source.
func Run(ctx context.Context, p *beam.Pipeline) (beam.PipelineResult, error) {
	if !beam.Initialized() {
		beam.Init()
	}
	quietLogs()
	if !loopback() && *jobopts.WorkerBinary == "" && runtime.GOOS == "linux" && runtime.GOARCH == "amd64" {
		if self, err := os.Executable(); err == nil {
			*jobopts.WorkerBinary = self
		}
	}
	progress.done.Store(0)
	if InProcess() {
		prismStarted = true
	}
	res, err := beam.Run(ctx, RunnerName(), p)
	if err != nil && !Verbose {
		err = conciseError(err)
	}
	return res, err
}

// conciseError keeps what a failed DoFn said (say, which image would not
// decode) from a runner's report, which wraps it in the whole execution
// plan of the failed bundle. --verbose keeps the report.
func conciseError(err error) error {
	msg := err.Error()
	i := strings.LastIndex(msg, "caused by:\n")
	if i < 0 {
		return err
	}
	rest := msg[i+len("caused by:\n"):]
	if j := strings.Index(rest, "] failed:\n"); j >= 0 {
		rest = rest[j+len("] failed:\n"):]
	}
	if rest = strings.TrimSpace(rest); rest == "" {
		return err
	}
	return errors.New(rest)
}

// Verbose keeps the runners' logs (prism's job, stage and error messages)
// on standard error, and a failed pipeline's whole report in its error;
// by default the logs are off and the error is what the failing step said.
var Verbose bool

func quietLogs() {
	if Verbose {
		return
	}
	// Failures come back from Run as its error; the runner's own error
	// logs would only say the same thing at more length.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError + 1})))
}

// progress counts the images (or samples) the workers of this process have
// finished, for a progress line when the pipeline runs in process. Workers
// on a cluster count in their own processes; their runner's UI shows it.
var progress struct {
	done, total atomic.Int64
}

// Progress returns the work finished so far by workers in this process and
// the total planned (0 until known).
func Progress() (done, total int64) { return progress.done.Load(), progress.total.Load() }

// written remembers the outputs the workers of this process finished, for
// Summarize. (Beam's counters would carry this from any runner, but prism
// drops the final counts of bundles that finish before it has learnt the
// counters' names, so they undercount.)
var written struct {
	sync.Mutex
	byPath map[string]ShardResult
}

func recordWritten(r ShardResult) {
	written.Lock()
	defer written.Unlock()
	if written.byPath == nil {
		written.byPath = map[string]ShardResult{}
	}
	written.byPath[r.Path] = r
}

// Summary is what a pipeline wrote.
type Summary struct {
	// Images counts the images (or samples) in the outputs; -1 when some
	// were written by workers in other processes, whose counts Summarize
	// does not see.
	Images int64
	Files  int64
	Bytes  int64
}

// Summarize totals the outputs of a finished pipeline: the counts kept by
// workers in this process, else the files' sizes on their file system.
func Summarize(ctx context.Context, outputs []string) (Summary, error) {
	written.Lock()
	defer written.Unlock()
	var s Summary
	for _, p := range outputs {
		if r, ok := written.byPath[p]; ok {
			s.Files++
			s.Bytes += r.Bytes
			if s.Images >= 0 {
				s.Images += r.Images
			}
			continue
		}
		size, err := fileSize(ctx, p)
		if err != nil {
			return s, err
		}
		s.Files++
		s.Bytes += size
		s.Images = -1
	}
	return s, nil
}
