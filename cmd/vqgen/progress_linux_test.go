package main

import (
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestTerminalDetection(t *testing.T) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := unix.IoctlSetWinsize(int(m.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 77}); err != nil {
		t.Fatal(err)
	}
	if !isTerminal(m.Fd()) {
		t.Fatal("pseudo-terminal not detected")
	}
	if w := termWidth(m.Fd()); w != 77 {
		t.Errorf("width %d, want 77", w)
	}
	if p := newProgress(m, "x", 10); !p.tty || p.width != 77 {
		t.Errorf("progress on a terminal: tty=%v width=%d", p.tty, p.width)
	}
}

func TestSignalContext(t *testing.T) {
	ctx, stop := signalContext()
	defer stop()
	if ctx.Err() != nil {
		t.Fatal("cancelled before any signal")
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("SIGTERM did not cancel the context")
	}
}
