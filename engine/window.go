// This file holds the geometry of sliding windows (convolution and pooling): kernel, strides,
// dilations and padding read from a node's attributes, and the output size they give.

package engine

import (
	"fmt"

	"github.com/fcconv/fcconv/tensor"
)

// nnWindow is the geometry of a sliding window (convolution or pooling) over the spatial dims of
// an [N, C, D1, ..., Dr] tensor.
type nnWindow struct {
	in, out  []int // spatial sizes of the input and the output
	kernel   []int
	stride   []int
	dilation []int
	padBegin []int // zeros (or ignored values) virtually added before each spatial dim
	padEnd   []int
}

// rank is the number of spatial dims.
func (w *nnWindow) rank() int { return len(w.in) }

// inSize and outSize are the element counts of one spatial plane.
func (w *nnWindow) inSize() int  { return tensor.NumElements(w.in) }
func (w *nnWindow) outSize() int { return tensor.NumElements(w.out) }

// kernelSize is the number of taps of the window.
func (w *nnWindow) kernelSize() int { return tensor.NumElements(w.kernel) }

// nnWindowAttrs reads kernel_shape (or takes the given kernel when it has no such attribute),
// strides, dilations, pads and auto_pad, and computes the output size. ceil rounds the output size
// up as pooling's ceil_mode does.
func nnWindowAttrs(n *Node, in, kernel []int, ceil bool) (*nnWindow, error) {
	r := len(in)
	w := &nnWindow{in: in}
	if ks := n.AttrInts("kernel_shape", nil); ks != nil {
		if len(ks) != r {
			return nil, fmt.Errorf("kernel_shape %v has %d dims, the input has %d spatial dims", ks, len(ks), r)
		}
		w.kernel = nnInts(ks)
		if kernel != nil && !tensor.SameShape(w.kernel, kernel) {
			return nil, fmt.Errorf("kernel_shape %v does not match the weight's spatial shape %v", ks, kernel)
		}
	} else if kernel != nil {
		w.kernel = append([]int{}, kernel...)
	} else {
		return nil, fmt.Errorf("the kernel_shape attribute is required")
	}
	var err error
	if w.stride, err = nnPositiveInts(n, "strides", r); err != nil {
		return nil, err
	}
	if w.dilation, err = nnPositiveInts(n, "dilations", r); err != nil {
		return nil, err
	}
	for i, k := range w.kernel {
		if k < 1 {
			return nil, fmt.Errorf("kernel dim %d is %d; it must be at least 1", i, k)
		}
	}
	if err := nnWindowInRange(n); err != nil {
		return nil, err
	}
	autoPad := n.AttrString("auto_pad", "NOTSET")
	w.padBegin, w.padEnd = make([]int, r), make([]int, r)
	w.out = make([]int, r)
	switch autoPad {
	case "NOTSET", "":
		if pads := n.AttrInts("pads", nil); pads != nil {
			if len(pads) != 2*r {
				return nil, fmt.Errorf("pads %v must have 2 values per spatial dim (%d)", pads, 2*r)
			}
			for i := 0; i < r; i++ {
				w.padBegin[i], w.padEnd[i] = int(pads[i]), int(pads[i+r])
				if w.padBegin[i] < 0 || w.padEnd[i] < 0 {
					return nil, fmt.Errorf("pads %v must not be negative", pads)
				}
			}
		}
		for i := range w.out {
			w.out[i] = nnWindowOutSize(in[i]+w.padBegin[i]+w.padEnd[i], w.effectiveKernel(i), w.stride[i], ceil)
			if ceil && (w.out[i]-1)*w.stride[i] >= in[i]+w.padBegin[i] {
				w.out[i]-- // the last window would start in the end padding: drop it
			}
		}
	case "VALID":
		for i := range w.out {
			w.out[i] = nnWindowOutSize(in[i], w.effectiveKernel(i), w.stride[i], ceil)
		}
	case "SAME_UPPER", "SAME_LOWER":
		for i := range w.out {
			w.out[i] = (in[i] + w.stride[i] - 1) / w.stride[i]
			total := max(0, (w.out[i]-1)*w.stride[i]+w.effectiveKernel(i)-in[i])
			if autoPad == "SAME_UPPER" {
				w.padBegin[i] = total / 2
			} else {
				w.padBegin[i] = (total + 1) / 2
			}
			w.padEnd[i] = total - w.padBegin[i]
		}
	default:
		return nil, fmt.Errorf("auto_pad %q is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID", autoPad)
	}
	for i, o := range w.out {
		if o < 1 {
			return nil, fmt.Errorf("spatial dim %d: input size %d with padding %d+%d is smaller than the kernel extent %d",
				i, in[i], w.padBegin[i], w.padEnd[i], w.effectiveKernel(i))
		}
	}
	return w, nil
}

// effectiveKernel is the extent of the dilated kernel along spatial dim i.
func (w *nnWindow) effectiveKernel(i int) int { return (w.kernel[i]-1)*w.dilation[i] + 1 }

// nnWindowOutSize is the number of window positions over a (padded) extent.
func nnWindowOutSize(extent, kernel, stride int, ceil bool) int {
	span := extent - kernel
	if span < 0 {
		return 0
	}
	if ceil {
		return (span+stride-1)/stride + 1
	}
	return span/stride + 1
}

// nnPositiveInts reads an INTS attribute with one value per spatial dim, defaulting to ones.
func nnPositiveInts(n *Node, name string, r int) ([]int, error) {
	v := n.AttrInts(name, nil)
	if v == nil {
		out := make([]int, r)
		for i := range out {
			out[i] = 1
		}
		return out, nil
	}
	if len(v) != r {
		return nil, fmt.Errorf("%s %v must have one value per spatial dim (%d)", name, v, r)
	}
	for _, x := range v {
		if x < 1 {
			return nil, fmt.Errorf("%s %v must be positive", name, v)
		}
	}
	return nnInts(v), nil
}

func nnInts(v []int64) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}
