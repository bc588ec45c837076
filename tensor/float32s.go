package tensor

// AsFloat32 returns the elements as float32: the tensor's own data for a float32 tensor (do not
// modify it), else a converted copy.
func (t *Tensor) AsFloat32() []float32 {
	if t.DType == Float {
		return t.F32[:t.Len()]
	}
	f := t.Float64s()
	out := make([]float32, len(f))
	for i, v := range f {
		out[i] = float32(v)
	}
	return out
}
