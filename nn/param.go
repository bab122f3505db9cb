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
