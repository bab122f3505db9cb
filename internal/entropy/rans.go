// Package entropy is vqgen's entropy coder: range-variant asymmetric numeral
// systems (rANS, Duda 2013) with a 64-bit state and 32-bit words, and the
// rule that turns a model's logits into the integer frequencies it codes
// with (Quantize).
//
// # Why rANS
//
// A symbol s of a model whose frequencies f_0..f_{K-1} sum to M = 2^P
// (cumulative c_s = f_0 + ... + f_{s-1}) is coded by the state update
//
//	x' = floor(x / f_s) * M + (x mod f_s) + c_s
//
// which grows x by the factor M/f_s = 1/p(s): log2 x grows by the symbol's
// information. The decoder inverts it from the low P bits of x' alone
// (slot = x' mod M lies in [c_s, c_s+f_s), so it names s), and
// x = f_s * floor(x'/M) + slot - c_s. Renormalisation keeps x in
// [L, 2^32 L) with L = 2^32: the encoder shifts out the low 32 bits of x
// before a symbol that would push it past the top, the decoder shifts a
// word in when x falls below L, in mirror order.
//
// The decoder runs forward and the encoder backward (a stack, not a
// queue). vqgen codes a chunk of grids whose logits come from a batched
// pass over the known codes, so the encoder has every (c_s, f_s) before it
// writes a bit; it keeps them (8 bytes a symbol), then codes them in
// reverse, and the decoder reads symbols in the order the model predicts
// them. A range coder (a FIFO) would stream instead, but it spends a
// division by the total, carry handling and an end-of-stream flush of
// similar size on each symbol; rANS's per-symbol work is one division on
// encode and a multiply-add on decode, and its state doubles as a check:
// a stream that decodes back to the encoder's initial state with every
// word consumed was decoded with the same model it was written with
// (Decoder.Close).
//
// # Overhead
//
// A stream is the final state (8 bytes) followed by the 32-bit words in
// decoding order; an empty stream is the 8-byte initial state. The coded
// size exceeds the information content sum -log2(f_s/M) by the state's
// 64 bits at most plus the loss of the integer state update, at most
// log2(1 + M/L) bits a symbol (2^-8 bits for P = 24) and on average far
// less. TestCodedSizeBound holds every random model to 1% over the
// information content plus 96 bits. Measured (TestOverheadMeasured): 10^5
// symbols of K = 512 models at the default prior's precision (P = 21),
// 611,096.4 bits of information, coded in 76,392 bytes: 40 bits over in
// all, less than the 64-bit state itself, so the per-symbol loss is
// negligible and the fixed cost of a stream is about 8 bytes.
package entropy

import (
	"encoding/binary"
	"errors"
	"fmt"
)

const (
	// ransL is the bottom of the normalised state interval [L, 2^32 L).
	ransL = 1 << 32
	// MaxBits is the largest precision a symbol may be coded with: M/L
	// stays at most 2^-4, so the state update's loss stays small.
	MaxBits = 28
	// StateBytes is the size of a stream's final state, the fixed part of
	// every stream.
	StateBytes = 8
)

// ErrCorrupt is wrapped by every error a Decoder reports about its input.
var ErrCorrupt = errors.New("entropy: corrupt stream")

// Symbol is one coded symbol: frequency Freq starting at cumulative
// frequency Start in a model of total 2^Bits.
type Symbol struct {
	Start, Freq uint32
	Bits        uint8
}

// Encoder collects symbols in decoding order and writes them as one rANS
// stream when Finish is called. The zero value is ready to use.
type Encoder struct {
	syms  []Symbol
	words []uint32
}

// Alloc appends n zero symbols and returns them for the caller to fill in
// any order (each as Put would check it); a caller that computes symbols
// out of decoding order uses it instead of Put.
func (e *Encoder) Alloc(n int) []Symbol {
	e.syms = append(e.syms, make([]Symbol, n)...)
	return e.syms[len(e.syms)-n:]
}

// Reset drops the collected symbols, keeping the buffers.
func (e *Encoder) Reset() { e.syms = e.syms[:0] }

// Len returns the number of symbols collected.
func (e *Encoder) Len() int { return len(e.syms) }

// Put appends a symbol of frequency freq starting at cumulative frequency
// start in a model of total 2^bits. It panics unless 1 <= bits <= MaxBits,
// freq >= 1 and start+freq <= 2^bits: models come from code, not data.
func (e *Encoder) Put(start, freq uint32, bits uint) {
	if bits < 1 || bits > MaxBits || freq == 0 || uint64(start)+uint64(freq) > 1<<bits {
		panic(fmt.Sprintf("entropy: Put(start=%d, freq=%d, bits=%d): need 1 <= bits <= %d, freq >= 1, start+freq <= 2^bits", start, freq, bits, MaxBits))
	}
	e.syms = append(e.syms, Symbol{Start: start, Freq: freq, Bits: uint8(bits)})
}

// Finish codes the collected symbols, appends the stream to dst and resets
// the encoder.
func (e *Encoder) Finish(dst []byte) []byte {
	x := uint64(ransL)
	e.words = e.words[:0]
	for i := len(e.syms) - 1; i >= 0; i-- {
		s := e.syms[i]
		if s.Bits < 1 || s.Bits > MaxBits || s.Freq == 0 || uint64(s.Start)+uint64(s.Freq) > 1<<s.Bits {
			panic(fmt.Sprintf("entropy: symbol %d: start=%d freq=%d bits=%d: need 1 <= bits <= %d, freq >= 1, start+freq <= 2^bits", i, s.Start, s.Freq, s.Bits, MaxBits))
		}
		if s.Freq == 1<<s.Bits {
			continue // probability 1: the update is the identity
		}
		// x must end below 2^64: x' < 2^64 iff x < freq * 2^(64-bits).
		if x>>(64-uint(s.Bits)) >= uint64(s.Freq) {
			e.words = append(e.words, uint32(x))
			x >>= 32
		}
		x = (x/uint64(s.Freq))<<s.Bits + x%uint64(s.Freq) + uint64(s.Start)
	}
	dst = binary.LittleEndian.AppendUint64(dst, x)
	for i := len(e.words) - 1; i >= 0; i-- {
		dst = binary.LittleEndian.AppendUint32(dst, e.words[i])
	}
	e.Reset()
	return dst
}

// Decoder reads a stream written by Encoder.Finish. It never panics on bad
// input: a stream that runs out of words, or a symbol the caller reports
// outside the slot it was found from, sets a sticky error that Err and
// Close return, and decoding goes on with zero words so callers may check
// once at the end.
type Decoder struct {
	x   uint64
	src []byte
	err error
}

// Init starts decoding src, which must hold exactly one stream.
func (d *Decoder) Init(src []byte) error {
	*d = Decoder{}
	if len(src) < StateBytes || (len(src)-StateBytes)%4 != 0 {
		d.err = fmt.Errorf("%w: %d bytes is not an 8-byte state plus whole 32-bit words", ErrCorrupt, len(src))
		return d.err
	}
	d.x = binary.LittleEndian.Uint64(src)
	d.src = src[StateBytes:]
	if d.x < ransL {
		d.err = fmt.Errorf("%w: initial state %#x below 2^32", ErrCorrupt, d.x)
	}
	return d.err
}

// Peek returns the slot of the next symbol in a model of total 2^bits: the
// symbol s to decode is the one with start_s <= slot < start_s + freq_s.
func (d *Decoder) Peek(bits uint) uint32 { return uint32(d.x & (1<<bits - 1)) }

// Advance consumes the symbol (start, freq) that Peek(bits) named.
func (d *Decoder) Advance(start, freq uint32, bits uint) {
	if freq == 1<<bits {
		return
	}
	slot := d.x & (1<<bits - 1)
	if slot < uint64(start) || slot-uint64(start) >= uint64(freq) {
		if d.err == nil {
			d.err = fmt.Errorf("entropy: slot %d outside symbol [%d, %d+%d)", slot, start, start, freq)
		}
		return
	}
	d.x = uint64(freq)*(d.x>>bits) + slot - uint64(start)
	if d.x < ransL {
		var w uint32
		if len(d.src) >= 4 {
			w = binary.LittleEndian.Uint32(d.src)
			d.src = d.src[4:]
		} else if d.err == nil {
			d.err = fmt.Errorf("%w: stream ends early", ErrCorrupt)
		}
		d.x = d.x<<32 | uint64(w)
	}
}

// Err returns the first error met so far.
func (d *Decoder) Err() error { return d.err }

// Close reports whether the stream ended where it should: every word
// consumed and the state back at the encoder's initial value. A stream
// decoded with another model than it was written with almost never passes.
func (d *Decoder) Close() error {
	switch {
	case d.err != nil:
		return d.err
	case len(d.src) != 0:
		return fmt.Errorf("%w: %d bytes left after the last symbol", ErrCorrupt, len(d.src))
	case d.x != ransL:
		return fmt.Errorf("%w: final state %#x, want %#x (wrong model or damaged data)", ErrCorrupt, d.x, uint64(ransL))
	}
	return nil
}
