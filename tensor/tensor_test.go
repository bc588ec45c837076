package tensor

import (
	"math"
	"path/filepath"
	"testing"
)

func TestHalfRoundTrip(t *testing.T) {
	for _, f := range []float32{0, 1, -2.5, 65504, 6.1035156e-05, 5.9604645e-08, 0.1, float32(math.Inf(1))} {
		h := Float32ToHalf(f)
		back := HalfToFloat32(h)
		if f == 0.1 {
			if math.Abs(float64(back-f)) > 1e-4 {
				t.Errorf("0.1 -> %v", back)
			}
			continue
		}
		if back != f {
			t.Errorf("%v -> %#x -> %v", f, h, back)
		}
	}
	if !math.IsNaN(float64(HalfToFloat32(Float32ToHalf(float32(math.NaN()))))) {
		t.Error("NaN lost")
	}
	// Round half to even: 2049 is halfway between 2048 and 2050 in half precision.
	if got := HalfToFloat32(Float32ToHalf(2049)); got != 2048 {
		t.Errorf("2049 rounds to %v, want 2048", got)
	}
}

func TestProtoRoundTrip(t *testing.T) {
	for _, orig := range []*Tensor{
		FromFloat32([]float32{1, 2, 3, 4, 5, 6}, 2, 3),
		FromInt64([]int64{-1, 0, 1 << 40}, 3),
		{DType: Bool, Shape: []int{2}, B: []bool{true, false}},
		{DType: Uint8, Shape: []int{3}, U8: []uint8{0, 128, 255}},
	} {
		back, err := FromProto(orig.ToProto("t"), nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < orig.Len(); i++ {
			if back.At(i) != orig.At(i) || !SameShape(back.Shape, orig.Shape) || back.DType != orig.DType {
				t.Fatalf("%v round-tripped to %v", orig, back)
			}
		}
	}
}

func TestNpyRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.npy")
	orig := FromFloat32([]float32{1.5, -2, 3, 4}, 1, 4)
	if err := WriteNpy(path, orig); err != nil {
		t.Fatal(err)
	}
	back, err := ReadNpy(path)
	if err != nil {
		t.Fatal(err)
	}
	if !SameShape(back.Shape, orig.Shape) || back.F32[0] != 1.5 || back.F32[3] != 4 {
		t.Fatalf("npy round trip: %v %v", back, back.F32)
	}
	if _, err := DecodeNpy([]byte("not npy")); err == nil {
		t.Fatal("garbage accepted as .npy")
	}
}

func TestRawDataSizeMismatchIsAnError(t *testing.T) {
	tp := FromFloat32([]float32{1, 2, 3, 4}, 4).ToProto("w")
	tp.Dims = []int64{5}
	if _, err := FromProto(tp, nil); err == nil {
		t.Fatal("4 floats accepted for shape [5]")
	}
}
