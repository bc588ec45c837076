package bottleneck

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/fcconv/fcconv/internal/lowrank"
	"github.com/fcconv/fcconv/rewrite"
)

// MaxError rank selection, in the spirit of AIMET's greedy compression-ratio selection:
//
//  1. Per layer: each candidate conv is factorised at a ladder of ranks below its break-even rank,
//     and each rank's error is measured on that layer alone (its captured input through the two
//     convs, against its captured output). One run of the whole model with only that layer at its
//     highest rank gives the layer's gain: model error per unit of layer error (errors shrink or
//     grow on their way to the output, by a different factor for each layer). A layer whose
//     smallest step already breaks the limit is declined.
//  2. Globally: the error budget is spent greedily, always on the step (a layer moving to a lower
//     rank) that saves the most MACs per unit of predicted model error (gain x layer error), while
//     the sum of the chosen layers' predicted errors stays within the budget.
//  3. End to end: the rewritten model is run and its outputs compared with the original's. Over
//     the limit, the layers contributing the most error are backed off (to a higher rank, or left
//     alone) and the model is checked again; well under it (errors of different layers partly
//     cancel, so the sum overestimates), the budget grows and the selection is made again. The
//     best selection measured within the limit wins.

// rankLadder are the candidate ranks, as shares of the break-even rank: each step saves roughly
// the same share of the layer's MACs, finer near break-even where the errors are smallest.
var rankLadder = []float64{0.99, 0.97, 0.94, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05}

// ladderCutoff stops a layer's ladder once a rank's predicted model error passes this many times
// the limit: alone it would already fail the end-to-end check, and lower ranks only do worse.
const ladderCutoff = 2

// maxModelChecks bounds the end-to-end runs of the rewritten model.
const maxModelChecks = 8

// rankOption is one measured rank of a layer.
type rankOption struct {
	rank  int
	saved int64
	err   float64 // the layer's own relative output error
	cost  float64 // the predicted model error: the layer's gain x err
}

// layerCurve holds a layer's measured options, by increasing MACs saved (decreasing rank).
type layerCurve struct {
	site    *convSite
	options []rankOption
	gain    float64
	// firstModelError is the model's measured error with only this layer at its highest rank.
	firstModelError float64
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

func selectWithinMaxError(ctx *rewrite.Context, sites []*convSite, env *measureEnv, p rankPolicy) []rankChoice {
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
			ctx.Declined(c.site.node, "max error %g: not selected (the smallest step, rank %d, costs model error %.3g for %.1f%% of its MACs; the budget went to other layers)",
				p.maxError, first.rank, first.cost, 100*float64(first.saved)/float64(c.site.macsBefore()))
			continue
		}
		o := c.options[j]
		choices = append(choices, rankChoice{site: c.site, rank: o.rank, layerError: o.err, measured: true, modelError: bestErr})
	}
	return choices
}

// measureCurves measures each site's rank ladder and gain; sites that cannot take even the
// smallest step are declined.
func measureCurves(ctx *rewrite.Context, sites []*convSite, env *measureEnv, limit float64) []layerCurve {
	var curves []layerCurve
	for _, s := range sites {
		c, reason := measureCurve(s, env, limit)
		if reason != "" {
			ctx.Declined(s.node, "max error %g: %s", limit, reason)
			continue
		}
		curves = append(curves, c)
	}
	return curves
}

func measureCurve(s *convSite, env *measureEnv, limit float64) (layerCurve, string) {
	c := layerCurve{site: s}
	for i, r := range ladderRanks(s) {
		e, err := env.layerError(s, r)
		if err != nil {
			return c, fmt.Sprintf("cannot measure the layer: %v", err)
		}
		if i == 0 {
			modelErr, err := env.modelError([]rankChoice{{site: s, rank: r}})
			if err != nil {
				return c, fmt.Sprintf("cannot run the model with the layer factorised: %v", err)
			}
			if modelErr > limit {
				return c, fmt.Sprintf("even the smallest step, rank %d of %d (break-even %d), changes the model's output by %.3g (the layer's by %.3g)",
					r, s.fullRank(), s.breakEven, modelErr, e)
			}
			c.gain, c.firstModelError = modelErr/max(e, 1e-12), modelErr
		}
		if i > 0 && c.gain*e > ladderCutoff*limit {
			break
		}
		c.options = append(c.options, rankOption{rank: r, saved: s.macsBefore() - s.macsAt(r), err: e, cost: c.gain * e})
	}
	return c, ""
}

// ladderRanks are a site's candidate ranks, highest first, without repeats: shares of the
// break-even rank, and the numerical rank when it saves MACs (an exactly low-rank layer is free).
func ladderRanks(s *convSite) []int {
	ranks := map[int]bool{}
	for _, share := range rankLadder {
		ranks[max(1, int(share*float64(s.breakEven)))] = true
	}
	if r := lowrank.NumericalRank(s.values, s.cout*s.taps, s.cin); r >= 1 && r <= s.breakEven {
		ranks[r] = true
	}
	var out []int
	for r := range ranks {
		out = append(out, r)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(out)))
	return out
}

// searchSelection alternates greedy allocation and end-to-end checks (see the top of the file).
// It returns the best selection measured within the limit (nil if none) and its measured error.
func searchSelection(ctx *rewrite.Context, curves []layerCurve, env *measureEnv, limit float64) (selection, float64) {
	best, bestErr := bestSingleLayer(curves)
	bestSaved := savedMACs(curves, best)
	tried := map[string]bool{}
	// Budgets known to give a selection within the limit (passing) and over it (failing).
	budget, passing, failing := limit, 0.0, math.Inf(1)
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
			if measured >= 0.85*limit {
				break
			}
			passing = max(passing, budget)
			budget = nextBudget(passing, failing, budget*min(2, 0.95*limit/max(measured, 1e-12)))
			sel = greedySelection(curves, budget)
			continue
		}
		// The gains were measured at each layer's highest rank and underestimate deeper cuts: charge
		// the chosen steps what they really cost, then back off the largest contributors.
		failing = min(failing, budget)
		recalibrate(curves, sel, measured/predicted)
		sel = backOff(curves, sel, 0.9*limit)
		if sel == nil || tried[sel.key()] {
			budget = nextBudget(passing, failing, budget)
			sel = greedySelection(curves, budget)
		}
	}
	return best, bestErr
}

// nextBudget is want, kept strictly between the largest passing and the smallest failing budget
// (their midpoint when want is outside).
func nextBudget(passing, failing, want float64) float64 {
	if math.IsInf(failing, 1) || (want > passing && want < failing) {
		return want
	}
	return (passing + failing) / 2
}

// bestSingleLayer is the layer whose highest rank saves the most MACs: measuring its gain already
// checked it within the limit on its own.
func bestSingleLayer(curves []layerCurve) (selection, float64) {
	sel := make(selection, len(curves))
	bestLayer := -1
	for i, c := range curves {
		sel[i] = -1
		if bestLayer < 0 || c.options[0].saved > curves[bestLayer].options[0].saved {
			bestLayer = i
		}
	}
	sel[bestLayer] = 0
	return sel, curves[bestLayer].firstModelError
}

// recalibrate corrects the predicted costs of a selection measured at factor times its
// prediction (when above 1). Each selected step is charged factor times its cost, deeper steps of
// the same layer likewise, and the steps between the layer's first (whose cost was measured) and
// the selected one by a share growing linearly towards factor: a layer's gain is rarely constant
// over its ranks, and errors grow faster than linearly once a cut reaches large singular values.
func recalibrate(curves []layerCurve, sel selection, factor float64) {
	if factor <= 1 {
		return
	}
	for i, j := range sel {
		if j < 0 {
			continue
		}
		for k := range curves[i].options {
			scale := factor
			if k < j {
				scale = 1 + (factor-1)*float64(k)/float64(j)
			}
			curves[i].options[k].cost *= scale
		}
	}
}

// greedySelection spends a budget of summed predicted model errors on the steps with the most MACs
// saved per unit of error. A step may jump several options of a layer, so a ladder whose errors do not grow
// smoothly is still used well. Nil when nothing fits.
func greedySelection(curves []layerCurve, budget float64) selection {
	sel := make(selection, len(curves))
	for i := range sel {
		sel[i] = -1
	}
	spent := 0.0
	chosen := false
	for {
		bestLayer, bestOption, bestRatio := -1, -1, -1.0
		for i, c := range curves {
			curSaved, curCost := optionAt(c, sel[i])
			for j := sel[i] + 1; j < len(c.options); j++ {
				o := c.options[j]
				dErr := o.cost - curCost
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
		_, curCost := optionAt(curves[bestLayer], sel[bestLayer])
		spent += curves[bestLayer].options[bestOption].cost - curCost
		sel[bestLayer] = bestOption
		chosen = true
	}
	if !chosen {
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
			if j >= 0 && (worst < 0 || curves[i].options[j].cost > curves[worst].options[out[worst]].cost) {
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

func optionAt(c layerCurve, j int) (saved int64, cost float64) {
	if j < 0 {
		return 0, 0
	}
	return c.options[j].saved, c.options[j].cost
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
