package lowrank

import (
	"fmt"

	"gonum.org/v1/gonum/mat"
)

// Covariance accumulates the second moment E[x x^T] of a conv's input channels over every spatial
// position of the activations it is given (uncentred: the bias-free factors must also reproduce the
// inputs' mean, which post-ReLU activations have plenty of).
type Covariance struct {
	sum   *mat.SymDense
	count int // pixel vectors accumulated
}

// NewCovariance starts an empty accumulator over channels input channels.
func NewCovariance(channels int) *Covariance {
	return &Covariance{sum: mat.NewSymDense(channels, nil)}
}

// Channels is the dimension.
func (c *Covariance) Channels() int { return c.sum.SymmetricDim() }

// Samples is the number of pixel vectors accumulated.
func (c *Covariance) Samples() int { return c.count }

// AddActivation adds one image's activation laid out channel-major, [channels, pixels] (NCHW without
// the batch dim; any number of spatial dims flattened into pixels).
func (c *Covariance) AddActivation(x []float32, pixels int) error {
	n := c.Channels()
	if len(x) != n*pixels {
		return fmt.Errorf("activation has %d values, want %d channels x %d pixels", len(x), n, pixels)
	}
	data := make([]float64, len(x))
	for i, v := range x {
		data[i] = float64(v)
	}
	c.sum.SymOuterK(1, mat.NewDense(n, pixels, data))
	c.count += pixels
	return nil
}

// Regularised returns the averaged second moment shrunk towards a multiple of the identity:
//
//	Σ = (1-α)·Σ̂ + α·(tr Σ̂ / n)·I,  α = n / (n + N)  (at least MinShrinkage)
//
// for n channels and N accumulated pixel vectors. An estimate from fewer vectors than channels (a
// 7x7 map of 512 channels gives 49 per image) is singular, and a factorisation fitted to it
// would keep only the directions the calibration images happened to excite; shrinking by the
// share n/(n+N) trusts the sample in proportion to its size, and always leaves Σ positive
// definite for the Cholesky factor that Weighted needs.
func (c *Covariance) Regularised() (*mat.SymDense, error) {
	n := c.Channels()
	if c.count == 0 {
		return nil, fmt.Errorf("no activation was accumulated")
	}
	alpha := max(float64(n)/float64(n+c.count), MinShrinkage)
	trace := 0.0
	for i := 0; i < n; i++ {
		trace += c.sum.At(i, i)
	}
	trace /= float64(c.count)
	if trace == 0 {
		return nil, fmt.Errorf("the input activations are all zero")
	}
	out := mat.NewSymDense(n, nil)
	out.ScaleSym((1-alpha)/float64(c.count), c.sum)
	ridge := alpha * trace / float64(n)
	for i := 0; i < n; i++ {
		out.SetSym(i, i, out.At(i, i)+ridge)
	}
	return out, nil
}

// MinShrinkage is the least share of the identity mixed into a covariance, so that directions the
// sample never excited still weigh something.
const MinShrinkage = 1e-3
