// Package fctoconv is the fc-to-conv pass: it replaces fully-connected layers (Gemm, MatMul with
// constant weights) by equivalent Conv nodes, keeping every graph output's name, shape and value.
//
// Before (a VGG-style classifier head, as PyTorch exports it):
//
//	X[N,512,7,7] -> Flatten(axis=1) -> Gemm(B[4096,25088], C, transB=1) -> Relu -> Gemm(B2[1000,4096], C2) -> Y[N,1000]
//
// After:
//
//	X[N,512,7,7] -> Conv(W[4096,512,7,7], C) -> Relu -> Conv(W2[1000,4096,1,1], C2) -> Flatten(axis=1) -> Y[N,1000]
//
// and with Options.Spatial (fully convolutional; the input's H and W become "height" and "width"):
//
//	X[N,3,height,width] -> ... -> Conv(W) -> Relu -> Conv(W2) -> Y[N,1000,out_height,out_width]
//
// The pass works on a "4-D world": each value it converts gets a 4-D NCHW stand-in ("rep") and a
// layout saying how the original maps onto it:
//
//	flat: [N,F]     <-> [N,C,H,W] with F = C*H*W (back: Flatten(axis=1))
//	seq:  [B,T,C]   <-> [B,C,T,1]                 (back: Squeeze(3), Transpose(0,2,1))
//	nhwc: [N,H,W,C] <-> [N,C,H,W]                 (back: Transpose(0,2,3,1))
//
// FCs become Convs on reps, the ops between them are re-emitted on reps, and a value goes back to its
// original form only where something outside the 4-D world reads it (or it is a graph output).
//
// Cases handled (exactly):
//
// Head entries (Options.Scope "heads", the default; a 2-D FC input [N,F] is recognised when it is)
//   - Flatten(axis=1) of an NxCxHxW map: the first FC becomes an HxW Conv with weight [M,C,H,W] taken
//     from the FC weight's columns in C,H,W order (1x1 after global pooling);
//   - Reshape of an NxCxHxW map to [N,C*H*W] (constant target such as [N,-1] or [-1,C*H*W], or one
//     computed by Shape/Gather/Unsqueeze/Concat: judged on the inferred shapes);
//   - Squeeze of an [N,C,1,1] map (GlobalAveragePool/ReduceMean keepdims=1, then Squeeze);
//   - ReduceMean/ReduceMax with keepdims=0 over the spatial axes [2,3] (or [-2,-1]; axes as
//     attribute or input) of an NxCxHxW map: re-emitted with keepdims=1;
//   - ReduceMean/ReduceMax with keepdims=0 over the one non-channel axis of a 3-D tensor (token or
//     1-D map pooling): the pooled [N,C] is unsqueezed to [N,C,1,1];
//   - Flatten/Reshape of a 2-D value to the same shape (a no-op flatten after pooling);
//   - any of the above followed by ops carried into the 4-D world (below), e.g. Flatten -> Dropout -> Gemm.
//
// Ops carried between and after converted FCs (on their reps; layout noted where it matters)
//   - unary elementwise ops unchanged: Relu, LeakyRelu, Sigmoid, Tanh, Clip, Elu, Selu, Celu,
//     HardSigmoid, HardSwish, Softplus, Softsign, Gelu, Erf, Mish, ThresholdedRelu, Neg, Abs, Exp,
//     Log, Sqrt, Reciprocal, Floor, Ceil, Round, Sign, Identity, Dropout (mask output unused);
//   - PRelu, Add, Sub, Mul, Div, Pow, Max, Min with a constant per-feature or scalar operand: a
//     constant [F], [1,F] (or [..,1,C] in seq/nhwc) becomes [C,H,W] / [C,1,1]; two converted
//     operands of the same shape (a residual inside the head) are combined directly;
//   - BatchNormalization on [N,C] (flat layout over a 1x1 map): unchanged on [N,C,1,1];
//   - Softmax/LogSoftmax/Hardmax over the features (opset >= 13, flat over a 1x1 map): axis=1;
//   - ReduceMean/ReduceMax/ReduceSum/ReduceMin over the tokens of seq ([B,T,C] axis 1) or the
//     spatial axes of nhwc ([N,H,W,C] axes 1,2): re-emitted over the rep's spatial axes, keepdims=1;
//   - Transpose(0,3,1,2) of an nhwc value is the rep itself (the transpose disappears);
//     Transpose(0,2,1) of a seq value is Squeeze(3) of the rep.
//
// FC forms
//   - Gemm with transB 0 or 1, alpha and beta (folded into weight and bias), bias C of shape [M],
//     [1,M], [1], [1,1], scalar, or absent;
//   - MatMul x·W with W 2-D, plus a following Add of a constant per-feature bias (folded into the
//     Conv bias);
//   - weights from an initializer, a Constant node, Transpose (perm [1,0]) / Identity / Cast of a
//     constant (exports without constant folding), or any constant the engine folds (the resolver
//     all passes share, graph.ResolveConstant).
//   - Shared weights are converted once (cache by weight name and transform).
//
// Options.Scope "all": every FC with constant weights. Inputs that are no head entry are brought
// into the 4-D world: [N,F] by Unsqueeze(axes 2,3); [B,T,C] by Transpose(0,2,1), Unsqueeze(3)
// (or Unsqueeze alone when it comes from Transpose(0,2,1)); [N,H,W,C] by Transpose(0,3,1,2) (or no
// node when it comes from Transpose(0,2,3,1)). Consecutive converted layers share the 4-D form, so
// the transposes between them disappear.
//
// Options.Spatial: after converting, a Flatten that only brings a head's result back to 2-D for a
// graph output is dropped (the output becomes [N,M,h,w]; its value_info is rewritten, with symbolic
// dims where the size depends on the input), and the graph inputs' H and W become "height" and
// "width". Spatial is declined (keeping the flatten) when a Reshape with a constant size-specific
// shape sits before the head, or when the graph does not infer at twice the input size.
//
// Declined, with the reason: Gemm with transA=1; weights computed at run time or fed as a graph
// input; an old-IR weight whose initializer is an overridable graph input; a bias that varies per
// row; batched (>2-D) weights; a constant left operand (W·x); non-float32 FCs; in heads scope, an
// input that is no head entry (3-D or channels-last activations, an MLP input, a Flatten with
// axis != 1, a Reshape that is not a flatten, pooling over other axes); FCs inside If/Loop/Scan
// subgraphs (not handled yet).
package fctoconv

import (
	"fmt"

	"github.com/fcconv/fcconv/rewrite"
)

// Options are fc-to-conv's settings.
type Options struct {
	// Scope is "heads" (default: fully-connected layers of classifier heads) or "all" (every
	// fully-connected layer with constant weights).
	Scope string
	// Spatial makes converted heads fully convolutional: the trailing flatten is dropped and the
	// input's H and W become symbolic.
	Spatial bool
}

// Pass replaces fully-connected layers by equivalent convolutions. Its Step options are Options.
var Pass = &rewrite.Pass{
	Name: "fc-to-conv",
	Doc: "Replace fully-connected layers (Gemm, MatMul with constant weights) by equivalent Conv nodes. " +
		"In the default scope \"heads\", the FCs of classifier heads (fed by a flattened or globally pooled " +
		"feature map) become an HxW Conv followed by 1x1 Convs, with the flatten moved after the last one; " +
		"--scope all also converts MLPs and FCs on [B,T,C] and channels-last activations, with the transposes " +
		"that make them equivalent; --spatial drops the trailing flatten and makes the input size symbolic " +
		"(fully convolutional). Every graph output keeps its name, shape and value.",
	Requires: []rewrite.Requirement{rewrite.Shapes},
	Run:      run,
}

func optionsOf(ctx *rewrite.Context) Options {
	if o, ok := ctx.Options.(Options); ok {
		return o
	}
	return Options{}
}

// run plans every conversion, then (unless a dry run) emits it, makes the heads spatial when
// asked, and reports: the steps follow the files match, check, entries, carry, emit, spatial,
// report.
func run(ctx *rewrite.Context) (rewrite.Result, error) {
	opts := optionsOf(ctx)
	var all bool
	switch opts.Scope {
	case "", "heads":
	case "all":
		all = true
	default:
		return rewrite.Result{}, fmt.Errorf("unknown scope %q (want heads or all)", opts.Scope)
	}
	p := newFCPlanner(ctx, all)
	p.declineSubgraphs()
	if err := p.plan(); err != nil {
		return rewrite.Result{}, err
	}
	if len(p.fcs) == 0 {
		return rewrite.Result{}, nil
	}
	if ctx.DryRun {
		p.report(nil)
		if opts.Spatial {
			if reason := p.spatialStructural(); reason != "" {
				p.declineSpatial(reason)
			}
		}
		return rewrite.Result{}, nil
	}
	if err := p.apply(); err != nil {
		return rewrite.Result{Edited: true}, err
	}
	res := rewrite.Result{Edited: true}
	var sp *spatialHeads
	if opts.Spatial {
		var err error
		if sp, err = p.spatial(); err != nil {
			return res, err
		}
	}
	p.report(sp)
	if sp != nil {
		res.Dims = sp.bound
		for _, b := range sp.heads {
			res.Reshaped = append(res.Reshaped, b.orig)
		}
	}
	return res, nil
}
