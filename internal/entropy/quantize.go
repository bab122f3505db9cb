package entropy

// # From logits to frequencies
//
// Encoder and decoder must derive the same integers from the same logits on
// every machine, so Quantize uses one float32 subtraction and one float32
// multiplication per logit (IEEE 754 rounds both the same everywhere, and
// Go never fuses a lone product) and integers after that:
//
//	m   = max_i l_i                                  (the first maximum: i*)
//	u_i = min(trunc((m - l_i) * 1024 log2(e)), 2^15-1)  log2(p_i/p_i*) in 1/1024 bits
//	w_i = T[u_i mod 1024] >> (u_i / 1024)            T[j] = round(2^30 * 2^(-j/1024))
//	W   = sum_i w_i                                  (exact, uint64)
//	R   = floor((2^P - K) * 2^32 / W)
//	f_i = 1 + floor(w_i * R / 2^32),   f_i* += 2^P - sum_i f_i
//
// so f_i >= 1, the f_i sum to exactly 2^P, and f_i - 1 is proportional to
// e^(l_i - m) up to a truncation of at most 1/1024 bit in the exponent and
// one count in f_i; the counts the floors drop go to the most probable
// symbol. The table T is computed with math/big (pure integer arithmetic,
// identical everywhere) and pinned by a test. Non-finite logits still give
// a valid model: NaN and -Inf count as least likely, and when no logit is
// finite (or the maximum is +Inf) every symbol gets 2^P/K.
//
// Bits(K) picks P: at least ceil(log2 K) + 8 as the format requires, and
// 12 more bits where MaxBits allows, so that symbols at the minimum count
// take little mass from likely ones (K/2^P).

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"sync"

	"github.com/vqgen/vqgen/kernels"
)

const (
	// TableBits is the resolution of the exponent: 2^-TableBits bits.
	TableBits = 10
	tableSize = 1 << TableBits
	tableOne  = 1 << 30
	uMax      = 32<<TableBits - 1
)

// uScale is 1024*log2(e) as a float32; the constant's bits are part of the
// format.
const uScale float32 = tableSize * math.Log2E

var expTable = sync.OnceValue(func() *[tableSize]uint32 {
	// 2^(-j/1024) = prod over the set bits b of j of 2^(-2^b/1024), each
	// factor a repeated square root of 1/2, at 256 bits of precision, then
	// rounded half up to an integer of 30 fractional bits.
	const prec = 256
	var roots [TableBits]*big.Float // roots[b] = 2^(-2^b/1024)
	r := new(big.Float).SetPrec(prec).SetFloat64(0.5)
	for b := TableBits - 1; b >= 0; b-- {
		r = new(big.Float).SetPrec(prec).Sqrt(r)
		roots[b] = r
	}
	var t [tableSize]uint32
	half := new(big.Float).SetPrec(prec).SetFloat64(0.5)
	for j := range tableSize {
		v := new(big.Float).SetPrec(prec).SetInt64(tableOne)
		for b := range TableBits {
			if j>>b&1 != 0 {
				v.Mul(v, roots[b])
			}
		}
		v.Add(v, half)
		n, _ := v.Int64() // truncates toward zero: floor for v > 0
		t[j] = uint32(n)
	}
	return &t
})

// tableDigest is the SHA-256 of the table's little-endian bytes, so a test
// can pin it.
func tableDigest() [32]byte {
	t := expTable()
	b := make([]byte, 0, 4*tableSize)
	for _, v := range t {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return sha256.Sum256(b)
}

// Bits returns the precision P that Quantize uses for an alphabet of k
// symbols: min(ceil(log2 k) + 12, MaxBits), never below ceil(log2 k) + 8.
// It panics if k < 1 or k > 2^(MaxBits-8).
func Bits(k int) uint {
	if k < 1 || k > 1<<(MaxBits-8) {
		panic(fmt.Sprintf("entropy: Bits(%d): alphabet size must be in [1, 2^%d]", k, MaxBits-8))
	}
	b := uint(bits.Len(uint(k - 1)))
	return min(b+12, MaxBits)
}

// Quantize sets freq[i] (len(freq) == len(logits) == K >= 1) to integer
// frequencies that sum to 2^bits, each at least 1, following the softmax of
// logits by the rule in this file's comment. It panics if K > 2^bits or
// bits > MaxBits.
func Quantize(freq []uint32, logits []float32, bits uint) {
	k := len(logits)
	if len(freq) != k || k < 1 || bits > MaxBits || uint64(k) > 1<<bits {
		panic(fmt.Sprintf("entropy: Quantize: %d frequencies for %d logits at %d bits", len(freq), k, bits))
	}
	total := uint64(1) << bits
	// The loops run in package kernels (vector code where the CPU has it,
	// the same integers either way).
	m, top := kernels.QuantMax(logits)
	sum := kernels.QuantWeights(freq, logits, m, uScale, expTable())
	if sum == 0 || math.IsInf(float64(m), 1) {
		// No finite maximum: uniform.
		q, r := uint32(total/uint64(k)), int(total%uint64(k))
		for i := range freq {
			freq[i] = q
			if i < r {
				freq[i]++
			}
		}
		return
	}
	// sum >= T[0] = 2^30 (the top logit's weight), so scale < 2^30.
	scale := (total - uint64(k)) << 32 / sum
	used := kernels.QuantScale(freq, uint32(scale))
	freq[top] += uint32(total - used)
}

// Cumulate sets cum[i] = freq[0] + ... + freq[i-1] for i <= len(freq);
// len(cum) must be len(freq)+1.
func Cumulate(cum, freq []uint32) {
	cum = cum[:len(freq)+1]
	var s uint32
	for i, f := range freq {
		cum[i] = s
		s += f
	}
	cum[len(freq)] = s
}

// Find returns the symbol s with cum[s] <= slot < cum[s+1], for cum from
// Cumulate over frequencies >= 1 and slot < cum[len(cum)-1].
func Find(cum []uint32, slot uint32) int {
	lo, hi := 0, len(cum)-1 // cum[lo] <= slot < cum[hi]
	for hi-lo > 1 {
		mid := int(uint(lo+hi) >> 1)
		if cum[mid] <= slot {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// QuantizeCounts sets freq[i] (len(freq) == len(counts) == K >= 1) to
// frequencies summing to 2^bits, each at least 1, proportional to counts
// (each >= 1): f_i = 1 + floor(c_i R / 2^32) with R = floor((2^bits - K)
// 2^32 / sum c), the remainder to the first largest count. It is for
// adaptive models of small alphabets (class labels) and uses integers
// only. It panics if K > 2^bits, bits > MaxBits, a count is 0 or the
// counts sum past 2^32.
func QuantizeCounts(freq, counts []uint32, bits uint) {
	k := len(counts)
	if len(freq) != k || k < 1 || bits > MaxBits || uint64(k) > 1<<bits {
		panic(fmt.Sprintf("entropy: QuantizeCounts: %d frequencies for %d counts at %d bits", len(freq), k, bits))
	}
	total := uint64(1) << bits
	var sum uint64
	top := 0
	for i, c := range counts {
		if c == 0 {
			panic("entropy: QuantizeCounts: a count is 0")
		}
		sum += uint64(c)
		if c > counts[top] {
			top = i
		}
	}
	if sum > 1<<32 {
		panic("entropy: QuantizeCounts: counts sum past 2^32")
	}
	scale := (total - uint64(k)) << 32 / sum
	var used uint64
	for i, c := range counts {
		f := 1 + uint32(uint64(c)*scale>>32)
		freq[i] = f
		used += uint64(f)
	}
	freq[top] += uint32(total - used)
}
