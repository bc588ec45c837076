package engine

// Direct depthwise convolution on AVX-512: no padded copy of the input, no wide output to compact.
//
// The phase-plane method (ops_conv_depthwise.go) copies every input plane into a zero-padded
// buffer and compacts a wide output afterwards; on the small planes of MobileNet-style models
// those copies cost four times the arithmetic. Here each output row is computed in 16-lane vectors
// straight from the input plane: tap (ky, kx) of output vector v reads input row iy at columns
// ox*sw + kx*dw - padLeft, and a per-(kx, v) lane mask zeroes the columns that fall in the
// padding. Masked-off lanes are never read (AVX-512 suppresses their faults), so a vector may
// start before the row or end past the plane. Input rows in the vertical padding are left out of
// the output row's tap list. Stride 2 reads 32 columns with two masked loads and keeps the even
// ones with one permute.
//
// A layer is compiled once into a descriptor (per output row, the taps that read a real input
// row: tap index, input byte offset, mask offset); the kernel walks it plane after plane.

import (
	"github.com/fcconv/fcconv/internal/workers"
	"unsafe"
)

// dwDirectDesc is what the assembly kernels read; its field order and sizes are part of their ABI
// (see ops_conv_depthwise_amd64.s).
type dwDirectDesc struct {
	rows      int     // output rows (1 for a 1-D conv)
	vectors   int     // 16-lane vectors per output row
	rowBytes  int     // bytes per output row
	lastMask  int     // lanes of a row's last vector that are real outputs
	rowStart  *int32  // per output row its first entry, then the end: rows+1 values
	entries   *int32  // per entry: tap, input byte offset at vector 0, mask byte offset at vector 0
	masks     *uint16 // per (kx, vector) the lanes reading a real column (stride 2: two, for 32 columns)
	maskBytes int     // bytes between the masks of consecutive vectors: 2, or 4 for stride 2
}

// dwDirectLanes is the vector width of the kernels.
const dwDirectLanes = 16

// depthwiseDirect is a compiled direct depthwise layer; the slices keep the descriptors' arrays
// alive.
type depthwiseDirect struct {
	stride2  bool
	outSize  int // floats per output plane
	desc     dwDirectDesc
	rowStart []int32
	entries  []int32
	masks    []uint16
	// narrow, for planes whose rows fit one vector, walks the taps once per group of 8 rows;
	// it is nil when desc, the row walk, is used.
	narrow  *dwNarrowDesc
	records []dwNarrowRecord
}

// Planes of at most 16 columns (the 7x7 and 14x14 stages) are one vector per row, and the
// per-row walk above would decode every tap entry for a single FMA. The narrow kernels instead
// keep 8 output rows in 8 accumulators and walk the taps once per group of rows: per tap one
// broadcast, then per row a masked load and an FMA, the input pointer stepping one output row
// down. Rows whose input row is padding (or past the plane's last row) get an empty mask.

// dwNarrowRows is the number of output rows the narrow kernels compute together.
const dwNarrowRows = 8

// dwNarrowDesc is what the narrow kernels read; field order and sizes are part of their ABI.
type dwNarrowDesc struct {
	groups    int             // groups of dwNarrowRows output rows
	taps      int             // records per group
	rowStride int             // input bytes between consecutive output rows
	rowBytes  int             // output bytes per row
	lastMask  int             // the lanes of a row that are real outputs
	rows      int             // output rows
	records   *dwNarrowRecord // per group, per tap
}

// dwNarrowRecord is one tap of one group of rows (40 bytes).
type dwNarrowRecord struct {
	offset int32                   // input byte offset of the tap for the group's first row
	tap    int32                   // the tap's index in the kernel
	masks  [dwNarrowRows][2]uint16 // per row, the columns read (stride 2: 32 columns, two masks)
}

// depthwiseDirectEnabled selects the direct kernel where it applies; tests turn it off to compare
// with the phase-plane method.
var depthwiseDirectEnabled = hasAVX512

// newDepthwiseDirect compiles a 1-D or 2-D depthwise window for the direct kernel, or returns nil
// when it does not apply: no AVX-512, a horizontal stride above 2, or a plane too large for the
// kernel's 32-bit offsets.
func newDepthwiseDirect(win *nnWindow) *depthwiseDirect {
	if !depthwiseDirectEnabled || win.rank() < 1 || win.rank() > 2 {
		return nil
	}
	last := win.rank() - 1
	h, oh, sh, padTop, kh, dh := 1, 1, 1, 0, 1, 1
	if win.rank() == 2 {
		h, oh, sh, padTop, kh, dh = win.in[0], win.out[0], win.stride[0], win.padBegin[0], win.kernel[0], win.dilation[0]
	}
	w, ow, sw, padLeft, kw, dw := win.in[last], win.out[last], win.stride[last], win.padBegin[last], win.kernel[last], win.dilation[last]
	if sw > 2 || int64(h)*int64(w)*4+int64(oh)*int64(ow)*4 >= 1<<30 || ow < 1 {
		return nil
	}
	d := &depthwiseDirect{stride2: sw == 2, outSize: oh * ow}
	if ow <= dwDirectLanes {
		d.compileNarrow(h, oh, sh, padTop, kh, dh, w, ow, sw, padLeft, kw, dw)
	} else {
		d.compileRows(h, oh, sh, padTop, kh, dh, w, ow, sw, padLeft, kw, dw)
	}
	return d
}

// compileRows builds the row-walking kernels' descriptor for the window (see dwDirectDesc).
func (d *depthwiseDirect) compileRows(h, oh, sh, padTop, kh, dh, w, ow, sw, padLeft, kw, dw int) {
	vectors := (ow + dwDirectLanes - 1) / dwDirectLanes
	masksPerVector := sw // stride 2 reads two vectors of columns per output vector
	for kx := 0; kx < kw; kx++ {
		for v := 0; v < vectors; v++ {
			for half := 0; half < masksPerVector; half++ {
				var m uint16
				for lane := 0; lane < dwDirectLanes; lane++ {
					// Stride 1: lane l is output column 16v+l. Stride 2: the 32 columns read start at
					// output column 16v's first input column.
					col := v*dwDirectLanes*sw + half*dwDirectLanes + lane + kx*dw - padLeft
					if col >= 0 && col < w {
						m |= 1 << lane
					}
				}
				d.masks = append(d.masks, m)
			}
		}
	}
	for oy := 0; oy < oh; oy++ {
		d.rowStart = append(d.rowStart, int32(len(d.entries)/3))
		for ky := 0; ky < kh; ky++ {
			iy := oy*sh - padTop + ky*dh
			if iy < 0 || iy >= h {
				continue // a padding row: its taps add zeros
			}
			for kx := 0; kx < kw; kx++ {
				off := (iy*w + kx*dw - padLeft) * 4
				d.entries = append(d.entries, int32(ky*kw+kx), int32(off), int32(kx*vectors*masksPerVector*2))
			}
		}
	}
	d.rowStart = append(d.rowStart, int32(len(d.entries)/3))
	if len(d.entries) == 0 {
		d.entries = append(d.entries, 0, 0, 0) // keep the pointer valid; no row reads it
	}
	lastLanes := ow - (vectors-1)*dwDirectLanes
	d.desc = dwDirectDesc{
		rows:      oh,
		vectors:   vectors,
		rowBytes:  ow * 4,
		lastMask:  1<<lastLanes - 1,
		rowStart:  &d.rowStart[0],
		entries:   &d.entries[0],
		masks:     &d.masks[0],
		maskBytes: 2 * masksPerVector,
	}
}

// compileNarrow builds the narrow kernels' records for the window (see dwNarrowDesc).
func (d *depthwiseDirect) compileNarrow(h, oh, sh, padTop, kh, dh, w, ow, sw, padLeft, kw, dw int) {
	groups := (oh + dwNarrowRows - 1) / dwNarrowRows
	for g := 0; g < groups; g++ {
		for ky := 0; ky < kh; ky++ {
			for kx := 0; kx < kw; kx++ {
				firstRow := g*dwNarrowRows*sh - padTop + ky*dh
				rec := dwNarrowRecord{offset: int32((firstRow*w + kx*dw - padLeft) * 4), tap: int32(ky*kw + kx)}
				for r := 0; r < dwNarrowRows; r++ {
					if iy := firstRow + r*sh; iy < 0 || iy >= h {
						continue // padding: no lanes read
					}
					for half := 0; half < sw; half++ {
						for lane := 0; lane < dwDirectLanes; lane++ {
							if col := half*dwDirectLanes + lane + kx*dw - padLeft; col >= 0 && col < w {
								rec.masks[r][half] |= 1 << lane
							}
						}
					}
				}
				d.records = append(d.records, rec)
			}
		}
	}
	d.narrow = &dwNarrowDesc{
		groups:    groups,
		taps:      kh * kw,
		rowStride: sh * w * 4,
		rowBytes:  ow * 4,
		lastMask:  1<<ow - 1,
		rows:      oh,
		records:   &d.records[0],
	}
}

// plane computes one output plane y = bias + depthwise(x, k) from input plane x and the
// output channel's taps k. x and y must hold the whole planes.
func (d *depthwiseDirect) plane(x, y, k []float32, bias float32) {
	_ = x[len(x)-1]
	_ = y[d.outSize-1]
	switch {
	case d.narrow != nil && d.stride2:
		depthwiseNarrowS2(d.narrow, unsafe.Pointer(&x[0]), unsafe.Pointer(&y[0]), &k[0], bias)
		return
	case d.narrow != nil:
		depthwiseNarrowS1(d.narrow, unsafe.Pointer(&x[0]), unsafe.Pointer(&y[0]), &k[0], bias)
		return
	}
	if d.stride2 {
		depthwiseDirectS2(&d.desc, unsafe.Pointer(&x[0]), unsafe.Pointer(&y[0]), &k[0], bias)
	} else {
		depthwiseDirectS1(&d.desc, unsafe.Pointer(&x[0]), unsafe.Pointer(&y[0]), &k[0], bias)
	}
}

// runDirect computes the layer for the whole batch with the direct kernel, the output planes
// split over the cores, each task's planes activated together while in cache.
func (p *depthwisePlan) runDirect(x, w, bias, y []float32) {
	inSize, outSize, taps := p.h*p.w, p.oh*p.ow, len(p.tapOffsets)
	planes := p.batch * p.cout
	perTask := max(1, min(planes, workers.MinParallelWork/max(1, outSize*taps)))
	tasks := (planes + perTask - 1) / perTask
	workers.For(p.threads, tasks, perTask*outSize*taps, func(task int) {
		lo, hi := task*perTask, min(planes, (task+1)*perTask)
		for plane := lo; plane < hi; plane++ {
			img, oc := plane/p.cout, plane%p.cout
			in := (img*p.cin + oc/p.mult) * inSize
			var b float32
			if bias != nil {
				b = bias[oc]
			}
			p.direct.plane(x[in:in+inSize], y[plane*outSize:(plane+1)*outSize], w[oc*taps:(oc+1)*taps], b)
		}
		p.activate(y[lo*outSize : hi*outSize])
	})
}
