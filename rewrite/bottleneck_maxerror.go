package rewrite

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// MaxError rank selection, in the spirit of AIMET's greedy compression-ratio selection:
//
//  1. Per layer: each candidate conv is factorised at a ladder of ranks below its break-even rank,
//     and each rank's error is measured on that layer alone (its captured input through the two
//     convs, against its captured output).
//  2. Globally: the error budget is spent greedily, always on the step (a layer moving to a lower
//     rank) that saves the most MACs per unit of added layer error, while the sum of the chosen
//     layers' errors stays within the budget.
//  3. End to end: the rewritten model is run and its outputs compared with the original's. Over
//     the limit, the layers contributing the most error are backed off (to a higher rank, or left
//     alone) and the model is checked again; well under it, the budget grows (layer errors are
//     relative to each layer's own output and usually shrink on their way to the model's output)
//     and the selection is made again. The best selection measured within the limit wins.

// rankLadder are the candidate ranks, as shares of the break-even rank: each step saves roughly
// the same share of the layer's MACs, finer near break-even where the errors are smallest.
var rankLadder = []float64{0.99, 0.97, 0.94, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05}

// maxLayerErrorTried stops a layer's ladder once an error is this many times the model's limit:
// lower ranks would only be worse, and no budget growth reaches them.
const maxLayerErrorTried = 50

// maxModelChecks bounds the end-to-end runs of the rewritten model.
const maxModelChecks = 8

// rankOption is one measured rank of a layer.
type rankOption struct {
	rank  int
	saved int64
	err   float64
}

// layerCurve holds a layer's measured options, by increasing MACs saved (decreasing rank).
type layerCurve struct {
	site    *convSite
	options []rankOption
}

// selection is an option index per layer (-1: not factorised).
type selection []int

func (sel selection) key() string {
	parts := make([]string, len(sel))
	for i, j := range sel {
		parts[i] = fmt.Sprint(j)
	}
	return strings.Join(parts, ",")
}

func selectWithinMaxError(ctx *Context, sites []*convSite, env *measureEnv, p rankPolicy) []rankChoice {
	if env.failure != "" {
		for _, s := range sites {
			ctx.Declined(s.node, "max error %g: %s", p.maxError, env.failure)
		}
		return nil
	}
	curves := measureCurves(ctx, sites, env, p.maxError)
	if len(curves) == 0 {
		return nil
	}
	best, bestErr := searchSelection(ctx, curves, env, p.maxError)
	var choices []rankChoice
	for i, c := range curves {
		j := -1
		if best != nil {
			j = best[i]
		}
		if j < 0 {
			first := c.options[0]
			ctx.Declined(c.site.node, "max error %g: not selected (the smallest step, rank %d, costs layer error %.3g for %.1f%% of its MACs; the budget went to other layers)",
				p.maxError, first.rank, first.err, 100*float64(first.saved)/float64(c.site.macsBefore()))
			continue
		}
		o := c.options[j]
		choices = append(choices, rankChoice{site: c.site, rank: o.rank, layerError: o.err, measured: true, modelError: bestErr})
	}
	return choices
}

// measureCurves measures each site's rank ladder; sites with no rank under the cap are declined.
func measureCurves(ctx *Context, sites []*convSite, env *measureEnv, limit float64) []layerCurve {
	var curves []layerCurve
	for _, s := range sites {
		c := layerCurve{site: s}
		var failure error
		for _, r := range ladderRanks(s) {
			e, err := env.layerError(s, r)
			if err != nil {
				failure = err
				break
			}
			if e > maxLayerErrorTried*limit {
				break
			}
			c.options = append(c.options, rankOption{rank: r, saved: s.macsBefore() - s.macsAt(r), err: e})
		}
		switch {
		case failure != nil:
			ctx.Declined(s.node, "max error %g: cannot measure the layer: %v", limit, failure)
		case len(c.options) == 0:
			ctx.Declined(s.node, "max error %g: even rank %d (break-even %d of %d) changes the layer's output by more than %g times the limit",
				limit, ladderRanks(s)[0], s.breakEven, s.fullRank(), float64(maxLayerErrorTried))
		default:
			curves = append(curves, c)
		}
	}
	return curves
}

// ladderRanks are a site's candidate ranks, highest first, without repeats.
func ladderRanks(s *convSite) []int {
	var ranks []int
	for _, share := range rankLadder {
		r := max(1, int(share*float64(s.breakEven)))
		if len(ranks) == 0 || r < ranks[len(ranks)-1] {
			ranks = append(ranks, r)
		}
	}
	return ranks
}

// searchSelection alternates greedy allocation and end-to-end checks (see the top of the file).
// It returns the best selection measured within the limit (nil if none) and its measured error.
func searchSelection(ctx *Context, curves []layerCurve, env *measureEnv, limit float64) (selection, float64) {
	var best selection
	bestSaved, bestErr := int64(-1), -1.0
	tried := map[string]bool{}
	budget := limit
	safe, unsafe := 0.0, math.Inf(1) // predicted errors known to pass and to fail
	sel := greedySelection(curves, budget)
	for check := 0; check < maxModelChecks && sel != nil && !tried[sel.key()]; check++ {
		tried[sel.key()] = true
		predicted := predictedError(curves, sel)
		measured, err := env.modelError(choicesOf(curves, sel))
		if err != nil {
			for _, c := range curves {
				ctx.Declined(c.site.node, "max error %g: cannot check the rewritten model: %v", limit, err)
			}
			return nil, -1
		}
		if measured <= limit {
			if saved := savedMACs(curves, sel); saved > bestSaved {
				best, bestSaved, bestErr = sel, saved, measured
			}
			safe = max(safe, predicted)
			if measured >= 0.85*limit {
				break
			}
			budget = predicted * min(4, 0.95*limit/max(measured, 1e-12))
			if !math.IsInf(unsafe, 1) {
				budget = min(budget, math.Sqrt(safe*unsafe))
			}
			sel = greedySelection(curves, budget)
			continue
		}
		unsafe = min(unsafe, predicted)
		sel = backOff(curves, sel, max(safe, predicted*0.9*limit/measured))
	}
	return best, bestErr
}

// greedySelection spends a budget of summed layer errors on the steps with the most MACs saved per
// unit of error. A step may jump several options of a layer, so a ladder whose errors do not grow
// smoothly is still used well. Nil when nothing fits.
func greedySelection(curves []layerCurve, budget float64) selection {
	sel := make(selection, len(curves))
	for i := range sel {
		sel[i] = -1
	}
	spent := 0.0
	any := false
	for {
		bestLayer, bestOption, bestRatio := -1, -1, -1.0
		for i, c := range curves {
			curSaved, curErr := optionAt(c, sel[i])
			for j := sel[i] + 1; j < len(c.options); j++ {
				o := c.options[j]
				dErr := o.err - curErr
				if spent+dErr > budget || o.saved <= curSaved {
					continue
				}
				ratio := float64(o.saved-curSaved) / max(dErr, 1e-12)
				if ratio > bestRatio {
					bestLayer, bestOption, bestRatio = i, j, ratio
				}
			}
		}
		if bestLayer < 0 {
			break
		}
		_, curErr := optionAt(curves[bestLayer], sel[bestLayer])
		spent += curves[bestLayer].options[bestOption].err - curErr
		sel[bestLayer] = bestOption
		any = true
	}
	if !any {
		return nil
	}
	return sel
}

// backOff moves the layers with the largest errors to their next higher rank (or out), one step at
// a time, until the predicted error is within target.
func backOff(curves []layerCurve, sel selection, target float64) selection {
	out := append(selection{}, sel...)
	for predictedError(curves, out) > target {
		worst := -1
		for i, j := range out {
			if j >= 0 && (worst < 0 || curves[i].options[j].err > curves[worst].options[out[worst]].err) {
				worst = i
			}
		}
		if worst < 0 {
			return nil
		}
		out[worst]--
	}
	for _, j := range out {
		if j >= 0 {
			return out
		}
	}
	return nil
}

func optionAt(c layerCurve, j int) (saved int64, err float64) {
	if j < 0 {
		return 0, 0
	}
	return c.options[j].saved, c.options[j].err
}

func predictedError(curves []layerCurve, sel selection) float64 {
	sum := 0.0
	for i, j := range sel {
		_, e := optionAt(curves[i], j)
		sum += e
	}
	return sum
}

func savedMACs(curves []layerCurve, sel selection) int64 {
	var sum int64
	for i, j := range sel {
		s, _ := optionAt(curves[i], j)
		sum += s
	}
	return sum
}

func choicesOf(curves []layerCurve, sel selection) []rankChoice {
	var out []rankChoice
	for i, j := range sel {
		if j >= 0 {
			out = append(out, rankChoice{site: curves[i].site, rank: curves[i].options[j].rank})
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].site.name() < out[b].site.name() })
	return out
}
