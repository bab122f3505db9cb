package nn

import "github.com/vqgen/vqgen/kernels"

// Element-wise activations run over every hidden unit of every position, so
// calling float64 math.Exp and math.Erf there costs more than the matrix
// products around them (a profile of the Transformer prior showed 58% of a
// training step in GELU). These float32 versions are accurate to a few ulps
// (tests bound them against the float64 functions). They live in package
// kernels, next to the vector kernels (kernels.GELU, kernels.Tanh, ...) that
// evaluate the same approximations 16 lanes at a time, so that single values
// here and slices there agree.

// Exp32 returns e^x (kernels.Exp32): range reduction by ln2, a degree-6
// polynomial, 0 below -87.3 and +Inf above ln(MaxFloat32).
func Exp32(x float32) float32 { return kernels.Exp32(x) }

// Erf32 returns erf(x) by Eigen's float32 rational approximation
// (kernels.Erf32).
func Erf32(x float32) float32 { return kernels.Erf32(x) }

// Tanh32 returns tanh(x) = 1 - 2/(e^(2x)+1), odd-symmetric (kernels.Tanh32).
func Tanh32(x float32) float32 { return kernels.Tanh32(x) }

// Sigmoid32 returns 1/(1+e^-x) (kernels.Sigmoid32).
func Sigmoid32(x float32) float32 { return kernels.Sigmoid32(x) }
