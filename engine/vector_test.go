package engine

import "testing"

func TestNNFill(t *testing.T) {
	for n := 0; n < 80; n++ {
		v := make([]float32, n+1)
		v[n] = -1 // past the filled part: must stay
		nnFill(v[:n], 2.5)
		for i := 0; i < n; i++ {
			if v[i] != 2.5 {
				t.Fatalf("n=%d: v[%d] = %g", n, i, v[i])
			}
		}
		if v[n] != -1 {
			t.Fatalf("n=%d: wrote past the end", n)
		}
	}
}

func TestNNEvens(t *testing.T) {
	src := make([]float32, 80)
	for i := range src {
		src[i] = float32(i)
	}
	for n := 0; n <= 32; n++ {
		for srcLen := 2*n - 1; srcLen <= 2*n+1; srcLen++ {
			if srcLen < 0 {
				continue
			}
			dst := make([]float32, n)
			done := nnEvensVector(dst, src[:srcLen])
			for j := 0; j < done; j++ {
				if dst[j] != float32(2*j) {
					t.Fatalf("n=%d len=%d: dst[%d] = %g", n, srcLen, j, dst[j])
				}
			}
		}
	}
}
