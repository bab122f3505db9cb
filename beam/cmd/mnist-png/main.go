// Command mnist-png writes MNIST images as PNG files in class folders
// (DIR/<digit>/<index>.png), the collection vqgen-beam's measurements
// encode:
//
//	go run ./cmd/mnist-png -out /tmp/mnist-png -split train
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/vqgen/vqgen/beam/internal/mnistpng"
)

func main() {
	out := flag.String("out", "", "folder to write (created)")
	split := flag.String("split", "train", "MNIST split: train or test")
	n := flag.Int("n", 0, "write only the first n images (0: all)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "mnist-png: give -out DIR")
		os.Exit(2)
	}
	wrote, err := mnistpng.Write(*out, *split, *n)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mnist-png:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %d MNIST %s images to %s\n", wrote, *split, *out)
}
