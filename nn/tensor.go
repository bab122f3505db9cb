package nn

import "fmt"

// Tensor is a dense row-major float32 array.
type Tensor struct {
	Shape []int
	Data  []float32
}

// NewTensor returns a zeroed tensor of the given shape.
func NewTensor(shape ...int) *Tensor {
	return &Tensor{Shape: append([]int(nil), shape...), Data: make([]float32, numel(shape))}
}

// FromData wraps data (not copied) as a tensor of the given shape.
func FromData(data []float32, shape ...int) *Tensor {
	if numel(shape) != len(data) {
		panic(fmt.Sprintf("nn: FromData: %d values for shape %v", len(data), shape))
	}
	return &Tensor{Shape: append([]int(nil), shape...), Data: data}
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 {
			// Format d, not shape: a shape that reached fmt would escape to
			// the heap on every call, and Ensure must not allocate.
			panic(fmt.Sprintf("nn: negative dimension %d in a shape", d))
		}
		n *= d
	}
	return n
}

// Len is the number of elements.
func (t *Tensor) Len() int { return len(t.Data) }

// Dim returns dimension i; negative i counts from the end.
func (t *Tensor) Dim(i int) int {
	if i < 0 {
		i += len(t.Shape)
	}
	return t.Shape[i]
}

// Zero sets every element to 0.
func (t *Tensor) Zero() { clear(t.Data) }

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{Shape: append([]int(nil), t.Shape...), Data: append([]float32(nil), t.Data...)}
}

// SameShape reports whether t and u have equal shapes.
func (t *Tensor) SameShape(u *Tensor) bool {
	if len(t.Shape) != len(u.Shape) {
		return false
	}
	for i := range t.Shape {
		if t.Shape[i] != u.Shape[i] {
			return false
		}
	}
	return true
}

func (t *Tensor) String() string { return fmt.Sprintf("Tensor%v", t.Shape) }

// Ensure returns a tensor of the given shape, reusing t's storage when it is
// large enough: the buffer-reuse primitive behind allocation-free steps. t may
// be nil. The contents are not cleared.
func Ensure(t *Tensor, shape ...int) *Tensor {
	n := numel(shape)
	if t == nil {
		return NewTensor(shape...)
	}
	if cap(t.Data) < n {
		t.Data = make([]float32, n)
	}
	t.Data = t.Data[:n]
	if len(t.Shape) != len(shape) {
		t.Shape = make([]int, len(shape))
	}
	copy(t.Shape, shape)
	return t
}

// EnsureZero is Ensure followed by Zero.
func EnsureZero(t *Tensor, shape ...int) *Tensor {
	t = Ensure(t, shape...)
	t.Zero()
	return t
}

// Scratch returns a float32 slice of length n, reusing buf's storage when it
// is large enough.
func Scratch(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}
