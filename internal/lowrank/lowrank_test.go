package lowrank

import (
	"math"
	"math/rand"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// lowRankWeight makes a conv weight [cout, cin, taps] of exact rank r over its input channels, as
// float32 values (the rounding a stored model has).
func lowRankWeight(rng *rand.Rand, cout, cin, taps, r int) []float64 {
	left := randomDense(rng, cout*taps, r, 1)
	right := randomDense(rng, r, cin, 1)
	var a mat.Dense
	a.Mul(left, right)
	w := make([]float64, cout*cin*taps)
	for o := 0; o < cout; o++ {
		for c := 0; c < cin; c++ {
			for s := 0; s < taps; s++ {
				w[(o*cin+c)*taps+s] = float64(float32(a.At(o*taps+s, c) / math.Sqrt(float64(r))))
			}
		}
	}
	return w
}

func randomDense(rng *rand.Rand, rows, cols int, scale float64) *mat.Dense {
	d := mat.NewDense(rows, cols, nil)
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			d.Set(i, j, rng.NormFloat64()*scale)
		}
	}
	return d
}

// reconstruct multiplies the two convs' weights back into one [cout, cin, taps] weight.
func reconstruct(reduce, expand []float32, cout, cin, taps, r int) []float64 {
	w := make([]float64, cout*cin*taps)
	for o := 0; o < cout; o++ {
		for s := 0; s < taps; s++ {
			for j := 0; j < r; j++ {
				e := float64(expand[(o*r+j)*taps+s])
				for c := 0; c < cin; c++ {
					w[(o*cin+c)*taps+s] += e * float64(reduce[j*cin+c])
				}
			}
		}
	}
	return w
}

func maxRelDiff(got, want []float64) float64 {
	worst, scale := 0.0, 0.0
	for i := range want {
		worst = max(worst, math.Abs(got[i]-want[i]))
		scale = max(scale, math.Abs(want[i]))
	}
	return worst / scale
}

func TestExactLowRankIsFoundAndReproduced(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	const cout, cin, taps, rank = 48, 64, 9, 12
	w := lowRankWeight(rng, cout, cin, taps, rank)
	a := WeightMatrix(w, cout, cin, taps)
	f, err := Plain(a)
	if err != nil {
		t.Fatal(err)
	}
	if got := NumericalRank(f.Values, cout*taps, cin); got != rank {
		t.Fatalf("numerical rank %d, want %d (values around the cut: %v)", got, rank, f.Values[rank-2:rank+2])
	}
	left, right := f.Factors(rank)
	reduce, expand := ConvWeights(left, right, cout, taps)
	if d := maxRelDiff(reconstruct(reduce, expand, cout, cin, taps, rank), w); d > 1e-5 {
		t.Errorf("rank-%d factors reproduce the weight within %.3g of its scale, want <= 1e-5", rank, d)
	}
	if e := f.WeightError(rank); e > 1e-6 {
		t.Errorf("weight error at the exact rank is %.3g", e)
	}
}

func TestRandomWeightIsFullRank(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	const cout, cin, taps = 32, 40, 9
	w := make([]float64, cout*cin*taps)
	for i := range w {
		w[i] = float64(float32(rng.NormFloat64()))
	}
	f, err := Plain(WeightMatrix(w, cout, cin, taps))
	if err != nil {
		t.Fatal(err)
	}
	if got := NumericalRank(f.Values, cout*taps, cin); got != cin {
		t.Errorf("numerical rank %d of a random %dx%d matrix, want %d", got, cout*taps, cin, cin)
	}
}

func TestNumericalRankKeepsAWideTail(t *testing.T) {
	// 400 values at 3e-4 of the largest are below max(m,n)·ε32 for a 4608-row matrix, but together
	// they are 6e-3 of it: dropping them would not pass verification.
	values := []float64{1}
	for i := 0; i < 400; i++ {
		values = append(values, 3e-4)
	}
	if got := NumericalRank(values, 4608, 401); got != 401 {
		t.Errorf("rank %d, want 401 (the tail is too heavy to drop)", got)
	}
	values = append([]float64{1, 0.5}, make([]float64, 100)...)
	for i := 2; i < len(values); i++ {
		values[i] = 1e-9
	}
	if got := NumericalRank(values, 4608, 102); got != 2 {
		t.Errorf("rank %d, want 2", got)
	}
}

func TestEnergyRank(t *testing.T) {
	values := []float64{3, 2, 1, 1} // squares 9 4 1 1, total 15
	for _, c := range []struct {
		share float64
		want  int
	}{{0.5, 1}, {0.6, 1}, {0.61, 2}, {13.0 / 15, 2}, {0.9, 3}, {1, 4}} {
		if got := EnergyRank(values, c.share); got != c.want {
			t.Errorf("EnergyRank(%v) = %d, want %d", c.share, got, c.want)
		}
	}
}

// correlatedInputs makes pixel vectors x = G z whose channels are strongly correlated and unevenly
// scaled, as trained networks' activations are, laid out [channels, pixels].
func correlatedInputs(rng *rand.Rand, mix *mat.Dense, pixels int) []float32 {
	n, k := mix.Dims()
	z := randomDense(rng, k, pixels, 1)
	var x mat.Dense
	x.Mul(mix, z)
	out := make([]float32, n*pixels)
	for c := 0; c < n; c++ {
		for p := 0; p < pixels; p++ {
			out[c*pixels+p] = float32(x.At(c, p))
		}
	}
	return out
}

func outputError(a *mat.Dense, left, right mat.Matrix, x []float32, pixels int) float64 {
	_, n := a.Dims()
	data := make([]float64, len(x))
	for i, v := range x {
		data[i] = float64(v)
	}
	xs := mat.NewDense(n, pixels, data)
	var want, mid, got mat.Dense
	want.Mul(a, xs)
	mid.Mul(right, xs)
	got.Mul(left, &mid)
	got.Sub(&got, &want)
	return mat.Norm(&got, 2) / mat.Norm(&want, 2)
}

func TestWeightedBeatsPlainOnCorrelatedInputs(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	const cout, cin, taps, rank, pixels = 32, 64, 9, 16, 2000
	w := make([]float64, cout*cin*taps)
	for i := range w {
		w[i] = rng.NormFloat64()
	}
	a := WeightMatrix(w, cout, cin, taps)
	// Inputs live mostly in a 12-dimensional subspace, with decaying scales.
	mix := randomDense(rng, cin, 24, 1)
	for j := 0; j < 24; j++ {
		scale := math.Pow(0.7, float64(j))
		for c := 0; c < cin; c++ {
			mix.Set(c, j, mix.At(c, j)*scale)
		}
	}
	cov := NewCovariance(cin)
	if err := cov.AddActivation(correlatedInputs(rng, mix, pixels), pixels); err != nil {
		t.Fatal(err)
	}
	sigma, err := cov.Regularised()
	if err != nil {
		t.Fatal(err)
	}
	weighted, err := Weighted(a, sigma)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := Plain(a)
	if err != nil {
		t.Fatal(err)
	}
	heldOut := correlatedInputs(rng, mix, pixels)
	pl, pr := plain.Factors(rank)
	wl, wr := weighted.Factors(rank)
	plainErr := outputError(a, pl, pr, heldOut, pixels)
	weightedErr := outputError(a, wl, wr, heldOut, pixels)
	t.Logf("rank %d of %d: output error plain SVD %.4f, covariance-weighted %.4f", rank, cin, plainErr, weightedErr)
	if weightedErr >= plainErr/2 {
		t.Errorf("weighted factorisation error %.4f is not well below plain SVD's %.4f", weightedErr, plainErr)
	}
	if we, pe := weighted.WeightError(rank), plain.WeightError(rank); we < pe {
		t.Errorf("weighted weight error %.4f below plain's %.4f: plain SVD should be optimal for the weight", we, pe)
	}
}

func TestWeightedKeepsAnExactLowRankWeight(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	const cout, cin, taps, rank, pixels = 16, 32, 3, 5, 100
	w := lowRankWeight(rng, cout, cin, taps, rank)
	a := WeightMatrix(w, cout, cin, taps)
	cov := NewCovariance(cin)
	x := make([]float32, cin*pixels)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	if err := cov.AddActivation(x, pixels); err != nil {
		t.Fatal(err)
	}
	sigma, err := cov.Regularised()
	if err != nil {
		t.Fatal(err)
	}
	f, err := Weighted(a, sigma)
	if err != nil {
		t.Fatal(err)
	}
	if e := f.WeightError(rank); e > 1e-6 {
		t.Errorf("weighted factors at the exact rank differ from the weight by %.3g", e)
	}
}

func TestRegularisedIsPositiveDefiniteFromFewSamples(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	const channels, pixels = 64, 10 // fewer pixel vectors than channels: the raw estimate is singular
	cov := NewCovariance(channels)
	x := make([]float32, channels*pixels)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	if err := cov.AddActivation(x, pixels); err != nil {
		t.Fatal(err)
	}
	sigma, err := cov.Regularised()
	if err != nil {
		t.Fatal(err)
	}
	var chol mat.Cholesky
	if !chol.Factorize(sigma) {
		t.Fatal("regularised covariance is not positive definite")
	}
}
