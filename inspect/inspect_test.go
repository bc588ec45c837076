package inspect

import (
	"math"
	"testing"

	"github.com/fcconv/fcconv/internal/zoo"

	"github.com/fcconv/fcconv/engine"
	"github.com/fcconv/fcconv/graph"
)

func TestSampleSummary(t *testing.T) {
	m, err := graph.Load("../testdata/sample/classifier.onnx")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Model(m, engine.Options{}, "heads")
	if err != nil {
		t.Fatal(err)
	}
	if s.ShapeError != "" {
		t.Fatal(s.ShapeError)
	}
	// Conv 3->8 3x3 on 32x32: 8*32*32*27; Conv 8->16 3x3 on 16x16: 16*16*16*72; FCs 1024*64 + 64*10.
	want := int64(8*32*32*27 + 16*16*16*72 + 1024*64 + 64*10)
	if s.MACs != want {
		t.Errorf("MACs = %d, want %d", s.MACs, want)
	}
	if s.OpHistogram["Gemm"] != 2 || len(s.Convs) != 2 || s.Convs[1].CIn != 8 || s.Convs[1].COut != 16 {
		t.Errorf("histogram %v, convs %+v", s.OpHistogram, s.Convs)
	}
	if len(s.FCLayers) != 2 || !s.FCLayers[0].Convertible || !s.FCLayers[1].Convertible {
		t.Errorf("FC layers: %+v", s.FCLayers)
	}
	if s.Parameters != 8*3*9+8+16*8*9+16+64*1024+64+10*64+10 {
		t.Errorf("parameters = %d", s.Parameters)
	}
}

// TestZooMACsMatchPublishedFigures checks the MAC counts against the published figures of the
// torchvision architectures (within 2%).
func TestZooMACsMatchPublishedFigures(t *testing.T) {
	published := map[string]float64{"resnet18": 1.81e9, "mobilenet_v2": 0.30e9, "googlenet": 1.5e9}
	for name, want := range published {
		m, err := graph.Load(zoo.Model(t, name))
		if err != nil {
			t.Fatal(err)
		}
		s, err := Model(m, engine.Options{}, "heads")
		if err != nil || s.ShapeError != "" {
			t.Fatalf("%s: %v %s", name, err, s.ShapeError)
		}
		if rel := math.Abs(float64(s.MACs)-want) / want; rel > 0.02 {
			t.Errorf("%s: %d MACs, published %.3g (%.1f%% off)", name, s.MACs, want, 100*rel)
		}
		for _, fc := range s.FCLayers {
			if !fc.Convertible {
				t.Errorf("%s: FC %s not convertible: %s", name, fc.Node, fc.Reason)
			}
		}
	}
}
