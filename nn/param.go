package nn

// Param is a learnable tensor and its gradient. Name follows PyTorch's
// state_dict conventions ("enc.conv1.weight"), so checkpoints load into an
// equivalent PyTorch module.
type Param struct {
	Name string
	Data *Tensor
	Grad *Tensor
}

// NewParam returns a zero-initialised parameter of the given shape.
func NewParam(name string, shape ...int) *Param {
	return &Param{Name: name, Data: NewTensor(shape...), Grad: NewTensor(shape...)}
}

// ZeroGrad clears the gradients of ps.
func ZeroGrad(ps []*Param) {
	for _, p := range ps {
		p.Grad.Zero()
	}
}

// Prefix renames ps in place by prepending prefix+"." and returns them; it is
// how a model names the parameters of its sub-layers.
func Prefix(prefix string, ps []*Param) []*Param {
	for _, p := range ps {
		p.Name = prefix + "." + p.Name
	}
	return ps
}

// newWeightBias makes a layer's weight of the given shape and, when bias is
// set, a bias of biasLen values, both drawn the way PyTorch initialises Conv
// and Linear layers: U(-b, b) with b = 1/sqrt(fanIn). The draw order (weight,
// then bias) is PyTorch's too.
func newWeightBias(name string, fanIn int, bias bool, biasLen int, rng *RNG, shape ...int) (w, b *Param) {
	w = NewParam(name+".weight", shape...)
	rng.KaimingUniform(w.Data.Data, fanIn)
	if bias {
		b = NewParam(name+".bias", biasLen)
		rng.KaimingUniform(b.Data.Data, fanIn)
	}
	return w, b
}

// weightBias lists a weight and its optional bias.
func weightBias(w, b *Param) []*Param {
	if b == nil {
		return []*Param{w}
	}
	return []*Param{w, b}
}
