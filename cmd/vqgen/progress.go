package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vqgen/vqgen/app"
)

// field is one key=value shown on a progress line (a loss part, the
// perplexity, a rate).
type field = app.Field

// kv makes a progress field.
func kv(key string, val any) field { return field{Key: key, Value: val} }

func fieldString(f field) string { return f.Key + "=" + formatValue(f.Value) }

// formatValue keeps numbers short and free of exponents where possible, so
// lines stay narrow and easy to scan.
func formatValue(v any) string {
	switch x := v.(type) {
	case float32:
		return formatFloat(float64(x))
	case float64:
		return formatFloat(x)
	case time.Duration:
		return formatDuration(x)
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}

func formatFloat(x float64) string {
	a := math.Abs(x)
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		return strconv.FormatFloat(x, 'g', -1, 64)
	case a >= 1e4 && a < 1e12:
		return strconv.FormatFloat(x, 'f', 0, 64)
	}
	return strconv.FormatFloat(x, 'g', 4, 64)
}

func formatDuration(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d/time.Hour), int(d/time.Minute)%60, int(d/time.Second)%60
	switch {
	case h > 0:
		return fmt.Sprintf("%dh%02dm%02ds", h, m, s)
	case m > 0:
		return fmt.Sprintf("%dm%02ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

// progress reports a long loop. On a terminal it redraws one line at most
// about ten times a second; on anything else (a log file, CI) it prints a
// plain line every `every` steps, since carriage returns make logs
// unreadable.
type progress struct {
	w     io.Writer
	label string
	total int

	tty   bool
	width int // terminal columns, 0 = unknown

	every    int           // plain mode: print every this many steps
	interval time.Duration // terminal mode: minimum time between redraws

	// unitsPerStep and unit turn steps into a throughput field, e.g. a
	// batch of 128 images per step gives "img/s".
	unitsPerStep int
	unit         string

	now       func() time.Time // swapped by tests
	start     time.Time
	base      int  // step at start; rates and ETA count from here
	started   bool // base has been set
	lastDraw  time.Time
	lastStep  int
	lastShown int // last step printed or drawn
	fields    []field
	drawn     bool // terminal mode: a line is on screen
}

// newProgress reports progress to w for a loop of total steps.
func newProgress(w io.Writer, label string, total int) *progress {
	p := &progress{w: w, label: label, total: total, interval: 100 * time.Millisecond, now: time.Now, lastShown: -1}
	if f, ok := w.(*os.File); ok && isTerminal(f.Fd()) {
		p.tty = true
		p.width = termWidth(f.Fd())
	}
	p.every = max(1, total/20)
	p.start = p.now()
	return p
}

// startAt declares that the loop begins with done steps already done (0
// for a fresh one). Without it the first Update is taken to follow one
// step of work, which suits loops counted in steps (a resumed training)
// but not progress counted in items that advance by a batch at a time.
func (p *progress) startAt(done int) { p.base, p.started = done, true }

// setRate makes the bar show units/s for n units per step.
func (p *progress) setRate(n int, unit string) { p.unitsPerStep, p.unit = n, unit }

// Update records that step (1-based, out of total) is done.
func (p *progress) Update(step int, fields ...field) {
	t := p.now()
	if !p.started {
		// A resumed loop starts past 0; the first update follows one
		// step of work.
		p.base, p.started = step-1, true
	}
	p.lastStep = step
	p.fields = append(p.fields[:0], fields...)
	if p.tty {
		if step == p.total || !p.drawn || t.Sub(p.lastDraw) >= p.interval {
			p.draw(t)
		}
		return
	}
	if step%p.every == 0 || step == p.total {
		p.printLine(t)
	}
}

// Printf writes a message line (an evaluation result, a checkpoint note)
// without breaking the bar: on a terminal the bar is erased first and
// redrawn below the message.
func (p *progress) Printf(format string, args ...any) {
	msg := strings.TrimRight(fmt.Sprintf(format, args...), "\n")
	if p.tty && p.drawn {
		fmt.Fprintf(p.w, "\r\x1b[K%s\n", msg)
		p.draw(p.now())
		return
	}
	fmt.Fprintln(p.w, msg)
}

// Done draws the final state and ends the line.
func (p *progress) Done() {
	if !p.started {
		return
	}
	t := p.now()
	if p.tty {
		p.draw(t)
		fmt.Fprintln(p.w)
		p.drawn = false
		return
	}
	if p.lastShown != p.lastStep {
		p.printLine(t)
	}
}

// stats returns the rate fields and the ETA for the current step.
func (p *progress) stats(t time.Time) []field {
	var out []field
	done := p.lastStep - p.base
	el := t.Sub(p.start)
	if done <= 0 || el <= 0 {
		return out
	}
	perSec := float64(done) / el.Seconds()
	if p.unitsPerStep > 0 {
		out = append(out, kv(p.unit+"/s", perSec*float64(p.unitsPerStep)))
	} else {
		out = append(out, kv("it/s", perSec))
	}
	if p.total > p.lastStep {
		eta := time.Duration(float64(p.total-p.lastStep) / perSec * float64(time.Second))
		out = append(out, kv("eta", eta))
	} else {
		out = append(out, kv("took", el))
	}
	return out
}

func (p *progress) fieldText(t time.Time) string {
	var b strings.Builder
	for _, f := range p.fields {
		b.WriteByte(' ')
		b.WriteString(fieldString(f))
	}
	for _, f := range p.stats(t) {
		b.WriteByte(' ')
		b.WriteString(fieldString(f))
	}
	return b.String()
}

func (p *progress) percent() int {
	if p.total <= 0 {
		return 0
	}
	return 100 * p.lastStep / p.total
}

// printLine is the plain-mode format:
//
//	label step 250/1750 (14%) loss=0.1234 ppl=301.2 img/s=812.5 eta=1m02s
func (p *progress) printLine(t time.Time) {
	fmt.Fprintf(p.w, "%s step %d/%d (%d%%)%s\n", p.label, p.lastStep, p.total, p.percent(), p.fieldText(t))
	p.lastShown = p.lastStep
}

const barWidth = 24

func (p *progress) draw(t time.Time) {
	filled := 0
	if p.total > 0 {
		filled = min(barWidth, barWidth*p.lastStep/p.total)
	}
	bar := strings.Repeat("=", filled)
	if filled < barWidth {
		bar += ">" + strings.Repeat(" ", barWidth-filled-1)
	}
	line := fmt.Sprintf("%s %d/%d [%s] %3d%%%s", p.label, p.lastStep, p.total, bar, p.percent(), p.fieldText(t))
	// A line that wraps cannot be redrawn with \r; cut it to the width.
	if p.width > 1 && len(line) > p.width-1 {
		line = line[:p.width-1]
	}
	fmt.Fprintf(p.w, "\r%s\x1b[K", line)
	p.drawn = true
	p.lastDraw = t
	p.lastShown = p.lastStep
}

// signalContext returns a context cancelled by the first SIGINT (Ctrl-C) or
// SIGTERM, so a training loop can save a checkpoint and return. Once it has
// fired, signals get their default action again: a second Ctrl-C kills the
// process at once if saving hangs. stop releases the signal handler.
func signalContext() (ctx context.Context, stop context.CancelFunc) {
	ctx, stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}

// reporter renders an operation's progress (app.Progress) on w: a bar per
// phase, notes as lines.
type reporter struct {
	w   io.Writer
	bar *progress
}

func newReporter(w io.Writer) *reporter { return &reporter{w: w} }

func (r *reporter) Begin(ph app.Phase) {
	r.bar = newProgress(r.w, ph.Name, ph.Total)
	r.bar.startAt(ph.Done)
	if ph.ItemsPerUnit > 0 {
		r.bar.setRate(ph.ItemsPerUnit, ph.Item)
	}
	if ph.Every > 0 {
		r.bar.every = ph.Every
	}
}

func (r *reporter) Update(done int, fields ...app.Field) {
	if r.bar != nil {
		r.bar.Update(done, fields...)
	}
}

func (r *reporter) Note(msg string) {
	if r.bar != nil {
		r.bar.Printf("%s", msg)
		return
	}
	fmt.Fprintln(r.w, msg)
}

func (r *reporter) End() {
	if r.bar != nil {
		r.bar.Done()
		r.bar = nil
	}
}
