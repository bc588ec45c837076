// Package lowrank factorises a convolution weight over its input channels, for the bottleneck
// rewrite: a conv whose weight, seen as a matrix A of (C_out*K) rows by C_in columns (K the number
// of kernel taps), is close to rank r equals a 1x1 conv C_in -> r followed by the original conv
// r -> C_out.
//
// A factorisation is A ≈ Left_r · Right_r, with Left_r (C_out*K x r) the weight of the KxK conv and
// Right_r (r x C_in) the weight of the 1x1 conv. Two kinds:
//
//   - Plain: truncated SVD of A, minimising the weight error ||A - A_r||_F.
//   - Weighted: with the input channels' covariance Σ = E[x x^T], the SVD of A·L where Σ = L·L^T
//     (Cholesky), mapped back through L^-1; it minimises E||A x - A_r x||² summed over the kernel's
//     taps, which is the layer's output error when the taps' inputs are uncorrelated (Zhang et al.
//     2015, "Accelerating Very Deep Convolutional Networks", the linear, asymmetric-free variant).
//
// Everything is float64 (gonum); callers store the factors as float32.
package lowrank

import (
	"fmt"
	"math"
	"sync"

	"gonum.org/v1/gonum/mat"
)

// Float32Epsilon is the spacing of float32 numbers at 1 (2^-23).
const Float32Epsilon = 1.0 / (1 << 23)

// ExactTailTolerance bounds what the exact (numerical-rank) policy may discard: the Frobenius norm
// of the dropped singular values, relative to the largest one. Verification accepts errors up to
// 1e-4 of an output's scale (float32 reassociation is ~1e-6); dropping at most 1e-5 of the weight's
// spectral norm keeps a layer's output change an order of magnitude under that for inputs that are
// not aligned with the dropped directions.
const ExactTailTolerance = 1e-5

// WeightMatrix views a conv weight [C_out, C_in, taps...] (flattened, row-major) as the matrix A
// with A[o*taps+s, c] = W[o, c, s]: rows are output channel and kernel tap, columns input channels,
// so that the rank of A is the number of input-channel combinations the conv really uses.
func WeightMatrix(w []float64, cout, cin, taps int) *mat.Dense {
	if len(w) != cout*cin*taps {
		panic(fmt.Sprintf("lowrank.WeightMatrix: %d values for [%d, %d, %d]", len(w), cout, cin, taps))
	}
	a := mat.NewDense(cout*taps, cin, nil)
	raw := a.RawMatrix()
	for o := 0; o < cout; o++ {
		for c := 0; c < cin; c++ {
			src := w[(o*cin+c)*taps : (o*cin+c+1)*taps]
			for s, v := range src {
				raw.Data[(o*taps+s)*raw.Stride+c] = v
			}
		}
	}
	return a
}

// ConvWeights turns the factors into the two convs' weights, flattened row-major: reduce is the
// 1x1 conv's [r, C_in] (append 1s to its shape for the kernel dims), expand the KxK conv's
// [C_out, r, taps].
func ConvWeights(left, right mat.Matrix, cout, taps int) (reduce, expand []float32) {
	m, r := left.Dims()
	if m != cout*taps {
		panic(fmt.Sprintf("lowrank.ConvWeights: left has %d rows, want %d*%d", m, cout, taps))
	}
	_, cin := right.Dims()
	reduce = make([]float32, r*cin)
	for j := 0; j < r; j++ {
		for c := 0; c < cin; c++ {
			reduce[j*cin+c] = float32(right.At(j, c))
		}
	}
	expand = make([]float32, cout*r*taps)
	for o := 0; o < cout; o++ {
		for s := 0; s < taps; s++ {
			for j := 0; j < r; j++ {
				expand[(o*r+j)*taps+s] = float32(left.At(o*taps+s, j))
			}
		}
	}
	return reduce, expand
}

// SingularValues are the singular values of A, largest first, computed without the singular
// vectors: enough to decide a rank, at about half the cost of a factorisation.
func SingularValues(a *mat.Dense) ([]float64, error) {
	var svd mat.SVD
	if !svd.Factorize(a, mat.SVDNone) {
		r, c := a.Dims()
		return nil, fmt.Errorf("SVD of the %dx%d weight matrix did not converge", r, c)
	}
	return svd.Values(nil), nil
}

// Factorisation holds every rank's factors at once: the rank-r factors are the first r columns of
// left and the first r rows of right, so trying many ranks costs one decomposition.
type Factorisation struct {
	// Values are the singular values, largest first: of A (plain) or of A·L (weighted).
	Values []float64
	// Weighted tells which kind this is.
	Weighted bool

	a      *mat.Dense // the weight matrix
	scaled mat.Matrix // A·L (A when plain)
	v      *mat.Dense // right singular vectors of A·L
	once   sync.Once  // computes left on first use
	left   *mat.Dense // all-rank factors: left m x k, right k x n, k = min(m, n)
	right  *mat.Dense
}

// Plain is the truncated-SVD factorisation of A: Left_r = U_r·S_r (= A·V_r), Right_r = V_r^T.
func Plain(a *mat.Dense) (*Factorisation, error) {
	return factorise(a, nil)
}

// Weighted is the factorisation that minimises E||A x - A_r x||² for inputs x with second-moment
// matrix cov (n x n, positive definite: see Covariance.Regularised). With cov = L·L^T and the SVD
// A·L = U S V^T: Left_r = A·L·V_r, Right_r = V_r^T·L^-1. The best rank-r approximation of A·L maps
// back to the best A_r under that error, since E||(A - A_r) x||² = ||(A - A_r)·L||_F².
func Weighted(a *mat.Dense, cov *mat.SymDense) (*Factorisation, error) {
	_, n := a.Dims()
	if cov.SymmetricDim() != n {
		return nil, fmt.Errorf("covariance is %dx%[1]d, the weight has %d input channels", cov.SymmetricDim(), n)
	}
	var chol mat.Cholesky
	if !chol.Factorize(cov) {
		return nil, fmt.Errorf("the input covariance is not positive definite; regularise it first")
	}
	var l mat.TriDense
	chol.LTo(&l)
	return factorise(a, &l)
}

// factorise does the SVD of A·L (L nil: the identity) and prepares the all-rank factors.
func factorise(a *mat.Dense, l *mat.TriDense) (*Factorisation, error) {
	m, n := a.Dims()
	scaled := mat.Matrix(a)
	if l != nil {
		var al mat.Dense
		al.Mul(a, l)
		scaled = &al
	}
	var svd mat.SVD
	// Only V is needed (Left = (A·L)·V), and for the usual tall A (C_out*K >> C_in) computing U
	// would cost several times the rest.
	if !svd.Factorize(scaled, mat.SVDThinV) {
		return nil, fmt.Errorf("SVD of the %dx%d weight matrix did not converge", m, n)
	}
	f := &Factorisation{Values: svd.Values(nil), Weighted: l != nil, a: a, scaled: scaled, v: &mat.Dense{}}
	svd.VTo(f.v)
	f.right = &mat.Dense{}
	if l == nil {
		f.right.CloneFrom(f.v.T())
	} else {
		// Right = V^T·L^-1, i.e. the solution X of L^T·X^T = V.
		var xt mat.Dense
		if err := xt.Solve(l.T(), f.v); err != nil {
			return nil, fmt.Errorf("mapping the factors back through the covariance: %w", err)
		}
		f.right.CloneFrom(xt.T())
	}
	return f, nil
}

// leftFactors computes Left = (A·L)·V once, when factors are first asked for: a caller that only
// needs the singular values (a layer the policy declines) never pays for it.
func (f *Factorisation) leftFactors() *mat.Dense {
	f.once.Do(func() {
		f.left = &mat.Dense{}
		f.left.Mul(f.scaled, f.v)
	})
	return f.left
}

// FullRank is the largest useful rank, min(rows, cols).
func (f *Factorisation) FullRank() int { return len(f.Values) }

// Factors returns the rank-r factors (views into the factorisation: do not modify).
func (f *Factorisation) Factors(r int) (left, right mat.Matrix) {
	m, k := f.leftFactors().Dims()
	_, n := f.right.Dims()
	if r < 1 || r > k {
		panic(fmt.Sprintf("lowrank: rank %d out of 1..%d", r, k))
	}
	return f.left.Slice(0, m, 0, r), f.right.Slice(0, r, 0, n)
}

// WeightError is ||A - A_r||_F / ||A||_F for the rank-r factors.
func (f *Factorisation) WeightError(r int) float64 {
	if !f.Weighted {
		// A truncated SVD drops exactly the tail of the spectrum.
		if total := TailNorm(f.Values, 0); total > 0 {
			return TailNorm(f.Values, r) / total
		}
		return 0
	}
	left, right := f.Factors(r)
	var diff mat.Dense
	diff.Mul(left, right)
	diff.Sub(f.a, &diff)
	norm := mat.Norm(f.a, 2)
	if norm == 0 {
		return 0
	}
	return mat.Norm(&diff, 2) / norm
}

// NumericalRank is the exact policy's rank of a rows x cols matrix with these singular values
// (largest first): the count of values above max(rows, cols)·ε_float32·σ_max (the LAPACK/NumPy
// matrix_rank convention, at float32 precision since the weights are float32), raised if needed so
// that the dropped values' Frobenius norm stays within ExactTailTolerance·σ_max. For wide layers the
// first threshold alone could drop hundreds of values near 5e-4·σ_max, too much for verification.
func NumericalRank(values []float64, rows, cols int) int {
	if len(values) == 0 || values[0] == 0 {
		return 0
	}
	threshold := values[0] * float64(max(rows, cols)) * Float32Epsilon
	r := 0
	for r < len(values) && values[r] > threshold {
		r++
	}
	for r < len(values) && TailNorm(values, r) > ExactTailTolerance*values[0] {
		r++
	}
	return r
}

// TailNorm is the Frobenius norm of the singular values dropped at rank r.
func TailNorm(values []float64, r int) float64 {
	sum := 0.0
	for _, v := range values[min(r, len(values)):] {
		sum += v * v
	}
	return math.Sqrt(sum)
}

// EnergyRank is the smallest rank keeping at least share (0..1] of the sum of squared singular
// values.
func EnergyRank(values []float64, share float64) int {
	total := 0.0
	for _, v := range values {
		total += v * v
	}
	kept := 0.0
	for r, v := range values {
		kept += v * v
		// The small slack keeps share = 1 reachable despite rounding in the sums.
		if kept >= share*total*(1-1e-12) {
			return r + 1
		}
	}
	return len(values)
}
