//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package main

// Elsewhere (Windows, Plan 9, wasm) output is treated as a plain stream:
// progress then comes as log lines, which every console shows correctly.
func isTerminal(fd uintptr) bool { return false }

func termWidth(fd uintptr) int { return 0 }
